#!/usr/bin/env python3
"""End-to-end benchmark of an embedded (SQLite) signing job, as a ratio of raw signing.

In one run it measures:
  1. raw libsecp256k1 signatures/s on all cores (sign_path_bench, BareSignRecoverable, N threads);
  2. records/s of a signing job on a freshly loaded store of --records records (only the sign
     phase is timed; loading is not), and the peak RSS of the processes.
It prints both and the ratio end-to-end / raw.
  --via cli|http   the job runs in `signer sign` (default), or in `signer serve` started by
                   GET /sign/:size?wait=true; when the build has `signer client` (issue 10) the
                   server gets a clients file and the request a bearer token, so the figure
                   includes authentication (once per request, never per record).
  --synchronous normal,full   one run per SQLite synchronous level (BS_SQLITE_SYNCHRONOUS), each
                   on a fresh store, and the cost of FULL (the service's default) against NORMAL.
  --build DIR      repeat to compare builds in one run (the before/after of a change).
Usage:
  bench/embedded_job.py [--records 200000] [--batch-size 5000] [--via cli|http]
                        [--synchronous full] [--build build/release]... [--repeat N] [--skip-raw]
"""
import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job_over_http(signer, store, keys, tmp, batch_size, env):
    """Runs one job in `signer serve`; returns (seconds, job JSON). Authenticated when the build
    knows clients (issue 10)."""
    args = [signer, "serve", "--store", store, "--keys", keys, "--host", "127.0.0.1",
            "--port", str(free_port()), "--log-level", "warn"]
    headers = {}
    usage = subprocess.run([signer, "--help"], capture_output=True, text=True).stdout
    if "\n  client" in usage:
        clients = f"{tmp}/clients.json"
        token = subprocess.run([signer, "client", "add", "--clients", clients, "--name", "bench",
                                "--roles", "sign,read"], check=True, capture_output=True,
                               text=True).stdout.strip()
        args += ["--clients", clients]
        headers["Authorization"] = f"Bearer {token}"
    port = args[args.index("--port") + 1]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        for _ in range(400):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/sign/{batch_size}?wait=true",
                                     headers=headers)
        start = time.monotonic()
        with urllib.request.urlopen(req, timeout=3600) as resp:
            job = json.loads(resp.read())
        return time.monotonic() - start, job
    finally:
        server.terminate()
        server.wait(timeout=60)


def sign_job(build, args, level):
    """Loads a fresh store and times one job on it with PRAGMA synchronous=`level` (builds before
    issue 11 ignore it and run NORMAL). Returns (records/s, seconds)."""
    signer = os.path.join(build, "signer")
    env = dict(os.environ, BS_SQLITE_SYNCHRONOUS=level)
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:{tmp}/bench.db"
        subprocess.run([signer, "keygen", "--count", "8", "--out", tmp], check=True,
                       capture_output=True)
        subprocess.run([signer, "load", "--count", str(args.records), "--store", store],
                       check=True, capture_output=True, env=env)
        if args.via == "http":
            elapsed, job = job_over_http(signer, store, f"{tmp}/keys.csv", tmp,
                                         args.batch_size, env)
        else:
            start = time.monotonic()
            proc = subprocess.run(
                [signer, "sign", "--batch-size", str(args.batch_size), "--progress", "never",
                 "--store", store, "--keys", f"{tmp}/keys.csv", "--log-level", "warn"],
                check=True, capture_output=True, text=True, env=env)
            elapsed = time.monotonic() - start
            job = json.loads(proc.stdout)
        assert job["records_signed"] == args.records, job
    return args.records / elapsed, elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--via", choices=["cli", "http"], default="cli")
    ap.add_argument("--synchronous", default="full",
                    help="comma-separated SQLite synchronous levels to time, each on a fresh store")
    ap.add_argument("--skip-raw", action="store_true",
                    help="do not run sign_path_bench (no raw rate, no ratio to it)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each configuration, taking turns; medians are reported")
    ap.add_argument("--build", action="append",
                    help="build dir (repeat to compare builds in one run; default build/release)")
    args = ap.parse_args()
    builds = args.build or [os.path.join(REPO, "build/release")]
    levels = [level.strip() for level in args.synchronous.split(",") if level.strip()]
    for level in levels:
        if level not in ("normal", "full"):
            raise SystemExit(f"--synchronous: {level!r} is not normal or full")

    raw_before, threads = (None, 0) if args.skip_raw else raw_all_core_rate(builds[-1])
    # Builds and levels take turns, `--repeat` times, so that drift in the machine's speed
    # falls on all of them alike; each figure is the median of its runs.
    runs = {(build, level): [] for build in builds for level in levels}
    for _ in range(args.repeat):
        for key in runs:
            runs[key].append(sign_job(key[0], args, key[1]))
    rates = {key: sorted(values)[len(values) // 2] for key, values in runs.items()}
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    raw = None
    if not args.skip_raw:
        raw_after, _ = raw_all_core_rate(builds[-1])
        raw = (raw_before + raw_after) / 2
    print(f"records                      {args.records}")
    print(f"batch size                   {args.batch_size}")
    print(f"job run by                   "
          f"{'signer serve, GET /sign?wait=true' if args.via == 'http' else 'signer sign'}")
    if raw is not None:
        print(f"raw signatures/s ({threads} threads)  {raw:,.0f}  "
              f"(before {raw_before:,.0f}, after {raw_after:,.0f})")
    for (build, level), (e2e, elapsed) in rates.items():
        print(f"[{build}] synchronous={level}")
        spread = ", ".join(f"{r:,.0f}" for r, _ in runs[(build, level)])
        print(f"  end-to-end records/s       {e2e:,.0f}  ({elapsed:.2f} s; runs: {spread})")
        if raw is not None:
            print(f"  ratio end-to-end / raw     {e2e / raw:.3f}  (target >= 0.5)")
    for build in builds:
        if (build, "normal") in rates and (build, "full") in rates:
            ratio = rates[(build, "full")][0] / rates[(build, "normal")][0]
            print(f"[{build}] full / normal records/s  {ratio:.3f}")
    print(f"peak RSS of any child        {peak_rss_mb:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
