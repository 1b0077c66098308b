#!/usr/bin/env bash
# Runs FerretDB (the MongoDB wire-protocol server built by scripts/install-tools.sh) as
# the project's local MongoDB: SQLite backend, 127.0.0.1 only, telemetry disabled, no
# debug/metrics HTTP listener. It never talks to the internet.
#
# Usage: scripts/ferretdb.sh start|stop|status|url [PORT] [DATADIR]
#   PORT     TCP port on 127.0.0.1 (default 27017, or $FERRETDB_PORT)
#   DATADIR  holds data/ (SQLite files), state/, ferretdb.pid and ferretdb.log
#            (default .tools/run/ferretdb-PORT)
#   start    starts it in the background and waits (up to $FERRETDB_START_TIMEOUT s, 30 by
#            default) until the port accepts TCP connections; a no-op if already running
#   stop     stops only the process recorded in DATADIR/ferretdb.pid (SIGTERM, then
#            SIGKILL after 10 s)
#   status   exit 0 and print the pid when running, exit 3 when not
#   url      print the MongoDB URL (mongodb://127.0.0.1:PORT/)
# Environment: FERRETDB_BIN (default .tools/bin/ferretdb, built on demand).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CMD="${1:-}"
PORT="${2:-${FERRETDB_PORT:-27017}}"
DATADIR="${3:-$REPO/.tools/run/ferretdb-$PORT}"
BIN="${FERRETDB_BIN:-$REPO/.tools/bin/ferretdb}"
START_TIMEOUT="${FERRETDB_START_TIMEOUT:-30}"
PIDFILE="$DATADIR/ferretdb.pid"
LOGFILE="$DATADIR/ferretdb.log"

log() { printf '[ferretdb] %s\n' "$*"; }
die() {
  printf '[ferretdb] ERROR: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
  die "bad port: $PORT"
fi

port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null; }

# running_pid: prints the recorded pid when that process is alive and is a ferretdb.
running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2> /dev/null || return 1
  # Guard against pid reuse: the process must be a ferretdb listening on this port.
  tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null |
    grep -q -- "ferretdb.* --listen-addr=127.0.0.1:$PORT " || return 1
  echo "$pid"
}

start() {
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid) on 127.0.0.1:$PORT, data in $DATADIR"
    return 0
  fi
  if port_open; then
    die "127.0.0.1:$PORT is already in use by another process"
  fi
  if [[ ! -x "$BIN" ]]; then
    [[ -z "${FERRETDB_BIN:-}" ]] || die "FERRETDB_BIN=$BIN is not executable"
    log "$BIN missing; building it"
    bash "$REPO/scripts/install-tools.sh" ferretdb
  fi
  mkdir -p "$DATADIR/data" "$DATADIR/state"
  DATADIR="$(cd "$DATADIR" && pwd)"
  PIDFILE="$DATADIR/ferretdb.pid"
  LOGFILE="$DATADIR/ferretdb.log"

  # nohup execs in place, so $! is ferretdb's own pid; it survives the terminal closing.
  DO_NOT_TRACK=1 nohup "$BIN" \
    --handler=sqlite \
    --sqlite-url="file:$DATADIR/data/" \
    --state-dir="$DATADIR/state" \
    --listen-addr="127.0.0.1:$PORT" \
    --debug-addr=- \
    --telemetry=disable \
    --log-level="${FERRETDB_LOG_LEVEL:-WARN}" \
    < /dev/null >> "$LOGFILE" 2>&1 &
  pid=$!
  echo "$pid" > "$PIDFILE"

  local deadline=$((SECONDS + START_TIMEOUT))
  until port_open; do
    if ! kill -0 "$pid" 2> /dev/null; then
      rm -f "$PIDFILE"
      tail -n 20 "$LOGFILE" >&2 || true
      die "ferretdb exited during start-up; log: $LOGFILE"
    fi
    if ((SECONDS >= deadline)); then
      kill "$pid" 2> /dev/null || true
      rm -f "$PIDFILE"
      tail -n 20 "$LOGFILE" >&2 || true
      die "ferretdb did not accept connections on 127.0.0.1:$PORT within ${START_TIMEOUT}s"
    fi
    sleep 0.1
  done
  log "started (pid $pid) on mongodb://127.0.0.1:$PORT/, data in $DATADIR, log $LOGFILE"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PIDFILE"
    log "not running (no live pid in $PIDFILE)"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2> /dev/null; do
    if ((SECONDS >= deadline)); then
      log "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
      kill -KILL "$pid" 2> /dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$PIDFILE"
  log "stopped (pid $pid)"
}

status() {
  local pid
  if pid="$(running_pid)"; then
    log "running (pid $pid) on mongodb://127.0.0.1:$PORT/, data in $DATADIR"
    return 0
  fi
  log "not running (port $PORT, data in $DATADIR)"
  return 3
}

case "$CMD" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "mongodb://127.0.0.1:$PORT/" ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
