#!/usr/bin/env bash
# Instructions per record of an embedded job's SQLite work (bench/sqlite_move_bench: reads of
# 2,000 records and their moves, then a final checkpoint), counted by callgrind in run_moves()
# alone, so the figures do not depend on what else the machine runs. One line per variant:
#   row                   one statement per record and step (the store before issue 21)
#   row, memstatus off    the same without SQLite's global memory statistics
#   group                 100 records per INSERT and per DELETE ... IN
#   group, memstatus off  the store since issue 21
#   group, memstatus off, no (job_id, id) index   what the provenance index costs
#   group, memstatus off, page size 16384         larger pages
#   group, memstatus off, rowid signedrecords     signedrecords as a rowid table, UNIQUE(id)
#   + count triggers      the store's kept counts: four triggers, one UPDATE of the counts a row
#   + counts once a chunk the same triggers disabled on this connection, and one UPDATE a chunk
#   + keyed read          the (shard, id) index partial (none of these ids in it), and every chunk
#                         read by a range of the primary key: the store since the partial index
# Usage: bench/sqlite_move_costs.sh [records, default 100000] [build dir, default build/release]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-100000}"
BUILD="${2:-$REPO/build/release}"
[[ "$BUILD" == "$REPO/build/release" ]] && "$REPO/scripts/build.sh" release sqlite_move_bench > /dev/null
command -v valgrind > /dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
count() { # label, then sqlite_move_bench arguments after N
  local label="$1"
  shift
  valgrind --tool=callgrind --toggle-collect='*run_moves*' --callgrind-out-file="$out" \
    "$BUILD/sqlite_move_bench" "$N" "$@" > /dev/null 2>&1
  printf '%-56s %8d instructions a record\n' "$label" \
    "$(($(awk '/^summary:/ {print $2}' "$out") / N))"
}
count "row" row
count "row, memstatus off" row --memstatus-off
count "group" group
count "group, memstatus off (the store)" group --memstatus-off
count "group, memstatus off, no (job_id, id) index" group --memstatus-off --no-job-index
count "group, memstatus off, page size 16384" group --memstatus-off --page-size 16384
count "group, memstatus off, rowid signedrecords" group --memstatus-off --rowid-signed
count "the store + count triggers (issue 21's kept counts)" group --memstatus-off --count-triggers
count "the store + counts once a chunk, triggers off here" group --memstatus-off --chunk-counts
count "the store + keyed read (partial shard index)" group --memstatus-off --chunk-counts --keyed-read
