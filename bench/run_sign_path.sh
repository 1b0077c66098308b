#!/usr/bin/env bash
# Runs the sign-path microbenchmark and prints our path's throughput as a ratio of the bare
# libsecp256k1 call, single-threaded, and the eip191 and eip712 schemes' as ratios of raw's, on
# one and two threads, all from the same run.
# Usage: bench/run_sign_path.sh [build dir, default build/release]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$REPO/build/release}"
"$REPO/scripts/build.sh" release sign_path_bench >/dev/null
out="$(mktemp)"
"$BUILD/sign_path_bench" --benchmark_repetitions=12 --benchmark_report_aggregates_only=true \
  --benchmark_enable_random_interleaving=true --benchmark_min_time=0.3 \
  --benchmark_format=json --benchmark_out="$out" --benchmark_out_format=json >/dev/null
python3 - "$out" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
rate = {}
for b in data["benchmarks"]:
    if b.get("aggregate_name") == "median":
        rate[b["run_name"]] = b["items_per_second"]
for name, r in sorted(rate.items()):
    print(f"{name:40s} {r:14,.0f} items/s")
bare1 = rate["BareSignRecoverable/real_time/threads:1"]
ours1 = rate["SignPath/real_time/threads:1"]
print(f"\nsign path / bare sign, 1 thread: {ours1 / bare1:.3f}  (target >= 0.9)")
for threads in (1, 2):
    raw = rate.get(f"Scheme/scheme:0/real_time/threads:{threads}")
    if raw:
        for n, name, target in ((1, "eip191", 0.97), (2, "eip712", 0.9)):
            r = rate[f"Scheme/scheme:{n}/real_time/threads:{threads}"]
            print(f"{name} / raw, {threads} thread(s): {r / raw:.3f}  (target >= {target})")
lib, ours = rate.get("NonceLibsecp256k1"), rate.get("NonceNettle")
if lib and ours:
    print(f"RFC 6979 nonce: libsecp256k1's {1e6 / lib:.2f} us, ours (Nettle) {1e6 / ours:.2f} us "
          f"({lib / ours:.2f} of the time)")
bare2 = rate.get("BareSignRecoverable/real_time/threads:2")
if bare2:
    print(f"raw libsecp256k1 signatures/s on 2 threads: {bare2:,.0f}")
PY

# Instruction counts (callgrind): the same ratio, free of the machine's noise. Setup (key
# generation, context) is the same in both runs, so it cancels in the difference of two N.
# Valgrind hides the CPU's SHA extensions, so Nettle runs its plain x86-64 SHA-256 under it:
# the count understates what the sign path's nonce saves on a CPU that has them.
if command -v valgrind >/dev/null; then
  "$REPO/scripts/build.sh" release sign_path_count >/dev/null
  count() {  # mode n -> total instructions
    local f; f="$(mktemp)"
    valgrind --tool=callgrind --callgrind-out-file="$f" "$BUILD/sign_path_count" "$1" "$2" \
      >/dev/null 2>&1
    awk '/^summary:/ {print $2}' "$f"
  }
  bare=$(( $(count bare 3000) - $(count bare 1000) ))
  path=$(( $(count path 3000) - $(count path 1000) ))
  python3 -c "b=$bare/2000; p=$path/2000; print(f'instructions per op: bare {b:,.0f}, sign path {p:,.0f}; sign path / bare throughput (instruction count) {b/p:.3f}  (target >= 0.9)')"
  raw=$(( $(count raw 3000) - $(count raw 1000) ))
  for scheme in eip191:0.97 eip712:0.9; do
    n=$(( $(count "${scheme%:*}" 3000) - $(count "${scheme%:*}" 1000) ))
    python3 -c "r=$raw/2000; s=$n/2000; print(f'instructions per voucher record: raw {r:,.0f}, ${scheme%:*} {s:,.0f}; ${scheme%:*} / raw throughput (instruction count) {r/s:.3f}  (target >= ${scheme#*:})')"
  done
fi
