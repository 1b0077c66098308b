#!/usr/bin/env python3
"""POST /records into a large embedded store, taking turns between builds.

For each store size N (--sizes), one store is loaded once (`signer load --count N`, with the
first build), and each turn of each build then runs on a fresh copy of it:
  1. `signer serve` on the copy: the seconds until /readyz answers (a build that changes the
     schema pays that once here);
  2. POST /records of --post-records fresh random records (UUID ids, NDJSON bodies of
     --post-request records each): records/s, and the server's CPU (/proc/PID/stat) and the
     bytes the disk holding the store wrote (/sys/dev/block/M:m/stat, the whole device, so run
     it on a quiet machine) a record, over the posts alone. Not /proc/PID/io's write_bytes: on
     this kernel (6.18, ext4 with large folios) it counted 59 KB a record where the device wrote
     8 KB, a whole folio for every 4 KiB page dirtied.
  3. then until the store's inbox (records_inbox) stops shrinking: a merge of the inbox into
     `records` that the posts set off is part of their cost, so the CPU and disk figures run to
     its end, and "settled" is the rate with it (posts / (their seconds + the merge's after them)).
Builds take turns within a size (A B A B ...), so a quiet or busy spell of the machine falls on
both. At the end each build's rate at every size is set against its rate at the first size (the
issue 21 target: POST /records at 10M within 10% of its rate at 100k).
Usage: bench/ingest_ab.py --build OLD --build NEW [--sizes 100000,10000000] [--turns 2]
                          [--post-records 200000] [--post-request 10000] [--workdir DIR]
"""
import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

from scale_run import Api, post_records, serve_sqlite


def proc_cpu_s(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def device_written(path):
    """Bytes written so far by the block device that holds `path` (its partition's counter)."""
    dev = os.stat(path).st_dev
    with open(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}/stat") as f:
        return int(f.read().split()[6]) * 512


def settle(store_path, quiet_s=3.0, timeout_s=1800.0):
    """Seconds until the store's inbox stopped shrinking: the length of a merge still running
    after the posts (0 when none is, or the build has no inbox)."""
    begin = time.monotonic()
    last_change = begin
    db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=60)

    def inbox_rows():
        try:
            return db.execute("SELECT count(*) FROM records_inbox").fetchone()[0]
        except sqlite3.OperationalError:  # no such table: a build before the inbox
            return None

    try:
        rows = inbox_rows()
        while time.monotonic() - last_change < quiet_s and time.monotonic() - begin < timeout_s:
            time.sleep(0.25)
            now = inbox_rows()
            if now != rows:
                rows, last_change = now, time.monotonic()
    finally:
        db.close()
    return last_change - begin


def prepare(signer, n, work):
    """A loaded store of n records, its keys and a client token, in work/base-n."""
    d = os.path.join(work, f"base-{n}")
    os.makedirs(d)
    subprocess.run([signer, "keygen", "--count", "8", "--out", d], check=True, capture_output=True)
    token = subprocess.run([signer, "client", "add", "--clients", f"{d}/clients.json", "--name",
                            "bench", "--roles", "ingest,sign,read"], check=True,
                           capture_output=True, text=True).stdout.strip()
    subprocess.run([signer, "load", "--count", str(n), "--store", f"sqlite:{d}/store.db",
                    "--spool-dir", d], check=True, capture_output=True)
    os.sync()
    return d, token


def turn(signer, base, token, args, work):
    d = os.path.join(work, "turn")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(base, d)
    os.sync()  # else the copy's writeback (6 GB at 10M) runs during the posts and is counted
    start = time.monotonic()
    server, port = serve_sqlite(signer, f"sqlite:{d}/store.db", d)
    ready_s = time.monotonic() - start
    try:
        api = Api(port, token)
        cpu0, written0 = proc_cpu_s(server.pid), device_written(d)
        rate = post_records(api, args.post_records, args.post_request)
        settle_s = settle(f"{d}/store.db")
        cpu_us = (proc_cpu_s(server.pid) - cpu0) / args.post_records * 1e6
        written = (device_written(d) - written0) / args.post_records
    finally:
        server.terminate()
        server.wait()
    shutil.rmtree(d)
    settled = args.post_records / (args.post_records / rate + settle_s)
    return {"ready_s": ready_s, "rate": rate, "settle_s": settle_s, "settled": settled,
            "cpu_us": cpu_us, "written": written}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="append", required=True)
    ap.add_argument("--sizes", default="100000,10000000")
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--post-records", type=int, default=200000)
    ap.add_argument("--post-request", type=int, default=10000)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    signers = [os.path.join(os.path.abspath(b), "signer") for b in args.build]
    work = tempfile.mkdtemp(prefix="ingest-ab-", dir=args.workdir)
    results = {}  # (build index, size) -> list of turn dicts
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        for n in sizes:
            base, token = prepare(signers[0], n, work)
            for t in range(args.turns):
                for i, signer in enumerate(signers):
                    r = turn(signer, base, token, args, work)
                    results.setdefault((i, n), []).append(r)
                    print(f"{n:>11,} records, build {args.build[i]}, turn {t + 1}: "
                          f"{r['rate']:>8,.0f} records/s ({r['settled']:,.0f} settled, after "
                          f"{r['settle_s']:.1f} s of merge), {r['cpu_us']:.1f} CPU-us and "
                          f"{r['written']:,.0f} bytes a record written by the disk, ready in "
                          f"{r['ready_s']:.1f} s", flush=True)
            shutil.rmtree(base)
        for key, what in (("rate", "POST /records"), ("settled", "POST /records, merge included")):
            print(f"\nmedian records/s of {what} (and against the first size):")
            for i, build in enumerate(args.build):
                first = statistics.median(r[key] for r in results[(i, sizes[0])])
                cells = []
                for n in sizes:
                    rate = statistics.median(r[key] for r in results[(i, n)])
                    cells.append(f"{n:,}: {rate:,.0f} ({rate / first:.3f}x)")
                print(f"  {build}: " + "; ".join(cells))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
