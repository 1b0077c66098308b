#!/usr/bin/env python3
"""End-to-end benchmark of an embedded (SQLite) signing job, as a ratio of raw signing.

In one run it measures:
  1. raw libsecp256k1 signatures/s on all cores (sign_path_bench, BareSignRecoverable, N threads);
  2. records/s of `signer sign` on a freshly loaded store of --records records (only the sign
     phase is timed; loading is not), and the peak RSS of that process.
It prints both and the ratio end-to-end / raw. Usage:
  bench/embedded_job.py [--records 200000] [--batch-size 5000] [--build build/release]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def raw_all_core_rate(build):
    threads = os.cpu_count() or 1
    out = subprocess.run(
        [f"{build}/sign_path_bench", f"--benchmark_filter=BareSignRecoverable/real_time/threads:{threads}$",
         "--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true",
         "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            return b["items_per_second"], threads
    raise SystemExit("no median in benchmark output")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--build", default=os.path.join(REPO, "build/release"))
    args = ap.parse_args()
    signer = os.path.join(args.build, "signer")

    raw_before, threads = raw_all_core_rate(args.build)
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:{tmp}/bench.db"
        subprocess.run([signer, "keygen", "--count", "8", "--out", tmp], check=True,
                       capture_output=True)
        subprocess.run([signer, "load", "--count", str(args.records), "--store", store],
                       check=True, capture_output=True)
        start = time.monotonic()
        proc = subprocess.run(
            [signer, "sign", "--batch-size", str(args.batch_size), "--progress", "never",
             "--store", store, "--keys", f"{tmp}/keys.csv", "--log-level", "warn"],
            check=True, capture_output=True, text=True)
        elapsed = time.monotonic() - start
        peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        job = json.loads(proc.stdout)
        assert job["records_signed"] == args.records, job
    raw_after, _ = raw_all_core_rate(args.build)
    raw = (raw_before + raw_after) / 2
    e2e = args.records / elapsed
    print(f"records                      {args.records}")
    print(f"batch size                   {args.batch_size}")
    print(f"raw signatures/s ({threads} threads)  {raw:,.0f}  (before {raw_before:,.0f}, after {raw_after:,.0f})")
    print(f"end-to-end records/s         {e2e:,.0f}  ({elapsed:.2f} s)")
    print(f"ratio end-to-end / raw       {e2e / raw:.3f}  (target >= 0.5)")
    print(f"peak RSS of any child        {peak_rss_mb:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
