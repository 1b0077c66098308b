#!/usr/bin/env bash
# Runs the sign-path microbenchmark and prints our path's throughput as a ratio of the bare
# libsecp256k1 call, single-threaded, from the same run.
# Usage: bench/run_sign_path.sh [build dir, default build/release]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$REPO/build/release}"
"$REPO/scripts/build.sh" release sign_path_bench >/dev/null
out="$(mktemp)"
"$BUILD/sign_path_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
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
bare2 = rate.get("BareSignRecoverable/real_time/threads:2")
if bare2:
    print(f"raw libsecp256k1 signatures/s on 2 threads: {bare2:,.0f}")
PY
