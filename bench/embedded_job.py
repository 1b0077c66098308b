#!/usr/bin/env python3
"""End-to-end benchmark of an embedded (SQLite) signing job, as a ratio of raw signing.

In one run it measures:
  1. raw libsecp256k1 signatures/s on all cores (sign_path_bench, BareSignRecoverable, N threads);
  2. records/s of `signer sign` on a freshly loaded store of --records records (only the sign
     phase is timed; loading is not), and the peak RSS of that process.
It prints both and the ratio end-to-end / raw. With --via http the job runs in `signer serve`
started by GET /sign/:size?wait=true instead of `signer sign`; when the build has `signer client`
(issue 10), the server gets a clients file and the request a bearer token, so the figure includes
authentication (once per request, never per record). Usage:
  bench/embedded_job.py [--records 200000] [--batch-size 5000] [--build build/release]
                        [--via cli|http]
Comparing two builds in one run (the before/after of a change):
  bench/embedded_job.py --build OLD_BUILD --build NEW_BUILD --via http
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


def job_over_http(signer, store, keys, tmp, batch_size):
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
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def run_job(build, records, batch_size, via):
    signer = os.path.join(build, "signer")
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:{tmp}/bench.db"
        subprocess.run([signer, "keygen", "--count", "8", "--out", tmp], check=True,
                       capture_output=True)
        subprocess.run([signer, "load", "--count", str(records), "--store", store],
                       check=True, capture_output=True)
        if via == "http":
            elapsed, job = job_over_http(signer, store, f"{tmp}/keys.csv", tmp, batch_size)
        else:
            start = time.monotonic()
            proc = subprocess.run(
                [signer, "sign", "--batch-size", str(batch_size), "--progress", "never",
                 "--store", store, "--keys", f"{tmp}/keys.csv", "--log-level", "warn"],
                check=True, capture_output=True, text=True)
            elapsed = time.monotonic() - start
            job = json.loads(proc.stdout)
        assert job["records_signed"] == records, job
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--build", action="append",
                    help="build dir (repeat to compare builds in one run; default build/release)")
    ap.add_argument("--via", choices=["cli", "http"], default="cli")
    args = ap.parse_args()
    builds = args.build or [os.path.join(REPO, "build/release")]

    raw_before, threads = raw_all_core_rate(builds[-1])
    elapsed = {build: run_job(build, args.records, args.batch_size, args.via)
               for build in builds}
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    raw_after, _ = raw_all_core_rate(builds[-1])
    raw = (raw_before + raw_after) / 2
    print(f"records                      {args.records}")
    print(f"batch size                   {args.batch_size}")
    print(f"job run by                   {'signer serve, GET /sign?wait=true' if args.via == 'http' else 'signer sign'}")
    print(f"raw signatures/s ({threads} threads)  {raw:,.0f}  (before {raw_before:,.0f}, after {raw_after:,.0f})")
    for build in builds:
        e2e = args.records / elapsed[build]
        print(f"[{build}]")
        print(f"  end-to-end records/s       {e2e:,.0f}  ({elapsed[build]:.2f} s)")
        print(f"  ratio end-to-end / raw     {e2e / raw:.3f}  (target >= 0.5)")
    print(f"peak RSS of any child        {peak_rss_mb:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
