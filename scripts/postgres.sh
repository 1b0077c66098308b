#!/usr/bin/env bash
# A private PostgreSQL server for tests and benchmarks: Debian's postgresql (15), initdb into DIR,
# listening on 127.0.0.1:PORT only (its Unix socket in DIR too), password (scram-sha-256) login for
# the superuser "signer", and a database "signer". PostgreSQL refuses to run as root, so when
# called as root it runs as the Debian "postgres" user, who gets DIR.
#
# Usage: scripts/postgres.sh start PORT DIR    prints the store URL (with the password) on stdout
#        scripts/postgres.sh stop PORT DIR
#        scripts/postgres.sh restart PORT DIR  stop (fast) and start again, same data
#        scripts/postgres.sh kill PORT DIR     SIGKILL the postmaster (crash; the next start recovers)
#        scripts/postgres.sh url PORT DIR      prints the store URL again
#        scripts/postgres.sh standby PORT DIR PRIMARY_PORT PRIMARY_DIR
#            a hot standby of the server in PRIMARY_DIR: pg_basebackup of it into DIR, started on
#            PORT, streaming from it, and made its synchronous standby (synchronous_standby_names
#            on the primary), so a commit returns only once the standby has it. Prints the
#            multi-host URL of the pair (with the password) that only connects to the primary.
#        scripts/postgres.sh promote PORT DIR  turns the standby in DIR into a primary
# The password is in DIR/password (mode 0600); the server log in DIR/server.log.
set -euo pipefail

action="${1:?usage: postgres.sh start|stop|restart|kill|url|standby|promote PORT DIR}"
port="${2:?port}"
dir="${3:?dir}"

bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
  echo "postgres.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 1
fi

as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

url() { echo "postgresql://signer:$(cat "$dir/password")@127.0.0.1:$port/signer"; }

start() {
  mkdir -p "$dir"
  if [[ "$(id -u)" == 0 ]]; then chown postgres: "$dir"; fi
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    if [[ ! -f "$dir/password" ]]; then
      (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' 'xy' > "$dir/password")
      if [[ "$(id -u)" == 0 ]]; then chown postgres: "$dir/password"; fi
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U signer --pwfile="$dir/password" \
      --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null ||
    { tail -20 "$dir/server.log" >&2; exit 1; }
  if ! PGPASSWORD="$(cat "$dir/password")" "$bin/psql" -h 127.0.0.1 -p "$port" -U signer \
      -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'signer'" | grep -q 1; then
    PGPASSWORD="$(cat "$dir/password")" "$bin/psql" -h 127.0.0.1 -p "$port" -U signer \
      -d postgres -qc "CREATE DATABASE signer" >/dev/null
  fi
  url
}

stop() {
  [[ -f "$dir/data/postmaster.pid" ]] || return 0
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
}

psql_as_signer() {  # PORT SQL
  PGPASSWORD="$(cat "$dir/password")" "$bin/psql" -h 127.0.0.1 -p "$1" -U signer -d postgres \
    -v ON_ERROR_STOP=1 -tAc "$2"
}

standby() {
  local primary_port="${4:?primary port}" primary_dir="${5:?primary dir}"
  [[ -f "$primary_dir/password" ]] || { echo "postgres.sh: no primary in $primary_dir" >&2; exit 1; }
  mkdir -p "$dir"
  (umask 077 && cp "$primary_dir/password" "$dir/password")
  if [[ "$(id -u)" == 0 ]]; then chown postgres: "$dir" "$dir/password"; fi
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    # The superuser made by initdb may replicate; initdb's pg_hba.conf lets it from 127.0.0.1.
    as_owner env PGPASSWORD="$(cat "$dir/password")" "$bin/pg_basebackup" -h 127.0.0.1 \
      -p "$primary_port" -U signer -D "$dir/data" -X stream -c fast >"$dir/basebackup.log" 2>&1 ||
      { cat "$dir/basebackup.log" >&2; exit 1; }
    as_owner touch "$dir/data/standby.signal"
    printf "primary_conninfo = 'host=127.0.0.1 port=%s user=signer password=%s application_name=standby'\nhot_standby = on\n" \
      "$primary_port" "$(cat "$dir/password")" | as_owner tee -a "$dir/data/postgresql.auto.conf" >/dev/null
  fi
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null ||
    { tail -20 "$dir/server.log" >&2; exit 1; }
  psql_as_signer "$primary_port" "ALTER SYSTEM SET synchronous_standby_names = 'standby'" >/dev/null
  psql_as_signer "$primary_port" "SELECT pg_reload_conf()" >/dev/null
  local state=""
  for _ in $(seq 300); do
    state="$(psql_as_signer "$primary_port" \
      "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'")"
    [[ "$state" == sync ]] && break
    sleep 0.1
  done
  [[ "$state" == sync ]] ||
    { echo "postgres.sh: the standby on $port did not become synchronous ($state)" >&2; exit 1; }
  echo "postgresql://signer:$(cat "$dir/password")@127.0.0.1:$primary_port,127.0.0.1:$port/signer?target_session_attrs=read-write"
}

case "$action" in
  start) start ;;
  standby) standby "$@" ;;
  promote) as_owner "$bin/pg_ctl" -D "$dir/data" -w -t 60 promote >/dev/null ;;
  stop) stop ;;
  restart) stop; start >/dev/null ;;
  kill)
    # The postmaster and every backend it forked, at once, as a machine crash would. The
    # postmaster is stopped first, so that it cannot fork a backend between the listing of its
    # children and the kill: that backend would outlive the crash, keep its client's connection
    # open and answer nothing (a pod once waited out its 35 s statement timeout on one).
    pid="$(head -1 "$dir/data/postmaster.pid")"
    kill -STOP "$pid" 2>/dev/null || true
    for _ in $(seq 500); do  # until it has stopped (state T): a fork under way has finished
      state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
      [[ "$state" == T || -z "$state" ]] && break
      sleep 0.01
    done
    pids=("$pid" $(pgrep -P "$pid" || true))
    # What a crash of the machine takes with it, and a killed server leaves behind: its System V
    # segment (postmaster.pid's seventh line: key, id) and the POSIX segments its processes map
    # (/dev/shm/PostgreSQL.*). A server never started again on this data (a failed-over primary,
    # a test's deleted directory) would leave them for good; a start on the same data finds them
    # gone and needs nothing of them.
    segments="$(for p in "${pids[@]}"; do cat "/proc/$p/maps" 2>/dev/null || true; done |
      grep -o '/dev/shm/PostgreSQL\.[0-9]*' | sort -u || true)"
    shmid="$(sed -n 7p "$dir/data/postmaster.pid" | awk '{print $2}')"
    kill -9 "${pids[@]}" 2>/dev/null || true
    for p in "${pids[@]}"; do  # until every process is gone and has let go of the segments
      for _ in $(seq 100); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
      done
    done
    if [[ -n "$segments" ]]; then rm -f $segments; fi
    if [[ "$shmid" =~ ^[0-9]+$ ]]; then ipcrm -m "$shmid" 2>/dev/null || true; fi
    ;;
  url) url ;;
  *) echo "postgres.sh: unknown action $action" >&2; exit 2 ;;
esac
