#!/usr/bin/env python3
"""Cluster-mode benchmark on FerretDB, in the same run as the embedded figure.

Measures records/s of a --records job (only the sign phase is timed) for:
  embedded   SQLite, one process, in-process batches;
  mongo-1    FerretDB + 1 pod behind nginx (scripts/cluster.sh up 1);
  mongo-3    FerretDB + 3 pods behind nginx (scripts/cluster.sh up 3);
plus raw libsecp256k1 signatures/s on all cores, and, from each pod's /metrics, where the time
went: seconds spent in store operations (by op) against seconds of batch wall time, next to the
CPU seconds the signatures themselves need (records / raw single-core rate).
Every pod gets `--concurrency` and `--chunk-size` (defaults: 2 batches in flight, chunks of
4,000). FerretDB scans the whole collection for every query, so a chunk at least as large as a
batch means one read per batch, and two scans in flight keep both cores busy without the
60 s socket timeouts that 8 concurrent scans of 100k documents ran into.
Usage: bench/cluster_job.py [--records 100000] [--batch-size 2000] [--concurrency 2]
                            [--chunk-size 4000]
"""
import argparse
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGNER = os.path.join(REPO, "build/release/signer")


def get(url, timeout=900):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def metric_sums(text):
    """Sums of store operation seconds by op and of batch seconds, from Prometheus text."""
    store, batch = {}, 0.0
    for line in text.splitlines():
        m = re.match(r'signer_store_operation_seconds_sum\{op="([^"]+)"\} (\S+)', line)
        if m:
            store[m.group(1)] = store.get(m.group(1), 0) + float(m.group(2))
        m = re.match(r"signer_batch_duration_seconds_sum(?:\{\})? (\S+)", line)
        if m:
            batch += float(m.group(1))
    return store, batch


def raw_rate():
    threads = os.cpu_count() or 1
    out = subprocess.run(
        [os.path.join(REPO, "build/release/sign_path_bench"),
         f"--benchmark_filter=BareSignRecoverable/real_time/threads:{threads}$",
         "--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true",
         "--benchmark_format=json"], check=True, capture_output=True, text=True).stdout
    return next(b["items_per_second"] for b in json.loads(out)["benchmarks"]
                if b.get("aggregate_name") == "median")


def embedded(records, batch_size, tmp):
    store = f"sqlite:{tmp}/embedded.db"
    subprocess.run([SIGNER, "keygen", "--count", "4", "--out", f"{tmp}/ek"], check=True,
                   capture_output=True)
    subprocess.run([SIGNER, "load", "--count", str(records), "--store", store], check=True,
                   capture_output=True)
    start = time.monotonic()
    subprocess.run([SIGNER, "sign", "--batch-size", str(batch_size), "--progress", "never",
                    "--store", store, "--keys", f"{tmp}/ek/keys.csv", "--log-level", "warn"],
                   check=True, capture_output=True)
    return records / (time.monotonic() - start)


def cluster(pods, records, batch_size, pod_args, tmp):
    env = dict(os.environ, CLUSTER_DIR=f"{tmp}/cluster-{pods}", CLUSTER_MONGO_PORT="27417",
               CLUSTER_BASE_PORT="18300", CLUSTER_LB_PORT="18290", CLUSTER_SIGNER_ARGS=pod_args)
    script = os.path.join(REPO, "scripts/cluster.sh")
    subprocess.run([script, "up", str(pods)], check=True, env=env, capture_output=True)
    try:
        mongo = "mongodb://127.0.0.1:27417/"
        subprocess.run([SIGNER, "load", "--count", str(records), "--store", mongo], check=True,
                       capture_output=True)
        start = time.monotonic()
        job = json.loads(get(f"http://127.0.0.1:18300/sign/{batch_size}?wait=true"))
        elapsed = time.monotonic() - start
        assert job["state"] == "succeeded" and job["records_signed"] == records, job
        store, batch = {}, 0.0
        for i in range(pods):
            s, b = metric_sums(get(f"http://127.0.0.1:{18300 + i}/metrics"))
            for k, v in s.items():
                store[k] = store.get(k, 0) + v
            batch += b
        return records / elapsed, store, batch, elapsed
    finally:
        subprocess.run([script, "down"], env=env, capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--chunk-size", type=int, default=4000)
    args = ap.parse_args()
    pod_args = f"--concurrency {args.concurrency} --chunk-size {args.chunk_size}"
    with tempfile.TemporaryDirectory() as tmp:
        raw = raw_rate()
        emb = embedded(args.records, args.batch_size, tmp)
        results = {n: cluster(n, args.records, args.batch_size, pod_args, tmp) for n in (1, 3)}
    cores = os.cpu_count() or 1
    sign_cpu = args.records / (raw / cores)
    print(f"{args.records:,} records, batch size {args.batch_size:,}; pods run with {pod_args}")
    print(f"raw libsecp256k1 signatures/s (all cores): {raw:,.0f}; the signatures of one job "
          f"need {sign_cpu:.1f} CPU-seconds")
    print(f"embedded (SQLite)   {emb:10,.0f} records/s   ratio to raw {emb / raw:.3f}")
    for n, (rate, store, batch, elapsed) in results.items():
        total_store = sum(v for k, v in store.items() if k in ("read_unsigned", "move"))
        print(f"mongo, {n} pod(s)     {rate:10,.0f} records/s   ratio to raw {rate / raw:.3f}   "
              f"job {elapsed:.1f}s")
        share = total_store / batch if batch else 0.0
        print(f"    batch wall time (sum over pods) {batch:.1f}s; store time in batches "
              f"{total_store:.1f}s = {share:.1%} of it "
              f"({', '.join(f'{k} {v:.1f}s' for k, v in sorted(store.items()))})")


if __name__ == "__main__":
    main()
