#!/usr/bin/env bash
# A local emulation of the Kubernetes deployment: a shared store (FerretDB as MongoDB, or
# PostgreSQL), N `signer serve` pods on 127.0.0.1, and nginx as the Service, a round-robin load
# balancer whose URL every pod gets as BS_MSG_SIGNER_URL (so a job's batches are spread over all
# pods, as in cluster mode on k8s).
#
# Usage: scripts/cluster.sh up [N] | down | status
#   up N     starts the store (FerretDB or PostgreSQL, unless an external one is given), N pods
#            (default 3) and nginx, waits until every pod's /readyz and the load balancer answer
#            200, then prints LB_URL=, STORE_URL= and MONGO_URL= (FerretDB/MongoDB) or PG_URL= and
#            PG_PASSWORD_FILE= (PostgreSQL). No URL printed or passed to a pod carries a password.
#            If the cluster is already up it says so and does nothing. If start-up fails,
#            whatever it started is stopped again.
#   down     stops only what `up` started, by the pids recorded in CLUSTER_DIR/pids (SIGTERM,
#            then SIGKILL after CLUSTER_STOP_TIMEOUT s): the pods and nginx (SIGQUIT, its
#            graceful stop) together, then the store it started (scripts/ferretdb.sh stop, or
#            scripts/postgres.sh stop: a fast shutdown). Keys, logs and data stay.
#   status   prints each component with its pid and URL; exit 0 when all run, 3 when none
#            runs, 1 when only some do.
# Environment:
#   CLUSTER_DIR           state dir (default .tools/run/cluster): cluster.env, token, keys/,
#                         pids/, pod-I.log, nginx/ (config, logs, temp dirs), ferretdb/ (data),
#                         postgres/ (PostgreSQL's dir, or a symlink to it: see CLUSTER_PG_DIR)
#   CLUSTER_STORE         ferretdb (default) or postgres: the store the pods share
#   CLUSTER_MONGO_PORT    FerretDB port on 127.0.0.1 (default 27317)
#   CLUSTER_MONGO_URL     use this MongoDB instead of starting FerretDB (BS_MONGO_USER and
#                         BS_MONGO_PWD are passed through to the pods when set)
#   CLUSTER_PG_PORT       PostgreSQL port on 127.0.0.1 (default 15432), started by
#                         scripts/postgres.sh (initdb on first use; user and database `signer`)
#   CLUSTER_PG_DIR        PostgreSQL's dir: data/, password (mode 0600), server.log, and the
#                         postmaster's pid in data/postmaster.pid (default CLUSTER_DIR/postgres;
#                         as root, where the server runs as the `postgres` user, who cannot
#                         enter the private CLUSTER_DIR, a /tmp/signer-cluster-pg.* dir that
#                         CLUSTER_DIR/postgres links to, kept for the next `up`)
#   CLUSTER_PG_URL        use this PostgreSQL instead of starting one (implies
#                         CLUSTER_STORE=postgres). A password in it is moved into
#                         CLUSTER_DIR/pg-password (mode 0600), as is BS_PG_PASSWORD; a given
#                         BS_PG_PASSWORD_FILE is passed on as it is
#   CLUSTER_BASE_PORT     pod I listens on CLUSTER_BASE_PORT+I (default 18100)
#   CLUSTER_LB_PORT       nginx port on 127.0.0.1 (default 18090)
#   CLUSTER_KEYS_DIR      directory holding keys.csv to use (default: CLUSTER_DIR/keys, generated
#                         once by `signer keygen`, mode 0600)
#   CLUSTER_KEY_COUNT     keys to generate (default 4)
#   CLUSTER_KEY_SOURCE    csv (default: keys.csv as above) or softhsm: the keys are made on a
#                         SoftHSM2 token in CLUSTER_DIR/hsm (scripts/softhsm.sh, once per state
#                         dir) and never leave it; every pod signs through PKCS#11, given
#                         CLUSTER_DIR/keys.yaml (BS_KEY_CONFIG) and SOFTHSM2_CONF pointing at a
#                         copy of the token files of its own (hsm-pod-I). The PIN is in
#                         CLUSTER_DIR/hsm-pin (0600), read by the pods as a file.
#   CLUSTER_INTERNAL_TOKEN  the BS_INTERNAL_TOKEN for /batch (default: random, kept in
#                         CLUSTER_DIR/token, mode 0600)
#   CLUSTER_SIGNER_ARGS   extra `signer serve` arguments for every pod (word-split)
#   CLUSTER_LB_NEXT_UPSTREAM  nginx proxy_next_upstream for /batch (default "error timeout
#                         http_502"; "off" behaves like a plain k8s Service, leaving every retry
#                         to the coordinator)
#   CLUSTER_LB_MAX_FAILS, CLUSTER_LB_FAIL_TIMEOUT  nginx passive health check per pod (default
#                         0 = never take a pod out, and 10 s)
#   CLUSTER_TOXIPROXY     1: put Toxiproxy (.tools/bin/toxiproxy-server, scripts/install-tools.sh)
#                         between the pods and the rest, as the network they cross: proxy
#                         store-pod-I between pod I and the store it starts (FerretDB or
#                         PostgreSQL), so one pod can be cut off alone, and proxy "service"
#                         between every pod and nginx (their BS_MSG_SIGNER_URL). `up` then also
#                         prints TOXIPROXY_URL=, the API that adds and removes faults
#   CLUSTER_TOXIPROXY_PORT      its API port on 127.0.0.1 (default 18474)
#   CLUSTER_TOXIPROXY_BASE_PORT the proxies listen on BASE+I (store-pod-I) and BASE+N (service)
#                         (default 18200)
#   CLUSTER_READY_TIMEOUT seconds to wait for readiness (default 30)
#   CLUSTER_STOP_TIMEOUT  seconds between SIGTERM and SIGKILL on `down` (default 30; a pod
#                         finishes its current chunk within its 25 s grace period)
#   SIGNER_BIN            the binary (default build/release/signer); NGINX_BIN (default nginx)
# The PostgreSQL password reaches the pods only as BS_PG_PASSWORD_FILE, a path: it is never in a
# URL, on a command line (ps), in cluster.env or in the output.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CMD="${1:-}"
DIR="${CLUSTER_DIR:-$REPO/.tools/run/cluster}"
MONGO_PORT="${CLUSTER_MONGO_PORT:-27317}"
BASE_PORT="${CLUSTER_BASE_PORT:-18100}"
LB_PORT="${CLUSTER_LB_PORT:-18090}"
EXT_MONGO_URL="${CLUSTER_MONGO_URL:-}"
EXT_PG_URL="${CLUSTER_PG_URL:-}"
PG_PORT="${CLUSTER_PG_PORT:-15432}"
STORE="${CLUSTER_STORE:-}"
if [[ -z "$STORE" ]]; then
  if [[ -n "$EXT_PG_URL" ]]; then STORE=postgres; else STORE=ferretdb; fi
fi
KEY_COUNT="${CLUSTER_KEY_COUNT:-4}"
READY_TIMEOUT="${CLUSTER_READY_TIMEOUT:-30}"
STOP_TIMEOUT="${CLUSTER_STOP_TIMEOUT:-30}"
NEXT_UPSTREAM="${CLUSTER_LB_NEXT_UPSTREAM:-error timeout http_502}"
MAX_FAILS="${CLUSTER_LB_MAX_FAILS:-0}"
FAIL_TIMEOUT="${CLUSTER_LB_FAIL_TIMEOUT:-10}"
SIGNER_BIN="${SIGNER_BIN:-$REPO/build/release/signer}"
NGINX_BIN="${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}"
TOXIPROXY="${CLUSTER_TOXIPROXY:-0}"
TOXIPROXY_PORT="${CLUSTER_TOXIPROXY_PORT:-18474}"
TOXIPROXY_BASE_PORT="${CLUSTER_TOXIPROXY_BASE_PORT:-18200}"
TOXIPROXY_BIN="${TOXIPROXY_BIN:-$REPO/.tools/bin/toxiproxy-server}"

log() { printf '[cluster] %s\n' "$*"; }
die() {
  printf '[cluster] ERROR: %s\n' "$*" >&2
  exit 1
}
# The header comment above, up to `set -euo pipefail`.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)); }
port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# alive PIDFILE PATTERN: prints the recorded pid (the file's first line) when that process lives
# and its command line matches PATTERN (a guard against pid reuse).
alive() {
  local file="$1" pattern="$2" pid
  [[ -f "$file" ]] || return 1
  pid="$(head -n 1 "$file" 2> /dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2> /dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -qF -- "$pattern" || return 1
  echo "$pid"
}

http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2> /dev/null || true; }

# The layout of a cluster that is (or was) up: cluster.env, written by `up`.
load_state() {
  [[ -f "$DIR/cluster.env" ]] || return 1
  # shellcheck disable=SC1091
  source "$DIR/cluster.env"
}

pod_pidfile() { echo "$DIR/pids/pod-$1.pid"; }
NGINX_PIDFILE_REL="pids/nginx.pid"
TOXIPROXY_PIDFILE_REL="pids/toxiproxy.pid"

# toxiproxy_add NAME LISTEN_PORT UPSTREAM_PORT: a proxy on 127.0.0.1 through Toxiproxy's API.
toxiproxy_add() {
  local body
  body="$(printf '{"name":"%s","listen":"127.0.0.1:%s","upstream":"127.0.0.1:%s","enabled":true}' \
    "$1" "$2" "$3")"
  curl -sf -m 5 -X POST -H 'Content-Type: application/json' -d "$body" \
    "http://127.0.0.1:$TOXIPROXY_PORT/proxies" > /dev/null ||
    die "toxiproxy would not make proxy $1 (127.0.0.1:$2 -> 127.0.0.1:$3)"
}

# ---- the store ---------------------------------------------------------------------------------
# State of a cluster written before these settings existed: FerretDB or an external MongoDB.
store_defaults() {
  S_STORE="${S_STORE:-ferretdb}"
  S_STORE_URL="${S_STORE_URL:-${S_MONGO_URL:-}}"
  S_PG_LOCAL="${S_PG_LOCAL:-0}"
}

# PostgreSQL records its postmaster's pid as the first line of data/postmaster.pid; the
# command line names the data dir (a guard against pid reuse).
pg_alive() { alive "$S_PG_DIR/data/postmaster.pid" "$S_PG_DIR/data"; }

# choose_pg_dir: prints the directory scripts/postgres.sh keeps the server in. As root that
# script runs the server as the `postgres` user, who cannot enter the private (0700)
# CLUSTER_DIR: the server then lives in a /tmp dir of its own, and CLUSTER_DIR/postgres links to
# it, so the next `up` finds it again.
choose_pg_dir() {
  if [[ -n "${CLUSTER_PG_DIR:-}" ]]; then
    mkdir -p "$CLUSTER_PG_DIR"
    (cd "$CLUSTER_PG_DIR" && pwd)
  elif ((EUID != 0)); then
    echo "$DIR/postgres"
  elif [[ -L "$DIR/postgres" && -d "$DIR/postgres/" ]]; then
    readlink -f "$DIR/postgres"
  elif [[ -e "$DIR/postgres" && ! -L "$DIR/postgres" ]]; then
    die "$DIR/postgres is not a link the postgres user can follow; set CLUSTER_PG_DIR"
  else
    local tmp
    tmp="$(mktemp -d /tmp/signer-cluster-pg.XXXXXX)"
    ln -sfn "$tmp" "$DIR/postgres"
    echo "$tmp"
  fi
}

# url_password URL: the password in the URL's userinfo (percent-decoded, as libpq reads it), or
# nothing. url_without_password URL: the URL without it.
url_userinfo() {
  local rest="${1#*://}" authority
  authority="${rest%%[/?]*}"
  [[ "$authority" == *@* ]] && echo "${authority%@*}"
}
url_password() {
  local info pw
  info="$(url_userinfo "$1")" || return 0
  [[ "$info" == *:* ]] || return 0
  pw="${info#*:}"
  pw="${pw//\\/\\\\}"
  printf '%b' "${pw//%/\\x}"
}
url_without_password() {
  local info
  if ! info="$(url_userinfo "$1")" || [[ "$info" != *:* ]]; then
    echo "$1"
    return 0
  fi
  local scheme="${1%%://*}" rest="${1#*://}"
  echo "$scheme://${info%%:*}@${rest#*@}"
}

# ---- stopping ----------------------------------------------------------------------------------
# running PID: the process exists and is not a zombie waiting for its parent to reap it.
running() {
  local state
  state="$(awk '/^State:/ {print $2}' "/proc/$1/status" 2> /dev/null)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# await_exit TIMEOUT PID...: waits for processes that were asked to stop; SIGKILLs the ones
# still alive after TIMEOUT seconds.
await_exit() {
  local timeout="$1"
  shift
  (($# == 0)) && return 0
  local deadline=$((SECONDS + timeout)) pid left
  while :; do
    left=()
    for pid in "$@"; do running "$pid" && left+=("$pid"); done
    ((${#left[@]} == 0)) && return 0
    if ((SECONDS >= deadline)); then
      log "pids ${left[*]} still running ${timeout}s after the stop signal; sending SIGKILL"
      kill -KILL "${left[@]}" 2> /dev/null || true
      return 0
    fi
    sleep 0.1
  done
}

down() {
  if ! load_state; then
    log "no cluster state in $DIR; nothing to stop"
    return 0
  fi
  store_defaults
  # The pods get SIGTERM (each finishes its current chunk and reports its batch as
  # interrupted) and nginx at the same moment SIGQUIT, its graceful stop: it still relays the
  # answers in flight, and closes its idle keep-alive connections, which a pod would otherwise
  # wait on before it exits.
  local pid pids=() i
  for ((i = 0; i < S_PODS; i++)); do
    if pid="$(alive "$(pod_pidfile "$i")" "$S_SIGNER_BIN_STARTED")"; then pids+=("$pid"); fi
  done
  if ((${#pids[@]})); then
    log "stopping ${#pids[@]} pod(s) (pids ${pids[*]})"
    kill -TERM "${pids[@]}" 2> /dev/null || true
  fi
  if pid="$(alive "$DIR/$NGINX_PIDFILE_REL" nginx)"; then
    log "stopping nginx (pid $pid)"
    kill -QUIT "$pid" 2> /dev/null || true
    pids+=("$pid")
  fi
  await_exit "$STOP_TIMEOUT" "${pids[@]}"
  # Toxiproxy last: the pods' last answers and writes pass through it.
  if pid="$(alive "$DIR/$TOXIPROXY_PIDFILE_REL" toxiproxy-server)"; then
    log "stopping toxiproxy (pid $pid)"
    kill -TERM "$pid" 2> /dev/null || true
    await_exit "$STOP_TIMEOUT" "$pid"
  fi
  for ((i = 0; i < S_PODS; i++)); do rm -f "$(pod_pidfile "$i")"; done
  rm -f "$DIR/$NGINX_PIDFILE_REL" "$DIR/$TOXIPROXY_PIDFILE_REL"
  if [[ "$S_STORE" == ferretdb && "$S_FERRETDB" == 1 ]]; then
    bash "$REPO/scripts/ferretdb.sh" stop "$S_MONGO_PORT" "$DIR/ferretdb"
  elif [[ "$S_STORE" == postgres && "$S_PG_LOCAL" == 1 ]]; then
    if pid="$(pg_alive)"; then
      log "stopping postgres (pid $pid)"
      bash "$REPO/scripts/postgres.sh" stop "$S_PG_PORT" "$S_PG_DIR"
      # pg_ctl returns once the pid file is gone, a moment before the postmaster itself.
      await_exit "$STOP_TIMEOUT" "$pid"
    else
      log "postgres (in $S_PG_DIR) is not running"
    fi
  fi
  log "down"
}

# ---- status ------------------------------------------------------------------------------------
status() {
  if ! load_state; then
    log "not up (no state in $DIR)"
    return 3
  fi
  store_defaults
  local running=0 total=0 pid i port code
  if [[ "$S_STORE" == postgres ]]; then
    if [[ "$S_PG_LOCAL" == 1 ]]; then
      total=$((total + 1))
      if pid="$(pg_alive)"; then
        running=$((running + 1))
        printf '%-10s running  pid %-8s %s  (data %s)\n' postgres "$pid" "$S_STORE_URL" "$S_PG_DIR"
      else
        printf '%-10s stopped  %-12s %s  (data %s)\n' postgres "" "$S_STORE_URL" "$S_PG_DIR"
      fi
    else
      printf '%-10s external %-12s %s\n' postgres "" "$S_STORE_URL"
    fi
  elif [[ "$S_FERRETDB" == 1 ]]; then
    total=$((total + 1))
    if pid="$(alive "$DIR/ferretdb/ferretdb.pid" ferretdb)"; then
      running=$((running + 1))
      printf '%-10s running  pid %-8s %s\n' ferretdb "$pid" "$S_MONGO_URL"
    else
      printf '%-10s stopped  %-12s %s\n' ferretdb "" "$S_MONGO_URL"
    fi
  else
    printf '%-10s external %-12s %s\n' mongodb "" "$S_MONGO_URL"
  fi
  for ((i = 0; i < S_PODS; i++)); do
    total=$((total + 1))
    port=$((S_BASE_PORT + i))
    if pid="$(alive "$(pod_pidfile "$i")" "$S_SIGNER_BIN_STARTED")"; then
      running=$((running + 1))
      code="$(http_code "http://127.0.0.1:$port/readyz")"
      printf '%-10s running  pid %-8s http://127.0.0.1:%s  readyz %s  log %s\n' "pod-$i" "$pid" \
        "$port" "$code" "$DIR/pod-$i.log"
    else
      printf '%-10s stopped  %-12s http://127.0.0.1:%s  log %s\n' "pod-$i" "" "$port" \
        "$DIR/pod-$i.log"
    fi
  done
  total=$((total + 1))
  if pid="$(alive "$DIR/$NGINX_PIDFILE_REL" nginx)"; then
    running=$((running + 1))
    printf '%-10s running  pid %-8s %s  (the Service)\n' nginx "$pid" "$S_LB_URL"
  else
    printf '%-10s stopped  %-12s %s\n' nginx "" "$S_LB_URL"
  fi
  if [[ "${S_TOXIPROXY:-0}" == 1 ]]; then
    total=$((total + 1))
    if pid="$(alive "$DIR/$TOXIPROXY_PIDFILE_REL" toxiproxy-server)"; then
      running=$((running + 1))
      printf '%-10s running  pid %-8s %s  (faults API)\n' toxiproxy "$pid" "$S_TOXIPROXY_URL"
    else
      printf '%-10s stopped  %-12s %s\n' toxiproxy "" "$S_TOXIPROXY_URL"
    fi
  fi
  printf 'keys       %s\nstate      %s\n' "$S_KEYS_FILE" "$DIR"
  ((running == total)) && return 0
  ((running == 0)) && return 3
  return 1
}

# ---- starting ----------------------------------------------------------------------------------
write_nginx_conf() {
  local n="$1" conf="$DIR/nginx/nginx.conf" i user_line=""
  mkdir -p "$DIR/nginx/logs" "$DIR/nginx/tmp"
  # As root, nginx would run its workers as `nobody`, who cannot reach the temp dirs in a
  # private state dir. Run them as the invoking user instead (a local test tool).
  if ((EUID == 0)); then user_line="user $(id -un) $(id -gn);"; fi
  {
    cat << EOF
# Generated by scripts/cluster.sh up $n; replaced on every \`up\`.
$user_line
worker_processes 1;
pid $DIR/$NGINX_PIDFILE_REL;
error_log $DIR/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  log_format upstream '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent '
                      'upstream=\$upstream_addr upstream_status=\$upstream_status '
                      'rt=\$request_time urt=\$upstream_response_time';
  access_log $DIR/nginx/logs/access.log upstream;
  client_body_temp_path $DIR/nginx/tmp/client_body;
  proxy_temp_path $DIR/nginx/tmp/proxy;
  fastcgi_temp_path $DIR/nginx/tmp/fastcgi;
  uwsgi_temp_path $DIR/nginx/tmp/uwsgi;
  scgi_temp_path $DIR/nginx/tmp/scgi;
  client_max_body_size 64m;

  # The k8s Service: round robin over the pods. With max_fails=0 (the default) every pod stays
  # in rotation: a dead pod costs one refused connection, after which proxy_next_upstream moves
  # on. max_fails=1 instead takes a failed pod out for fail_timeout, like endpoint removal.
  upstream signer_pods {
EOF
    for ((i = 0; i < n; i++)); do
      printf '    server 127.0.0.1:%s max_fails=%s fail_timeout=%ss;\n' "$((BASE_PORT + i))" \
        "$MAX_FAILS" "$FAIL_TIMEOUT"
    done
    cat << EOF
    keepalive 64;
    keepalive_timeout 20s;
  }
  server {
    listen 127.0.0.1:$LB_PORT;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$host;
    proxy_set_header X-Forwarded-For \$remote_addr;
    proxy_connect_timeout 3s;
    proxy_send_timeout 60s;
    proxy_read_timeout 620s;
    proxy_buffering off;
    proxy_request_buffering off;
    proxy_next_upstream error timeout http_502;
    proxy_next_upstream_tries 2;

    # Batches are idempotent (a record moves once; a duplicate counts as already signed), so
    # nginx may hand a batch to another pod when one does not answer at all (dead, refusing,
    # reset: error/timeout/502). A pod's own 5xx answer (503: busy, or the shared store is down)
    # goes back to the coordinator, whose retry with backoff stays the main mechanism: trying
    # every pod against a store that is down would only multiply the wait. The read timeout is
    # above the coordinator's 600 s batch timeout.
    location /batch/ {
      proxy_pass http://signer_pods;
      proxy_next_upstream $NEXT_UPSTREAM;
      proxy_next_upstream_tries $n;
    }
    location / {
      proxy_pass http://signer_pods;
    }

    # nginx's own errors (no pod answered) as JSON like the pods' errors, so the coordinator's
    # "peer answered 502: ..." names the cause. A pod's own error answers pass through as they are.
    error_page 502 @no_pod;
    error_page 504 @pod_timeout;
    location @no_pod {
      default_type application/json;
      return 502 '{"error":"load balancer: no pod answered (tried \$upstream_addr)"}';
    }
    location @pod_timeout {
      default_type application/json;
      return 504 '{"error":"load balancer: pod timed out (\$upstream_addr)"}';
    }
  }
}
EOF
  } > "$conf"
}

wait_ready() {
  local n="$1" deadline=$((SECONDS + READY_TIMEOUT)) i pending pid
  while :; do
    pending=()
    for ((i = 0; i < n; i++)); do
      if ! pid="$(alive "$(pod_pidfile "$i")" "$SIGNER_BIN")"; then
        tail -n 20 "$DIR/pod-$i.log" >&2 || true
        die "pod-$i exited during start-up; log: $DIR/pod-$i.log"
      fi
      [[ "$(http_code "http://127.0.0.1:$((BASE_PORT + i))/readyz")" == 200 ]] || pending+=("pod-$i")
    done
    # nginx was started a moment ago, by this script: until its child has exec'd it, the pid's
    # command line is still this script's, which `alive` would take for a process that is gone.
    # Here the pid is known to be ours, so being alive is enough.
    if ! kill -0 "$(head -n 1 "$DIR/$NGINX_PIDFILE_REL")" 2> /dev/null; then
      tail -n 20 "$DIR/nginx/logs/error.log" "$DIR/nginx/nginx.out" >&2 || true
      die "nginx exited during start-up; logs in $DIR/nginx"
    fi
    [[ "$(http_code "http://127.0.0.1:$LB_PORT/readyz")" == 200 ]] || pending+=("nginx")
    ((${#pending[@]} == 0)) && return 0
    if ((SECONDS >= deadline)); then
      for ((i = 0; i < n; i++)); do
        printf -- '--- pod-%s: readyz %s; log tail:\n' "$i" \
          "$(curl -s -m 2 "http://127.0.0.1:$((BASE_PORT + i))/readyz" || true)" >&2
        tail -n 5 "$DIR/pod-$i.log" >&2 || true
      done
      die "not ready within ${READY_TIMEOUT}s: ${pending[*]}"
    fi
    sleep 0.2
  done
}

up() {
  local n="${1:-3}"
  [[ "$n" =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 64)) || die "bad pod count: $n (1..64)"
  is_port "$MONGO_PORT" && is_port "$PG_PORT" && is_port "$BASE_PORT" && is_port "$LB_PORT" &&
    is_port "$((BASE_PORT + n - 1))" ||
    die "bad port settings: mongo $MONGO_PORT, postgres $PG_PORT, pods $BASE_PORT.., lb $LB_PORT"
  case "$STORE" in
    ferretdb)
      [[ -z "$EXT_PG_URL" ]] || die "CLUSTER_PG_URL is set, but CLUSTER_STORE=ferretdb"
      ;;
    postgres)
      [[ -z "$EXT_MONGO_URL" ]] || die "CLUSTER_MONGO_URL is set, but CLUSTER_STORE=postgres"
      ;;
    *) die "bad CLUSTER_STORE: $STORE (ferretdb or postgres)" ;;
  esac
  if [[ -n "$EXT_PG_URL" ]]; then
    [[ "$EXT_PG_URL" =~ ^postgres(ql)?:// ]] || die "CLUSTER_PG_URL must start with postgresql://"
    [[ "$EXT_PG_URL" != *password=* ]] ||
      die "CLUSTER_PG_URL: give the password as user:password@ or BS_PG_PASSWORD_FILE," \
        "not as ?password="
  fi
  [[ -x "$SIGNER_BIN" ]] || die "signer binary not found at $SIGNER_BIN (scripts/build.sh release)"
  [[ -x "$NGINX_BIN" ]] || die "nginx not found ($NGINX_BIN); install the Debian package nginx-light"
  if [[ "$TOXIPROXY" == 1 ]]; then
    [[ -x "$TOXIPROXY_BIN" ]] ||
      die "toxiproxy-server not found ($TOXIPROXY_BIN); run scripts/install-tools.sh toxiproxy"
    is_port "$TOXIPROXY_PORT" && is_port "$TOXIPROXY_BASE_PORT" &&
      is_port "$((TOXIPROXY_BASE_PORT + n))" || die "bad toxiproxy ports"
    [[ "$STORE" == ferretdb && -z "$EXT_MONGO_URL" || "$STORE" == postgres && -z "$EXT_PG_URL" ]] ||
      die "CLUSTER_TOXIPROXY=1 proxies a store this script starts, not an external one"
  fi
  command -v curl > /dev/null || die "curl is needed"

  if load_state; then
    local st=0
    status > /dev/null || st=$?
    if ((st == 0)); then
      if ((S_PODS != n)); then
        die "already up with $S_PODS pods (asked for $n); run \`$0 down\` first"
      fi
      store_defaults
      log "already up: $S_PODS pods, load balancer $S_LB_URL, store $S_STORE_URL"
      return 0
    elif ((st == 1)); then
      status >&2 || true
      die "partly up (see above); run \`$0 down\` first"
    fi
  fi

  mkdir -p "$DIR/pids"
  DIR="$(cd "$DIR" && pwd)"
  chmod 700 "$DIR"
  local i port
  for ((i = 0; i < n; i++)); do
    port=$((BASE_PORT + i))
    port_open "$port" && die "127.0.0.1:$port (pod-$i) is already in use"
  done
  port_open "$LB_PORT" && die "127.0.0.1:$LB_PORT (load balancer) is already in use"
  if [[ "$STORE" == postgres && -z "$EXT_PG_URL" ]]; then
    port_open "$PG_PORT" && die "127.0.0.1:$PG_PORT (postgres) is already in use"
  fi

  # Keys: generated once per state dir unless given.
  local keys_dir key_env=()
  if [[ "${CLUSTER_KEY_SOURCE:-csv}" == softhsm ]]; then
    if [[ ! -f "$DIR/keys.yaml" ]]; then
      (umask 077 && head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/hsm-pin")
      local labels=() module
      for ((k = 0; k < KEY_COUNT; k++)); do labels+=("key-$k"); done
      "$REPO/scripts/softhsm.sh" init "$DIR/hsm" cluster "$DIR/hsm-pin" "${labels[@]}" > /dev/null ||
        die "scripts/softhsm.sh could not make the token"
      module="$("$REPO/scripts/softhsm.sh" module)"
      {
        echo "keys:"
        for label in "${labels[@]}"; do
          printf '  - {source: pkcs11, module: %s, token: cluster, key_label: %s, pin_file: %s}\n' \
            "$module" "$label" "$DIR/hsm-pin"
        done
      } > "$DIR/keys.yaml"
      log "made $KEY_COUNT secp256k1 keys on SoftHSM2 token 'cluster' in $DIR/hsm"
    fi
    key_env=(BS_KEY_CONFIG="$DIR/keys.yaml")
  elif [[ "${CLUSTER_KEY_SOURCE:-csv}" != csv ]]; then
    die "bad CLUSTER_KEY_SOURCE: ${CLUSTER_KEY_SOURCE} (csv or softhsm)"
  fi
  if [[ -n "${CLUSTER_KEYS_DIR:-}" ]]; then
    keys_dir="$(cd "$CLUSTER_KEYS_DIR" && pwd)"
    [[ -f "$keys_dir/keys.csv" ]] || die "no keys.csv in CLUSTER_KEYS_DIR=$CLUSTER_KEYS_DIR"
  else
    keys_dir="$DIR/keys"
    if [[ ! -f "$keys_dir/keys.csv" ]]; then
      "$SIGNER_BIN" keygen --count "$KEY_COUNT" --out "$keys_dir" > /dev/null
      log "generated $KEY_COUNT keys in $keys_dir/keys.csv"
    fi
    chmod 700 "$keys_dir"
    chmod 600 "$keys_dir/keys.csv"
  fi

  # The shared secret for /batch.
  local token="${CLUSTER_INTERNAL_TOKEN:-}"
  if [[ -z "$token" ]]; then
    if [[ ! -s "$DIR/token" ]]; then
      (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/token")
    fi
    token="$(cat "$DIR/token")"
  else
    (umask 077 && printf '%s\n' "$token" > "$DIR/token")
  fi
  chmod 600 "$DIR/token"

  # The store: its URL for the pods (never with a password), and how they get the password.
  local mongo_url="" ferretdb=0 store_url pg_local=0 pg_dir="" pg_password_file=""
  if [[ "$STORE" == ferretdb ]]; then
    if [[ -n "$EXT_MONGO_URL" ]]; then
      mongo_url="$EXT_MONGO_URL"
    else
      ferretdb=1
      mongo_url="mongodb://127.0.0.1:$MONGO_PORT/"
    fi
    store_url="$(url_without_password "$mongo_url")"
  elif [[ -z "$EXT_PG_URL" ]]; then
    pg_local=1
    pg_dir="$(choose_pg_dir)"
    store_url="postgresql://signer@127.0.0.1:$PG_PORT/signer"
    pg_password_file="$pg_dir/password"  # written by scripts/postgres.sh at initdb
  else
    store_url="$(url_without_password "$EXT_PG_URL")"
    local pw
    pw="$(url_password "$EXT_PG_URL")"
    [[ -n "$pw" ]] || pw="${BS_PG_PASSWORD:-}"
    if [[ -n "$pw" ]]; then
      pg_password_file="$DIR/pg-password"
      (umask 077 && printf '%s\n' "$pw" > "$pg_password_file")
    elif [[ -n "${BS_PG_PASSWORD_FILE:-}" ]]; then
      pg_password_file="$(cd "$(dirname "$BS_PG_PASSWORD_FILE")" && pwd)"
      pg_password_file+="/$(basename "$BS_PG_PASSWORD_FILE")"
      [[ -r "$pg_password_file" ]] || die "BS_PG_PASSWORD_FILE=$BS_PG_PASSWORD_FILE is not readable"
    fi
  fi
  local lb_url="http://127.0.0.1:$LB_PORT"

  # Written before anything starts, so `down` can clean up after a failed `up`.
  (
    umask 077
    printf '%s=%q\n' S_PODS "$n" S_BASE_PORT "$BASE_PORT" S_LB_PORT "$LB_PORT" S_LB_URL "$lb_url" \
      S_STORE "$STORE" S_STORE_URL "$store_url" \
      S_MONGO_PORT "$MONGO_PORT" S_MONGO_URL "${mongo_url:+$store_url}" S_FERRETDB "$ferretdb" \
      S_PG_LOCAL "$pg_local" S_PG_PORT "$PG_PORT" S_PG_DIR "$pg_dir" \
      S_PG_PASSWORD_FILE "$pg_password_file" \
      S_KEYS_FILE "$keys_dir/keys.csv" S_SIGNER_BIN_STARTED "$SIGNER_BIN" \
      S_TOXIPROXY "$TOXIPROXY" S_TOXIPROXY_URL "http://127.0.0.1:$TOXIPROXY_PORT" > "$DIR/cluster.env"
  )
  trap 'st=$?; if ((st != 0)); then log "start-up failed; stopping what was started"; down >&2 || true; fi' EXIT

  if ((ferretdb)); then
    bash "$REPO/scripts/ferretdb.sh" start "$MONGO_PORT" "$DIR/ferretdb"
  elif ((pg_local)); then
    # It prints the URL with the password: not for our output.
    bash "$REPO/scripts/postgres.sh" start "$PG_PORT" "$pg_dir" > /dev/null
    log "postgres on 127.0.0.1:$PG_PORT, pid $(head -n 1 "$pg_dir/data/postmaster.pid"), dir $pg_dir"
  fi

  # Toxiproxy: one proxy per pod in front of the store, one in front of the Service.
  local store_port="$MONGO_PORT"
  [[ "$STORE" == postgres ]] && store_port="$PG_PORT"
  if [[ "$TOXIPROXY" == 1 ]]; then
    port_open "$TOXIPROXY_PORT" && die "127.0.0.1:$TOXIPROXY_PORT (toxiproxy) is already in use"
    nohup "$TOXIPROXY_BIN" -host 127.0.0.1 -port "$TOXIPROXY_PORT" < /dev/null \
      >> "$DIR/toxiproxy.log" 2>&1 &
    echo $! > "$DIR/$TOXIPROXY_PIDFILE_REL"
    local waited
    for ((waited = 0; waited < 100; waited++)); do
      [[ "$(http_code "http://127.0.0.1:$TOXIPROXY_PORT/version")" == 200 ]] && break
      sleep 0.1
    done
    [[ "$(http_code "http://127.0.0.1:$TOXIPROXY_PORT/version")" == 200 ]] ||
      die "toxiproxy did not answer on 127.0.0.1:$TOXIPROXY_PORT; log: $DIR/toxiproxy.log"
    for ((i = 0; i < n; i++)); do
      toxiproxy_add "store-pod-$i" "$((TOXIPROXY_BASE_PORT + i))" "$store_port"
    done
    toxiproxy_add service "$((TOXIPROXY_BASE_PORT + n))" "$LB_PORT"
    log "toxiproxy on 127.0.0.1:$TOXIPROXY_PORT: store-pod-I on :$TOXIPROXY_BASE_PORT+I," \
      "service on :$((TOXIPROXY_BASE_PORT + n))"
  fi

  # What tells each pod where the store is, and nothing else: BS_STORE would override
  # BS_MONGO_URL, and BS_PG_PASSWORD together with BS_PG_PASSWORD_FILE is refused.
  local store_env=(-u BS_STORE -u BS_MONGO_URL -u BS_PG_PASSWORD -u BS_PG_PASSWORD_FILE)
  if [[ "$STORE" == ferretdb ]]; then
    store_env+=(BS_MONGO_URL="$mongo_url")
  else
    store_env+=(-u BS_MONGO_USER -u BS_MONGO_PWD BS_STORE="$store_url")
    [[ -z "$pg_password_file" ]] || store_env+=(BS_PG_PASSWORD_FILE="$pg_password_file")
  fi

  local extra=()
  # shellcheck disable=SC2206
  [[ -n "${CLUSTER_SIGNER_ARGS:-}" ]] && extra=(${CLUSTER_SIGNER_ARGS})
  for ((i = 0; i < n; i++)); do
    port=$((BASE_PORT + i))
    # nohup execs in place, so $! is the signer's own pid.
    # Each pod gets its own copy of the token files (same keys), as each pod of a real cluster
    # has its own HSM client: SoftHSM2's file store takes per-file locks, and three processes
    # loading one token dir at once can find the token locked and list no token at all.
    local pod_env=("${key_env[@]}")
    if [[ "${CLUSTER_KEY_SOURCE:-csv}" == softhsm ]]; then
      if [[ ! -d "$DIR/hsm-pod-$i" ]]; then
        mkdir -p "$DIR/hsm-pod-$i"
        cp -a "$DIR/hsm/tokens" "$DIR/hsm-pod-$i/tokens"
        sed "s|^directories.tokendir = .*|directories.tokendir = $DIR/hsm-pod-$i/tokens|" \
          "$DIR/hsm/softhsm2.conf" > "$DIR/hsm-pod-$i/softhsm2.conf"
      fi
      pod_env+=(SOFTHSM2_CONF="$DIR/hsm-pod-$i/softhsm2.conf")
    fi
    # Through Toxiproxy, pod I reaches the store on its own proxy and the Service on the shared one.
    local pod_store_env=() service_url="$lb_url"
    if [[ "$TOXIPROXY" == 1 ]]; then
      local proxied="127.0.0.1:$((TOXIPROXY_BASE_PORT + i))"
      if [[ "$STORE" == ferretdb ]]; then
        pod_store_env=(BS_MONGO_URL="mongodb://$proxied/")
      else
        pod_store_env=(BS_STORE="postgresql://signer@$proxied/signer")
      fi
      service_url="http://127.0.0.1:$((TOXIPROXY_BASE_PORT + n))"
    fi
    env "${store_env[@]}" "${pod_store_env[@]}" "${pod_env[@]}" BS_KEYS_DIR="$keys_dir" \
      BS_SIGNER_PORT="$port" BS_MSG_SIGNER_URL="$service_url" BS_INTERNAL_TOKEN="$token" \
      BS_POD_NAME="pod-$i" \
      nohup "$SIGNER_BIN" serve --host 127.0.0.1 --port "$port" "${extra[@]}" \
      < /dev/null >> "$DIR/pod-$i.log" 2>&1 &
    echo $! > "$(pod_pidfile "$i")"
  done

  write_nginx_conf "$n"
  "$NGINX_BIN" -t -q -p "$DIR/nginx" -e "$DIR/nginx/logs/error.log" -c "$DIR/nginx/nginx.conf" ||
    die "nginx rejected $DIR/nginx/nginx.conf"
  nohup "$NGINX_BIN" -p "$DIR/nginx" -e "$DIR/nginx/logs/error.log" -c "$DIR/nginx/nginx.conf" \
    -g 'daemon off;' < /dev/null >> "$DIR/nginx/nginx.out" 2>&1 &
  echo $! > "$DIR/$NGINX_PIDFILE_REL"

  wait_ready "$n"
  trap - EXIT
  log "up: $n pods on 127.0.0.1:$BASE_PORT..$((BASE_PORT + n - 1)), logs $DIR/pod-*.log"
  log "load balancer (BS_MSG_SIGNER_URL): $lb_url"
  echo "LB_URL=$lb_url"
  echo "STORE_URL=$store_url"
  [[ "$TOXIPROXY" == 1 ]] && echo "TOXIPROXY_URL=http://127.0.0.1:$TOXIPROXY_PORT"
  if [[ "$STORE" == ferretdb ]]; then
    log "MongoDB: $store_url"
    echo "MONGO_URL=$store_url"
  else
    log "PostgreSQL: $store_url${pg_password_file:+ (password in $pg_password_file)}"
    echo "PG_URL=$store_url"
    echo "PG_PASSWORD_FILE=$pg_password_file"
  fi
}

case "$CMD" in
  up) up "${2:-3}" ;;
  down) down ;;
  status) status ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
