#!/usr/bin/env bash
# The main job, from nothing to a finished, verified signing run on the embedded store:
# installs build dependencies, builds, generates keys, loads 100,000 records, starts the service,
# signs everything through the HTTP API, verifies every signed record, and prints the counts.
# Usage: scripts/run.sh [WORKDIR]   (default ./demo; RECORDS=N to change the volume)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${1:-$REPO/demo}"
RECORDS="${RECORDS:-100000}"
PORT="${BS_SIGNER_PORT:-18080}"

"$REPO/scripts/setup.sh" --deps-only
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
"$REPO/scripts/build.sh" release signer
SIGNER="$REPO/build/release/signer"

mkdir -p "$WORK"
rm -f "$WORK"/signer.db*
STORE="sqlite:$WORK/signer.db"
say() { printf '\n>>> %s\n' "$*"; }

say "signer keygen --count 4 --out $WORK/keys"
"$SIGNER" keygen --count 4 --out "$WORK/keys" --force

say "signer load --count $RECORDS"
"$SIGNER" load --count "$RECORDS" --store "$STORE"

say "signer serve on 127.0.0.1:$PORT"
"$SIGNER" serve --store "$STORE" --keys "$WORK/keys/keys.csv" --host 127.0.0.1 --port "$PORT" \
  >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  "$SIGNER" healthcheck --url "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/readyz"; echo

say "GET /sign/700?wait=true"
curl -fsS "http://127.0.0.1:$PORT/sign/700?wait=true" | python3 -m json.tool

say "GET /stats"
curl -fsS "http://127.0.0.1:$PORT/stats" | python3 -c \
  'import json,sys; s=json.load(sys.stdin); print("signed_records", s["signed_records"], "unsigned_records", s["unsigned_records"])'

say "signer export | signer verify"
"$SIGNER" export --store "$STORE" --output "$WORK/signed.ndjson"
"$SIGNER" verify --input "$WORK/signed.ndjson"

say "one signed record"
ID="$(head -1 "$WORK/signed.ndjson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
curl -fsS "http://127.0.0.1:$PORT/records/$ID" | python3 -m json.tool

say "graceful shutdown"
kill -TERM $SERVER
wait $SERVER
trap - EXIT
tail -n 3 "$WORK/serve.log"
