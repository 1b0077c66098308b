#!/usr/bin/env python3
"""Cluster-mode benchmark on PostgreSQL and FerretDB, in the same run as the embedded figure.

Measures records/s of a --records job (only the sign phase is timed) for:
  embedded   SQLite, one process, in-process batches;
  pg-1       PostgreSQL + 1 pod behind nginx (CLUSTER_STORE=postgres scripts/cluster.sh up 1);
  pg-3       PostgreSQL + 3 pods behind nginx;
  mongo-1    FerretDB + 1 pod behind nginx (scripts/cluster.sh up 1);
  mongo-3    FerretDB + 3 pods behind nginx (scripts/cluster.sh up 3);
  hsm        with --hsm: the embedded job signing with keys on a SoftHSM2 token (scripts/softhsm.sh,
             a key config of `source: pkcs11` entries, `signer sign --key-config`), on
             --hsm-records records (SoftHSM2 signs 1.5k-5k/s here, so fewer than the others);
plus raw libsecp256k1 signatures/s on all cores (before and after the jobs, averaged), and,
from each pod's /metrics, where the time went: seconds spent in store operations (by op)
against seconds of batch wall time, next to the CPU seconds the signatures themselves need
(records / raw single-core rate). For each cluster
run it also reads, from /proc, the CPU seconds the pods and the database server used during the
job, per record: the inputs of the capacity model in docs/PERFORMANCE.md.
Every pod gets `--concurrency` and `--chunk-size` (defaults: 2 batches in flight, chunks of
4,000). FerretDB scans the whole collection for every query, so a chunk at least as large as a
batch means one read per batch, and two scans in flight keep both cores busy without the
60 s socket timeouts that 8 concurrent scans of 100k documents ran into.
--plot PATH.png draws records/s by configuration as a bar chart (bench/charts.py; matplotlib from
bench/requirements.txt), raw signing as a horizontal line, each bar labelled with its ratio to raw.
--build DIR (default $SIGNER_BUILD_DIR, else build/release) is where signer and sign_path_bench are.
Usage: bench/cluster_job.py [--records 100000] [--batch-size 2000] [--concurrency 2]
                            [--chunk-size 4000] [--stores pg,mongo] [--pods 1,3]
                            [--hsm] [--hsm-records 20000] [--hsm-keys 4]
                            [--plot docs/img/records-per-second-by-configuration.png]
                            [--build DIR]
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

import charts

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("SIGNER_BUILD_DIR") or os.path.join(REPO, "build/release")
SIGNER = os.path.join(BUILD, "signer")  # set again by main() from --build


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
        [os.path.join(BUILD, "sign_path_bench"),
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
    out = subprocess.run([SIGNER, "sign", "--batch-size", str(batch_size), "--progress", "never",
                          "--store", store, "--keys", f"{tmp}/ek/keys.csv", "--log-level", "warn"],
                         check=True, capture_output=True, text=True).stdout
    elapsed = time.monotonic() - start
    job = json.loads(out)
    assert job["records_signed"] == records, job
    return records / elapsed, elapsed


def hsm_embedded(records, batch_size, keys, tmp):
    """The embedded job with its keys on a SoftHSM2 token of its own (as "A whole job on HSM
    keys" in docs/PERFORMANCE.md does by hand). Returns (records/s, seconds)."""
    hsm = f"{tmp}/hsm"
    os.makedirs(hsm)
    pin = f"{hsm}/pin"
    with open(os.open(pin, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(os.urandom(8).hex() + "\n")
    labels = [f"k{i}" for i in range(keys)]
    softhsm = os.path.join(REPO, "scripts/softhsm.sh")
    out = subprocess.run([softhsm, "init", f"{hsm}/token", "bench", pin, *labels], check=True,
                         capture_output=True, text=True).stdout
    conf = re.search(r"^SOFTHSM2_CONF=(\S+)$", out, re.M).group(1)
    module = subprocess.run([softhsm, "module"], check=True, capture_output=True,
                            text=True).stdout.strip()
    with open(f"{hsm}/keys.yaml", "w") as f:
        f.write("keys:\n")
        for label in labels:
            f.write(f"  - {{source: pkcs11, module: {module}, token: bench, key_label: {label}, "
                    f"pin_file: {pin}}}\n")
    env = dict(os.environ, SOFTHSM2_CONF=conf)
    store = f"sqlite:{hsm}/hsm.db"
    subprocess.run([SIGNER, "load", "--count", str(records), "--store", store], check=True,
                   capture_output=True)
    start = time.monotonic()
    out = subprocess.run([SIGNER, "sign", "--batch-size", str(batch_size), "--progress", "never",
                          "--store", store, "--key-config", f"{hsm}/keys.yaml",
                          "--log-level", "warn"],
                         check=True, capture_output=True, text=True, env=env).stdout
    elapsed = time.monotonic() - start
    job = json.loads(out)
    assert job["records_signed"] == records, job
    return records / elapsed, elapsed


def cpu_seconds(pid):
    """utime + stime of one process, from /proc (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def processes_named(name, prefix=False):
    """Pids of the processes whose command name is `name` (or starts with it, with prefix)."""
    pids = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.find("(") + 1:text.rfind(")")]
        if comm == name or (prefix and comm.startswith(name)):
            pids.append(int(stat.split("/")[2]))
    return pids


def cpu_of(pids):
    return sum(cpu_seconds(p) for p in pids)


def cluster(store, pods, records, batch_size, pod_args, tmp):
    cdir = f"{tmp}/cluster-{store}-{pods}"
    env = dict(os.environ, CLUSTER_DIR=cdir, CLUSTER_MONGO_PORT="27417", CLUSTER_PG_PORT="15532",
               CLUSTER_STORE="postgres" if store == "pg" else "ferretdb",
               CLUSTER_BASE_PORT="18300", CLUSTER_LB_PORT="18290", CLUSTER_SIGNER_ARGS=pod_args,
               SIGNER_BIN=SIGNER)
    script = os.path.join(REPO, "scripts/cluster.sh")
    up = subprocess.run([script, "up", str(pods)], check=True, env=env, capture_output=True,
                        text=True).stdout
    try:
        url = re.search(r"^STORE_URL=(\S+)$", up, re.M).group(1)
        load_env = dict(os.environ)
        if store == "pg":
            load_env["BS_PG_PASSWORD_FILE"] = f"{cdir}/postgres/password"
        subprocess.run([SIGNER, "load", "--count", str(records), "--store", url], check=True,
                       capture_output=True, env=load_env)
        pod_pids = [int(open(p).read()) for p in glob.glob(f"{cdir}/pids/pod-*.pid")]
        db_pids = processes_named("postgres" if store == "pg" else "ferretdb")
        pods_before, db_before = cpu_of(pod_pids), cpu_of(db_pids)
        start = time.monotonic()
        job = json.loads(get(f"http://127.0.0.1:18300/sign/{batch_size}?wait=true"))
        elapsed = time.monotonic() - start
        # Backends started during the job (one per pod connection) count too.
        db_pids = set(db_pids) | set(processes_named("postgres" if store == "pg" else "ferretdb"))
        pods_cpu = cpu_of(pod_pids) - pods_before
        db_cpu = cpu_of(db_pids) - db_before
        assert job["state"] == "succeeded" and job["records_signed"] == records, job
        store_s, batch = {}, 0.0
        for i in range(pods):
            s, b = metric_sums(get(f"http://127.0.0.1:{18300 + i}/metrics"))
            for k, v in s.items():
                store_s[k] = store_s.get(k, 0) + v
            batch += b
        return {"rate": records / elapsed, "store": store_s, "batch": batch, "elapsed": elapsed,
                "pods_us": pods_cpu / records * 1e6, "db_us": db_cpu / records * 1e6}
    finally:
        subprocess.run([script, "down"], env=env, capture_output=True)


def plot(path, records, batch_size, raw, raw_spread, emb, hsm, results, hsm_records):
    """Bar chart of records/s by configuration, raw signing as a horizontal line."""
    plt = charts.require_matplotlib("--plot")
    cores = os.cpu_count() or 1
    bars = [("embedded\n(SQLite)", emb[0], records)]
    for store, name in (("mongo", "FerretDB"), ("pg", "PostgreSQL")):
        for (s, n), r in results.items():
            if s == store:
                bars.append((f"{name}\n{n} pod{'s' if n > 1 else ''}", r["rate"], records))
    if hsm is not None:
        bars.append(("HSM keys\n(SoftHSM2)", hsm[0], hsm_records))
    fig, ax = plt.subplots(figsize=(9, 5.4))
    labels = [b[0] + ("" if b[2] == records else f"\n{b[2]:,} records") for b in bars]
    rects = ax.bar(labels, [b[1] for b in bars], color="#4C72B0", width=0.6)
    ax.axhline(raw, color="#C44E52", linestyle="--", linewidth=1.5)
    ax.axhspan(min(raw_spread), max(raw_spread), color="#C44E52", alpha=0.08, linewidth=0)
    ax.text(0.99, raw, f"raw libsecp256k1 signing, all {cores} cores: {raw:,.0f}/s (before the "
            f"jobs {raw_spread[0]:,.0f}, after {raw_spread[1]:,.0f}: the band)",
            transform=ax.get_yaxis_transform(), color="#C44E52", ha="right", va="bottom",
            fontsize=9)
    for rect, (_, rate, _) in zip(rects, bars):
        ax.annotate(f"{rate:,.0f}/s\n{rate / raw:.3f} of raw",
                    (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                    xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                    fontsize=9, bbox=dict(facecolor="white", edgecolor="none", pad=1))
    ax.set_ylim(0, max([raw, *raw_spread] + [b[1] for b in bars]) * 1.2)
    ax.set_ylabel("records/s (sign phase of one job)")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title(f"Records/s by configuration ({records:,} records, batch size {batch_size:,})"
                 f"\nevery bar and the raw line measured in one run", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.89, bottom=0.22)
    charts.footer(fig, f"{cores} shared cores: compare ratios, not records/s")
    charts.save(fig, path)


def main():
    global BUILD, SIGNER
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=2,
                    help="batches in flight per job on FerretDB (its scans need few)")
    ap.add_argument("--chunk-size", type=int, default=4000, help="chunk size on FerretDB")
    ap.add_argument("--pg-concurrency", type=int, default=8,
                    help="batches in flight per job on PostgreSQL (the cluster-mode default)")
    ap.add_argument("--pg-chunk-size", type=int, default=500,
                    help="chunk size on PostgreSQL: several chunks a batch, so a batch's moves "
                         "overlap its signing")
    ap.add_argument("--stores", default="pg,mongo",
                    help="comma-separated: pg, mongo (empty: no cluster run)")
    ap.add_argument("--pods", default="1,3", help="comma-separated pod counts")
    ap.add_argument("--hsm", action="store_true",
                    help="also the embedded job on SoftHSM2 keys (scripts/softhsm.sh)")
    ap.add_argument("--hsm-records", type=int, default=20_000,
                    help="records of the HSM job (SoftHSM2 signs 1.5k-5k/s here)")
    ap.add_argument("--hsm-keys", type=int, default=4, help="keys on the SoftHSM2 token")
    ap.add_argument("--plot", metavar="PATH.png",
                    help="write a bar chart of records/s by configuration (needs matplotlib)")
    ap.add_argument("--build", default=BUILD,
                    help="dir of signer and sign_path_bench (default $SIGNER_BUILD_DIR, else "
                         "build/release)")
    args = ap.parse_args()
    if args.plot:
        charts.require_matplotlib("--plot")  # fail now, not after the benchmarks
    BUILD = os.path.abspath(args.build)
    SIGNER = os.path.join(BUILD, "signer")
    pod_args = {"mongo": f"--concurrency {args.concurrency} --chunk-size {args.chunk_size}",
                "pg": f"--concurrency {args.pg_concurrency} --chunk-size {args.pg_chunk_size}"}
    stores = [s for s in args.stores.split(",") if s]
    pod_counts = [int(n) for n in args.pods.split(",") if n]
    with tempfile.TemporaryDirectory() as tmp:
        raw_before = raw_rate()
        emb = embedded(args.records, args.batch_size, tmp)
        hsm = (hsm_embedded(args.hsm_records, args.batch_size, args.hsm_keys, tmp)
               if args.hsm else None)
        results = {(s, n): cluster(s, n, args.records, args.batch_size, pod_args[s], tmp)
                   for s in stores for n in pod_counts}
        raw_after = raw_rate()
    raw = (raw_before + raw_after) / 2
    cores = os.cpu_count() or 1
    sign_us = cores / raw * 1e6  # CPU microseconds of one signature
    print(f"{args.records:,} records, batch size {args.batch_size:,}; pods run with "
          + "; ".join(f"{k}: {v}" for k, v in pod_args.items() if k in stores))
    print(f"raw libsecp256k1 signatures/s (all {cores} cores): {raw:,.0f} (before the jobs "
          f"{raw_before:,.0f}, after {raw_after:,.0f}); one signature costs {sign_us:.1f} CPU-us")
    print()
    print("| configuration | records/s | ratio to raw | job s | store share of batch time "
          "| pod CPU/record | DB CPU/record |")
    print("|---|---|---|---|---|---|---|")
    print(f"| embedded (SQLite) | {emb[0]:,.0f} | {emb[0] / raw:.3f} | {emb[1]:.1f} | | | |")
    if hsm is not None:
        print(f"| embedded, {args.hsm_keys} keys on SoftHSM2 ({args.hsm_records:,} records) | "
              f"{hsm[0]:,.0f} | {hsm[0] / raw:.3f} | {hsm[1]:.1f} | | | |")
    names = {"pg": "PostgreSQL", "mongo": "FerretDB"}
    for (store, n), r in results.items():
        total_store = sum(v for k, v in r["store"].items() if k in ("read_unsigned", "move"))
        share = total_store / r["batch"] if r["batch"] else 0.0
        print(f"| {names[store]}, {n} pod{'s' if n > 1 else ''} | {r['rate']:,.0f} | "
              f"{r['rate'] / raw:.3f} | {r['elapsed']:.1f} | {share:.0%} | "
              f"{r['pods_us']:.1f} us | {r['db_us']:.1f} us |")
    print()
    for (store, n), r in results.items():
        print(f"{names[store]}, {n} pod(s): store seconds by op "
              + ", ".join(f"{k} {v:.1f}s" for k, v in sorted(r["store"].items()))
              + f"; batch wall time (sum over pods) {r['batch']:.1f}s")
    sys.stdout.flush()
    if args.plot:
        plot(args.plot, args.records, args.batch_size, raw, (raw_before, raw_after), emb, hsm,
             results, args.hsm_records)


if __name__ == "__main__":
    main()
