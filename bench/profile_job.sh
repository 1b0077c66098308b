#!/usr/bin/env bash
# Where an embedded job's time goes: one `signer sign` job on a fresh SQLite store, profiled two
# ways.
#   callgrind   instructions per record by library (libsecp256k1 is linked into signer, so its
#               functions are counted apart from the rest of signer), and per record inclusive of
#               the store's read and move: counts that do not depend on what else the machine
#               runs. CALLGRIND_RECORDS records (default 40,000; about 20 minutes on a busy
#               2-core machine).
#   perf        the share of CPU samples by library, on PERF_RECORDS records (default 200,000):
#               time, not instructions, so it shows the store's lower instructions per cycle,
#               the kernel (write, fsync, scheduling) and a busy machine's effect.
# Usage: bench/profile_job.sh [callgrind|perf|both]   (default both)
# Environment: SIGNER_BUILD_DIR (default build/release), CALLGRIND_RECORDS, PERF_RECORDS.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SIGNER_BUILD_DIR:-$REPO/build/release}"
S="$BUILD/signer"
WHAT="${1:-both}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$S" keygen --count 8 --out "$WORK" > /dev/null

job() { # records -> the sign command line for a freshly loaded store
  rm -f "$WORK"/job.db*
  "$S" load --count "$1" --store "sqlite:$WORK/job.db" --spool-dir "$WORK" > /dev/null
  echo "$S sign --batch-size 5000 --progress never --store sqlite:$WORK/job.db --keys $WORK/keys.csv --log-level warn"
}

if [[ "$WHAT" == callgrind || "$WHAT" == both ]]; then
  n="${CALLGRIND_RECORDS:-40000}"
  cmd="$(job "$n")"
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" $cmd > /dev/null 2> "$WORK/vg.log"
  echo "callgrind, $n records: instructions per record"
  callgrind_annotate --inclusive=no --threshold=100 "$WORK/cg.out" 2> /dev/null | python3 -c "
import collections, re, sys
n = $n
by = collections.Counter()
for line in sys.stdin:
    m = re.match(r'\s*([\d,]+) \([ \d.]+%\)\s+(.*)\[(.*)\]\s*$', line)
    if not m:
        continue
    count, name, obj = int(m.group(1).replace(',', '')), m.group(2), m.group(3).split('/')[-1]
    if obj == 'signer':
        obj = 'libsecp256k1 (static, in signer)' if 'secp256k1' in name else 'signer (our code)'
    by[obj] += count
for obj, count in by.most_common(8):
    print(f'  {obj:40s} {count / n:10,.0f}')
"
  callgrind_annotate --inclusive=yes --threshold=100 "$WORK/cg.out" 2> /dev/null |
    grep -E 'SqliteStore::(move_to_signed|read_unsigned)\(|MessageSigner::sign_salted|keccak256_concat' |
    python3 -c "
import re, sys
for line in sys.stdin:
    m = re.match(r'\s*([\d,]+) \([ \d.]+%\)\s+\?\?\?:(?:signer::)?([\w:]+)', line)
    if m:
        print(f'  inclusive {m.group(2):40s} {int(m.group(1).replace(\",\", \"\")) / $n:10,.0f}')
"
fi

if [[ "$WHAT" == perf || "$WHAT" == both ]]; then
  n="${PERF_RECORDS:-200000}"
  cmd="$(job "$n")"
  perf record -q -o "$WORK/perf.data" -- $cmd > /dev/null 2>&1
  echo "perf, $n records: share of CPU samples by library (load average $(cut -d' ' -f1 /proc/loadavg))"
  perf report -i "$WORK/perf.data" --no-children --sort dso -g none --stdio 2> /dev/null |
    grep '%' | head -8 | sed 's/^/  /'
  echo "  of which in libsecp256k1 functions (linked into signer):"
  perf report -i "$WORK/perf.data" --no-children --sort sym -g none --stdio 2> /dev/null |
    awk '/secp256k1_/ {gsub("%", "", $1); s += $1} END {printf "  %.2f%%\n", s}'
fi
