#!/usr/bin/env bash
# A local emulation of the Kubernetes deployment: FerretDB as MongoDB, N `signer serve` pods on
# 127.0.0.1, and nginx as the Service, a round-robin load balancer whose URL every pod gets as
# BS_MSG_SIGNER_URL (so a job's batches are spread over all pods, as in cluster mode on k8s).
#
# Usage: scripts/cluster.sh up [N] | down | status
#   up N     starts FerretDB, N pods (default 3) and nginx, waits until every pod's /readyz and
#            the load balancer answer 200, then prints the LB URL and the MongoDB URL. If the
#            cluster is already up it says so and does nothing. If start-up fails, whatever it
#            started is stopped again.
#   down     stops only what `up` started, by the pids recorded in CLUSTER_DIR/pids (SIGTERM,
#            then SIGKILL after CLUSTER_STOP_TIMEOUT s): the pods and nginx (SIGQUIT, its
#            graceful stop) together, then FerretDB (scripts/ferretdb.sh stop). Keys, logs and data stay in CLUSTER_DIR.
#   status   prints each component with its pid and URL; exit 0 when all run, 3 when none
#            runs, 1 when only some do.
# Environment:
#   CLUSTER_DIR           state dir (default .tools/run/cluster): cluster.env, token, keys/,
#                         pids/, pod-I.log, nginx/ (config, logs, temp dirs), ferretdb/ (data)
#   CLUSTER_MONGO_PORT    FerretDB port on 127.0.0.1 (default 27317)
#   CLUSTER_MONGO_URL     use this MongoDB instead of starting FerretDB (BS_MONGO_USER and
#                         BS_MONGO_PWD are passed through to the pods when set)
#   CLUSTER_BASE_PORT     pod I listens on CLUSTER_BASE_PORT+I (default 18100)
#   CLUSTER_LB_PORT       nginx port on 127.0.0.1 (default 18090)
#   CLUSTER_KEYS_DIR      directory holding keys.csv to use (default: CLUSTER_DIR/keys, generated
#                         once by `signer keygen`, mode 0600)
#   CLUSTER_KEY_COUNT     keys to generate (default 4)
#   CLUSTER_INTERNAL_TOKEN  the BS_INTERNAL_TOKEN for /batch (default: random, kept in
#                         CLUSTER_DIR/token, mode 0600)
#   CLUSTER_SIGNER_ARGS   extra `signer serve` arguments for every pod (word-split)
#   CLUSTER_LB_NEXT_UPSTREAM  nginx proxy_next_upstream for /batch (default "error timeout
#                         http_502"; "off" behaves like a plain k8s Service, leaving every retry
#                         to the coordinator)
#   CLUSTER_LB_MAX_FAILS, CLUSTER_LB_FAIL_TIMEOUT  nginx passive health check per pod (default
#                         0 = never take a pod out, and 10 s)
#   CLUSTER_READY_TIMEOUT seconds to wait for readiness (default 30)
#   CLUSTER_STOP_TIMEOUT  seconds between SIGTERM and SIGKILL on `down` (default 30; a pod
#                         finishes its current chunk within its 25 s grace period)
#   SIGNER_BIN            the binary (default build/release/signer); NGINX_BIN (default nginx)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CMD="${1:-}"
DIR="${CLUSTER_DIR:-$REPO/.tools/run/cluster}"
MONGO_PORT="${CLUSTER_MONGO_PORT:-27317}"
BASE_PORT="${CLUSTER_BASE_PORT:-18100}"
LB_PORT="${CLUSTER_LB_PORT:-18090}"
EXT_MONGO_URL="${CLUSTER_MONGO_URL:-}"
KEY_COUNT="${CLUSTER_KEY_COUNT:-4}"
READY_TIMEOUT="${CLUSTER_READY_TIMEOUT:-30}"
STOP_TIMEOUT="${CLUSTER_STOP_TIMEOUT:-30}"
NEXT_UPSTREAM="${CLUSTER_LB_NEXT_UPSTREAM:-error timeout http_502}"
MAX_FAILS="${CLUSTER_LB_MAX_FAILS:-0}"
FAIL_TIMEOUT="${CLUSTER_LB_FAIL_TIMEOUT:-10}"
SIGNER_BIN="${SIGNER_BIN:-$REPO/build/release/signer}"
NGINX_BIN="${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}"

log() { printf '[cluster] %s\n' "$*"; }
die() {
  printf '[cluster] ERROR: %s\n' "$*" >&2
  exit 1
}
usage() { sed -n '2,38p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)); }
port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# alive PIDFILE PATTERN: prints the recorded pid when that process lives and its command line
# matches PATTERN (a guard against pid reuse).
alive() {
  local file="$1" pattern="$2" pid
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
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
  for ((i = 0; i < S_PODS; i++)); do rm -f "$(pod_pidfile "$i")"; done
  rm -f "$DIR/$NGINX_PIDFILE_REL"
  if [[ "$S_FERRETDB" == 1 ]]; then
    bash "$REPO/scripts/ferretdb.sh" stop "$S_MONGO_PORT" "$DIR/ferretdb"
  fi
  log "down"
}

# ---- status ------------------------------------------------------------------------------------
status() {
  if ! load_state; then
    log "not up (no state in $DIR)"
    return 3
  fi
  local running=0 total=0 pid i port code
  if [[ "$S_FERRETDB" == 1 ]]; then
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
    printf '%-10s running  pid %-8s %s  (BS_MSG_SIGNER_URL)\n' nginx "$pid" "$S_LB_URL"
  else
    printf '%-10s stopped  %-12s %s\n' nginx "" "$S_LB_URL"
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
    if ! alive "$DIR/$NGINX_PIDFILE_REL" nginx > /dev/null; then
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
  is_port "$MONGO_PORT" && is_port "$BASE_PORT" && is_port "$LB_PORT" && is_port "$((BASE_PORT + n - 1))" ||
    die "bad port settings: mongo $MONGO_PORT, pods $BASE_PORT.., lb $LB_PORT"
  [[ -x "$SIGNER_BIN" ]] || die "signer binary not found at $SIGNER_BIN (scripts/build.sh release)"
  [[ -x "$NGINX_BIN" ]] || die "nginx not found ($NGINX_BIN); install the Debian package nginx-light"
  command -v curl > /dev/null || die "curl is needed"

  if load_state; then
    local st=0
    status > /dev/null || st=$?
    if ((st == 0)); then
      if ((S_PODS != n)); then
        die "already up with $S_PODS pods (asked for $n); run \`$0 down\` first"
      fi
      log "already up: $S_PODS pods, load balancer $S_LB_URL, MongoDB $S_MONGO_URL"
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

  # Keys: generated once per state dir unless given.
  local keys_dir
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

  local mongo_url ferretdb=0
  if [[ -n "$EXT_MONGO_URL" ]]; then
    mongo_url="$EXT_MONGO_URL"
  else
    ferretdb=1
    mongo_url="mongodb://127.0.0.1:$MONGO_PORT/"
  fi
  local lb_url="http://127.0.0.1:$LB_PORT"

  # Written before anything starts, so `down` can clean up after a failed `up`.
  (
    umask 077
    printf '%s=%q\n' S_PODS "$n" S_BASE_PORT "$BASE_PORT" S_LB_PORT "$LB_PORT" S_LB_URL "$lb_url" \
      S_MONGO_PORT "$MONGO_PORT" S_MONGO_URL "$mongo_url" S_FERRETDB "$ferretdb" \
      S_KEYS_FILE "$keys_dir/keys.csv" S_SIGNER_BIN_STARTED "$SIGNER_BIN" > "$DIR/cluster.env"
  )
  trap 'st=$?; if ((st != 0)); then log "start-up failed; stopping what was started"; down >&2 || true; fi' EXIT

  if ((ferretdb)); then
    bash "$REPO/scripts/ferretdb.sh" start "$MONGO_PORT" "$DIR/ferretdb"
  fi

  local extra=()
  # shellcheck disable=SC2206
  [[ -n "${CLUSTER_SIGNER_ARGS:-}" ]] && extra=(${CLUSTER_SIGNER_ARGS})
  for ((i = 0; i < n; i++)); do
    port=$((BASE_PORT + i))
    # nohup execs in place, so $! is the signer's own pid. BS_STORE would override BS_MONGO_URL.
    env -u BS_STORE BS_MONGO_URL="$mongo_url" BS_KEYS_DIR="$keys_dir" BS_SIGNER_PORT="$port" \
      BS_MSG_SIGNER_URL="$lb_url" BS_INTERNAL_TOKEN="$token" BS_POD_NAME="pod-$i" \
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
  log "MongoDB: $mongo_url"
  echo "LB_URL=$lb_url"
  echo "MONGO_URL=$mongo_url"
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
