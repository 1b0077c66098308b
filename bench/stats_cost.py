#!/usr/bin/env python3
"""What GET /stats costs at one store size, a reference build against a candidate, in one run.

For each build (--reference first, then --build), on a SQLite store of its own:
  1. `signer load --count N`: records/s (the candidate's counts are kept by triggers on every
     insert, so this shows what they cost a load);
  2. `signer serve`, then GET /stats --times times in a row, each on a connection of its own:
     median, p99 and max milliseconds, and the counts (which must be N, 0).
The two builds take turns on the same machine, so the ratio candidate / reference is the figure;
the absolute milliseconds depend on the load of the machine.
Usage: bench/stats_cost.py --reference OLD_BUILD_DIR [--build build/release] [--count 1000000]
                           [--times 200] [--workdir DIR]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from scale_run import Api, latency_summary, run_measured, serve_sqlite


def measure(signer, n, times, work):
    os.makedirs(work)
    store = f"sqlite:{work}/store.db"
    subprocess.run([signer, "keygen", "--count", "2", "--out", work], check=True,
                   capture_output=True)
    token = subprocess.run([signer, "client", "add", "--clients", f"{work}/clients.json",
                            "--name", "bench", "--roles", "read"], check=True,
                           capture_output=True, text=True).stdout.strip()
    elapsed, _ = run_measured([signer, "load", "--count", str(n), "--store", store,
                               "--spool-dir", work])
    server, port = serve_sqlite(signer, store, work)
    try:
        api = Api(port, token)
        ms = []
        for _ in range(times):
            start = time.monotonic()
            stats = api.call("GET", "/stats")
            ms.append((time.monotonic() - start) * 1000)
        assert (stats["unsigned_records"], stats["signed_records"]) == (n, 0), stats
    finally:
        server.terminate()
        server.wait(timeout=60)
    _, median, p99, slowest = latency_summary(ms)
    return {"load_rate": n / elapsed, "median": median, "p99": p99, "max": slowest}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True, help="build dir of the reference signer")
    ap.add_argument("--build", default="build/release", help="build dir of the candidate")
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--times", type=int, default=200)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="stats-cost-")
    results = {}
    for name, build in (("reference", args.reference), ("candidate", args.build)):
        results[name] = measure(os.path.join(build, "signer"), args.count, args.times,
                                os.path.join(work, name))
        r = results[name]
        print(f"{name}: {args.count} records, load {r['load_rate']:.0f} records/s; GET /stats "
              f"median {r['median']:.2f} ms, p99 {r['p99']:.2f} ms, max {r['max']:.2f} ms",
              flush=True)
    ref, new = results["reference"], results["candidate"]
    print(f"candidate / reference: /stats median {new['median'] / ref['median']:.3f}, "
          f"p99 {new['p99'] / ref['p99']:.3f}; load rate {new['load_rate'] / ref['load_rate']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
