#!/usr/bin/env python3
"""Peak memory of `signer serve` through one job, against the job's number of batches.

A job keeps per-batch outcomes; what it holds of them in memory decides whether serve's memory
grows with the job. This loads one store of --records records, then for each --batch-sizes entry
and each --build (taking turns, each on a fresh copy of the store) runs `signer serve`, asks
GET /sign/:size?wait=true (embedded_job.job_over_http, authenticated as a client with the sign
role), and samples the server's /proc/PID/status every --interval seconds.
It prints, per run: batches, records/s, the peak RssAnon (heap and other anonymous memory; what
the job's data lives in) and VmHWM (peak resident set, the store's mapped pages included).
A small batch size gives the batch count of a far larger job: 1M records at batch size 100 are
10,000 batches, as many as 100M records at the default 10,000.
Usage:
  bench/job_memory.py [--records 1000000] [--batch-sizes 10000,100] [--build DIR]...
                      [--turns 1] [--interval 0.1]
"""
import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time

from embedded_job import job_over_http

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def peak_memory(interval, peak):
    """A `watch` for embedded_job.job_over_http: samples the server's RssAnon and VmHWM into
    `peak` (kB) every `interval` s until the job ends, then reads VmHWM once more."""
    def watch(pid):
        done = threading.Event()

        def sample():
            while not done.wait(interval):
                try:
                    peak["RssAnon"] = max(peak["RssAnon"], status_kb(pid, "RssAnon"))
                    peak["VmHWM"] = max(peak["VmHWM"], status_kb(pid, "VmHWM"))
                except (OSError, ValueError):
                    return

        sampler = threading.Thread(target=sample)
        sampler.start()

        def stop():
            time.sleep(3 * interval)  # the last samples, after the final save
            done.set()
            sampler.join()
            peak["VmHWM"] = max(peak["VmHWM"], status_kb(pid, "VmHWM"))
        return stop
    return watch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--batch-sizes", default="10000,100")
    ap.add_argument("--build", action="append")
    ap.add_argument("--turns", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.1)
    args = ap.parse_args()
    builds = args.build or [os.environ.get("SIGNER_BUILD_DIR", f"{REPO}/build/release")]
    with tempfile.TemporaryDirectory() as tmp:
        first = os.path.join(builds[0], "signer")
        subprocess.run([first, "keygen", "--count", "8", "--out", tmp], check=True,
                       capture_output=True)
        loaded = f"{tmp}/loaded.db"
        subprocess.run([first, "load", "--count", str(args.records), "--store",
                        f"sqlite:{loaded}"], check=True, capture_output=True)
        print(f"{args.records:,} records; one fresh copy of the store per run")
        print(f"{'build':<40} {'batch size':>10} {'batches':>8} {'records/s':>10} "
              f"{'RssAnon MB':>10} {'VmHWM MB':>9}")
        for batch_size in (int(s) for s in args.batch_sizes.split(",")):
            for _ in range(args.turns):
                for build in builds:
                    store = f"{tmp}/run.db"
                    for suffix in ("", "-wal", "-shm"):
                        if os.path.exists(store + suffix):
                            os.remove(store + suffix)
                    shutil.copyfile(loaded, store)
                    os.sync()  # the copy's writeback would otherwise run during the job
                    if os.path.exists(f"{tmp}/clients.json"):  # job_over_http adds its client
                        os.remove(f"{tmp}/clients.json")
                    peak = {"RssAnon": 0, "VmHWM": 0}
                    elapsed, job = job_over_http(os.path.join(build, "signer"),
                                                 f"sqlite:{store}", f"{tmp}/keys.csv", tmp,
                                                 batch_size, None,
                                                 watch=peak_memory(args.interval, peak))
                    assert job["records_signed"] == args.records, job
                    print(f"{build:<40} {batch_size:>10,} {job['batches']:>8,} "
                          f"{args.records / elapsed:>10,.0f} {peak['RssAnon'] / 1024:>10.1f} "
                          f"{peak['VmHWM'] / 1024:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
