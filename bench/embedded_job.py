#!/usr/bin/env python3
"""End-to-end benchmark of an embedded (SQLite) signing job, as a ratio of raw signing.

In one run it measures:
  1. raw libsecp256k1 signatures/s on all cores (sign_path_bench, BareSignRecoverable, N threads);
  2. records/s of `signer sign` on a freshly loaded store of --records records (only the sign
     phase is timed; loading is not), and the peak RSS of that process.
It prints both and the ratio end-to-end / raw. With --synchronous normal,full (the default) the
sign phase runs once per SQLite synchronous level (BS_SQLITE_SYNCHRONOUS), each on a fresh store,
and it prints records/s of each and the cost of FULL (the service's default) against NORMAL.
Usage:
  bench/embedded_job.py [--records 200000] [--batch-size 5000] [--synchronous normal,full]
                        [--build build/release]
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
    ap.add_argument("--synchronous", default="normal,full",
                    help="comma-separated SQLite synchronous levels to time, each on a fresh store")
    ap.add_argument("--skip-raw", action="store_true",
                    help="do not run sign_path_bench (no raw rate, no ratio to it)")
    ap.add_argument("--build", default=os.path.join(REPO, "build/release"))
    args = ap.parse_args()
    signer = os.path.join(args.build, "signer")

    levels = [level.strip() for level in args.synchronous.split(",") if level.strip()]
    for level in levels:
        if level not in ("normal", "full"):
            raise SystemExit(f"--synchronous: {level!r} is not normal or full")

    raw_before, threads = (None, 0) if args.skip_raw else raw_all_core_rate(args.build)
    rates = {}
    for level in levels:
        rates[level] = sign_job(signer, args, level)
    raw = None
    if not args.skip_raw:
        raw_after, _ = raw_all_core_rate(args.build)
        raw = (raw_before + raw_after) / 2
    print(f"records                      {args.records}")
    print(f"batch size                   {args.batch_size}")
    if raw is not None:
        print(f"raw signatures/s ({threads} threads)  {raw:,.0f}  (before {raw_before:,.0f}, after {raw_after:,.0f})")
    for level, (e2e, elapsed, peak_rss_mb) in rates.items():
        print(f"synchronous={level:<6} records/s  {e2e:,.0f}  ({elapsed:.2f} s)")
        if raw is not None:
            print(f"  ratio end-to-end / raw     {e2e / raw:.3f}  (target >= 0.5)")
        print(f"  peak RSS of any child      {peak_rss_mb:.0f} MB")
    if "normal" in rates and "full" in rates:
        print(f"full / normal records/s      {rates['full'][0] / rates['normal'][0]:.3f}")


def sign_job(signer, args, level):
    """Loads a fresh store and times `signer sign` on it with PRAGMA synchronous=`level`.
    Returns (records/s, seconds, peak RSS in MB of any child so far)."""
    env = dict(os.environ, BS_SQLITE_SYNCHRONOUS=level)
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:{tmp}/bench.db"
        subprocess.run([signer, "keygen", "--count", "8", "--out", tmp], check=True,
                       capture_output=True)
        subprocess.run([signer, "load", "--count", str(args.records), "--store", store],
                       check=True, capture_output=True, env=env)
        start = time.monotonic()
        proc = subprocess.run(
            [signer, "sign", "--batch-size", str(args.batch_size), "--progress", "never",
             "--store", store, "--keys", f"{tmp}/keys.csv", "--log-level", "warn"],
            check=True, capture_output=True, text=True, env=env)
        elapsed = time.monotonic() - start
        peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        job = json.loads(proc.stdout)
        assert job["records_signed"] == args.records, job
    return args.records / elapsed, elapsed, peak_rss_mb

if __name__ == "__main__":
    sys.exit(main())
