#!/usr/bin/env python3
"""Scale run: loading, a job and GET /stats at growing store sizes, each against raw signing.

For every size N (--sizes, default 100k, 1M and 10M records), on a fresh store:
  1. raw libsecp256k1 signatures/s on all cores (build/release/sign_rate, bare mode, 3 s);
  2. `signer load --count N`: records/s, CPU, peak RSS and bytes written (that process's rusage);
  3. `signer serve`: GET /stats five times (latency), then POST /records of --post-records more
     records (random ids, NDJSON bodies of --post-request records each): records/s;
  4. GET /sign/BATCH?wait=true over all N + post-records records: records/s and its ratio to the
     mean of raw signing before (1) and after (6); then GET /stats five times again;
  5. the server's peak RSS (VmHWM) and the store's disk use (files of the database and its WAL);
  6. raw signing again.
At the end each rate at size N is set against the rate at the first size (the issue 21 target:
loading and the job at 10M within 10% of 100k).

--store pg runs the same on PostgreSQL with --pods pods behind nginx (scripts/cluster.sh, a fresh
database per size): the load goes to the database, POST /records and GET /stats to the load
balancer, the job to pod 0; RSS is the largest pod's, disk use the database's data directory,
and the job's CPU that of the pods, PostgreSQL and nginx together (all on the same cores here).
The 100M-record SQLite run is documented as a manual run (docs/PERFORMANCE.md, "The 100M-record
run"): it needs about 70 GB of disk (the store and the load's sorted runs) and about 45 minutes.

--plot PREFIX writes PREFIX-records-per-second.png and PREFIX-rss.png (bench/charts.py).
--pollers N (SQLite) keeps N status pages' worth of GET /stats going during every job, one a
second each as the page polls, and reports their p50 and p99 (issue 21: 10 pages at 10M, p99
under 20 ms). --json PATH writes every figure. --workdir DIR holds the stores (default: a temp dir in TMPDIR).
Usage: bench/scale_run.py [--sizes 100000,1000000,10000000] [--store sqlite|pg] [--pods 3]
                          [--batch-size 10000] [--post-records 100000] [--post-request 10000]
                          [--plot docs/img/scale-embedded] [--json OUT] [--build DIR]
                          [--pollers 10]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import charts
from cluster_job import cpu_of, cpu_seconds
from embedded_job import free_port, wait_ready

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Raw:
    """build/release/sign_rate kept running: raw signatures/s on all cores, on demand."""

    def __init__(self, build):
        self.proc = subprocess.Popen([os.path.join(build, "sign_rate")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.library = self.proc.stdout.readline().split()[1:]  # version, linkage, current|old

    def rate(self, seconds=3.0):
        """(signatures per second, CPU microseconds per signature) on all cores."""
        self.proc.stdin.write(f"run bare {os.cpu_count() or 1} {int(seconds * 1000)}\n")
        self.proc.stdin.flush()
        n, wall_ns, cpu_ns = (int(v) for v in self.proc.stdout.readline().split())
        return n / (wall_ns / 1e9), cpu_ns / 1e3 / n

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def run_measured(argv, env=None):
    """Runs argv to its end; returns (seconds, that process's figures: cpu_s and written_bytes from
    its own rusage, maxrss_mb its peak RSS). The rusage's ru_maxrss is not that peak: the kernel
    carries the forked child's high-water mark over its exec, and that child was a copy of this
    Python process (80 MB at 10M records, which is what earlier runs reported as the load's RSS).
    So VmHWM, which the exec'd program starts anew, is read from /proc every 20 ms until it
    ends."""
    with tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        peak, done = [0.0], threading.Event()

        def sample():
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], vm_hwm_mb(proc.pid))
                except (OSError, AttributeError):  # gone, or a zombie without VmHWM
                    pass
                done.wait(0.02)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        sampler.join()
        elapsed = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): "
                             f"{err.read()[-2000:].decode(errors='replace')}")
    return elapsed, {"cpu_s": usage.ru_utime + usage.ru_stime,
                     "written_bytes": usage.ru_oublock * 512, "maxrss_mb": peak[0]}


class Api:
    """Requests to 127.0.0.1:port, with a bearer token when there is one. Each on a connection
    of its own, as curl makes them: on a kept-alive connection cpp-httplib's server (which does
    not set TCP_NODELAY) and Python's client met Nagle's algorithm and delayed ACKs, and every
    GET /stats took 44 ms whatever the store's size."""

    def __init__(self, port, token=None):
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method, path, body=None, content_type=None):
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=7200)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status >= 300:
            raise SystemExit(f"{method} {path}: {resp.status} {data[:500]!r}")
        return json.loads(data)


def stats_latency(api, times=5):
    """Milliseconds of `times` GET /stats in a row: (median, max), and the last answer."""
    ms, last = [], None
    for _ in range(times):
        start = time.monotonic()
        last = api.call("GET", "/stats")
        ms.append((time.monotonic() - start) * 1000)
    return statistics.median(ms), max(ms), last


def latency_summary(ms):
    """(count, median, p99, max) of latencies in milliseconds; the p99 by nearest rank."""
    ms = sorted(ms)
    return len(ms), statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))], ms[-1]


class Pollers:
    """`count` threads that each GET /stats once a second, as an open status page does, until
    stopped; the latencies of every poll, in milliseconds."""

    def __init__(self, api, count):
        self.api, self.ms, self.stop = api, [], threading.Event()
        self.threads = [threading.Thread(target=self._poll, daemon=True) for _ in range(count)]
        for t in self.threads:
            t.start()

    def _poll(self):
        while not self.stop.is_set():
            start = time.monotonic()
            self.api.call("GET", "/stats")
            self.ms.append((time.monotonic() - start) * 1000)
            self.stop.wait(max(0.0, 1.0 - (time.monotonic() - start)))

    def finish(self):
        """Stops the pollers; returns latency_summary of their polls, or None with no poll."""
        self.stop.set()
        for t in self.threads:
            t.join()
        return latency_summary(self.ms) if self.ms else None


def post_records(api, count, per_request):
    """POSTs `count` fresh random records in NDJSON bodies of `per_request`; returns records/s."""
    bodies = []
    for start in range(0, count, per_request):
        n = min(per_request, count - start)
        ids = [uuid.uuid4().hex for _ in range(n)]
        bodies.append("".join(f'{{"id":"{i}","msg":"{i}"}}\n' for i in ids).encode())
    begin = time.monotonic()
    accepted = 0
    for body in bodies:
        accepted += api.call("POST", "/records", body, "application/x-ndjson")["accepted"]
    elapsed = time.monotonic() - begin
    if accepted != count:
        raise SystemExit(f"POST /records accepted {accepted} of {count}")
    return count / elapsed


def with_descendants(pids):
    """`pids` and every process below them (a postmaster's backends, nginx's workers)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found = set(pids)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def vm_hwm_mb(pid):
    text = open(f"/proc/{pid}/status").read()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", text, re.M).group(1)) / 1024


def disk_bytes(paths):
    total = 0
    for path in paths:
        if os.path.isdir(path):
            for root, _, files in os.walk(path):
                total += sum(os.path.getsize(os.path.join(root, f)) for f in files
                             if os.path.exists(os.path.join(root, f)))
        elif os.path.exists(path):
            total += os.path.getsize(path)
    return total


def serve_sqlite(signer, store, d):
    """`signer serve` on `store` with the keys and clients file in `d`, logging to d/serve.log;
    returns (process, port) once it is ready."""
    port = free_port()
    server = subprocess.Popen([signer, "serve", "--store", store, "--keys", f"{d}/keys.csv",
                               "--clients", f"{d}/clients.json", "--host", "127.0.0.1",
                               "--port", str(port), "--log-level", "warn"],
                              stdout=subprocess.DEVNULL, stderr=open(f"{d}/serve.log", "w"))
    wait_ready(f"http://127.0.0.1:{port}")
    return server, port


def sqlite_size(signer, n, args, raw, work):
    """One size on a fresh SQLite store; returns a dict of figures."""
    d = os.path.join(work, f"sqlite-{n}")
    os.makedirs(d)
    store = f"sqlite:{d}/store.db"
    subprocess.run([signer, "keygen", "--count", "8", "--out", d], check=True, capture_output=True)
    token = subprocess.run([signer, "client", "add", "--clients", f"{d}/clients.json", "--name",
                            "bench", "--roles", "ingest,sign,read"], check=True,
                           capture_output=True, text=True).stdout.strip()
    r = {"records": n}
    r["raw_before"], r["raw_cpu_us_before"] = raw.rate()
    elapsed, usage = run_measured(
        [signer, "load", "--count", str(n), "--store", store, "--spool-dir", d])
    r.update(load_rate=n / elapsed, load_s=elapsed, load_cpu_us=usage["cpu_s"] / n * 1e6,
             load_written_per_record=usage["written_bytes"] / n, load_rss_mb=usage["maxrss_mb"])
    server, port = serve_sqlite(signer, store, d)
    try:
        api = Api(port, token)
        r["stats_ms_before"], r["stats_ms_before_max"], _ = stats_latency(api)
        r["post_rate"] = post_records(api, args.post_records, args.post_request)
        total = n + args.post_records
        cpu_before = cpu_seconds(server.pid)
        pollers = Pollers(api, args.pollers) if args.pollers else None
        start = time.monotonic()
        job = api.call("GET", f"/sign/{args.batch_size}?wait=true")
        r["job_s"] = time.monotonic() - start
        if pollers:
            polled = pollers.finish()
            if polled:
                r["polls"], r["poll_ms_p50"], r["poll_ms_p99"], r["poll_ms_max"] = polled
        r["job_cpu_us"] = (cpu_seconds(server.pid) - cpu_before) / total * 1e6
        if job["state"] != "succeeded" or job["records_signed"] != total:
            raise SystemExit(f"job at {n}: {job}")
        r["job_rate"] = total / r["job_s"]
        r["stats_ms_after"], r["stats_ms_after_max"], stats = stats_latency(api)
        assert stats["signed_records"] == total and stats["unsigned_records"] == 0, stats
        r["serve_rss_mb"] = vm_hwm_mb(server.pid)
        r["disk_bytes"] = disk_bytes([f"{d}/store.db", f"{d}/store.db-wal", f"{d}/store.db-shm"])
    finally:
        server.terminate()
        server.wait(timeout=120)
    r["raw_after"], r["raw_cpu_us_after"] = raw.rate()
    shutil.rmtree(d)
    return r


def pg_size(signer, n, args, raw, work):
    """One size on PostgreSQL with args.pods pods behind nginx (scripts/cluster.sh)."""
    cdir = os.path.join(work, f"pg-{n}")
    base, lb = 18500, 18490
    env = dict(os.environ, CLUSTER_DIR=cdir, CLUSTER_STORE="postgres", CLUSTER_PG_PORT="15632",
               CLUSTER_BASE_PORT=str(base), CLUSTER_LB_PORT=str(lb), SIGNER_BIN=signer,
               CLUSTER_SIGNER_ARGS=args.pod_args)
    script = os.path.join(REPO, "scripts/cluster.sh")
    r = {"records": n}
    r["raw_before"], r["raw_cpu_us_before"] = raw.rate()
    up = subprocess.run([script, "up", str(args.pods)], check=True, env=env, capture_output=True,
                        text=True).stdout
    try:
        url = re.search(r"^STORE_URL=(\S+)$", up, re.M).group(1)
        pg_dir = os.path.realpath(os.path.join(cdir, "postgres"))
        load_env = dict(os.environ, BS_PG_PASSWORD_FILE=f"{pg_dir}/password")
        elapsed, usage = run_measured(
            [signer, "load", "--count", str(n), "--store", url, "--spool-dir", work], load_env)
        r.update(load_rate=n / elapsed, load_s=elapsed, load_cpu_us=usage["cpu_s"] / n * 1e6,
                 load_written_per_record=usage["written_bytes"] / n,
                 load_rss_mb=usage["maxrss_mb"])
        api = Api(lb)
        r["stats_ms_before"], r["stats_ms_before_max"], _ = stats_latency(api)
        r["post_rate"] = post_records(api, args.post_records, args.post_request)
        total = n + args.post_records
        pods = [int(open(os.path.join(cdir, "pids", f)).read())
                for f in os.listdir(os.path.join(cdir, "pids")) if f.startswith("pod-")]
        # The job's CPU: the pods', and this cluster's PostgreSQL's and nginx's, which run on the
        # same cores (backends started during the job count too).
        roots = [int(open(f"{pg_dir}/data/postmaster.pid").readline()),
                 int(open(os.path.join(cdir, "pids", "nginx.pid")).read())]
        helpers = with_descendants(roots)
        cpu_before = cpu_of(pods) + cpu_of(helpers)
        start = time.monotonic()
        job = Api(base).call("GET", f"/sign/{args.batch_size}?wait=true")
        r["job_s"] = time.monotonic() - start
        helpers |= with_descendants(roots)
        r["job_cpu_us"] = (cpu_of(pods) + cpu_of(helpers) - cpu_before) / total * 1e6
        if job["state"] != "succeeded" or job["records_signed"] != total:
            raise SystemExit(f"job at {n}: {job}")
        r["job_rate"] = total / r["job_s"]
        r["stats_ms_after"], r["stats_ms_after_max"], stats = stats_latency(api)
        assert stats["signed_records"] == total and stats["unsigned_records"] == 0, stats
        r["serve_rss_mb"] = max(vm_hwm_mb(p) for p in pods)
        r["disk_bytes"] = disk_bytes([os.path.join(pg_dir, "data")])
    finally:
        subprocess.run([script, "down"], env=env, capture_output=True)
        shutil.rmtree(cdir, ignore_errors=True)
    r["raw_after"], r["raw_cpu_us_after"] = raw.rate()
    return r


def plot(prefix, args, results, library):
    plt = charts.require_matplotlib("--plot")
    sizes = [r["records"] for r in results]
    where = "embedded (SQLite)" if args.store == "sqlite" else \
        f"PostgreSQL, {args.pods} pods + nginx"
    note = f"{os.cpu_count()} shared cores; libsecp256k1 {library}"

    fig, ax = plt.subplots(figsize=(9, 5.4))
    raw = [(r["raw_before"] + r["raw_after"]) / 2 for r in results]
    series = [("raw signing, all cores (mean of before and after)", raw, "#C44E52", "--"),
              ("job: GET /sign?wait=true", [r["job_rate"] for r in results], "#4C72B0", "-"),
              ("signer load --count N", [r["load_rate"] for r in results], "#55A868", "-"),
              (f"POST /records ({args.post_request:,} a request)",
               [r["post_rate"] for r in results], "#8172B2", "-")]
    for label, ys, color, style in series:
        ax.plot(sizes, ys, marker="o", color=color, linestyle=style, label=label)
        for x, y in zip(sizes, ys):
            ax.annotate(f"{y:,.0f}", (x, y), xytext=(0, 6), textcoords="offset points",
                        ha="center", fontsize=8, color=color)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
    ax.set_ylim(0, max(max(s[1]) for s in series) * 1.2)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("records in the store")
    ax.set_ylabel("records/s")
    ax.set_title(f"Records/s against store size, {where}\neach size on a fresh store, raw signing "
                 f"measured before and after it", fontsize=11)
    ax.legend(loc="lower left", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.89, bottom=0.2)
    charts.footer(fig, note)
    charts.save(fig, f"{prefix}-records-per-second.png")

    fig, ax = plt.subplots(figsize=(9, 5.4))
    for label, key, color in (("signer serve (the job), VmHWM", "serve_rss_mb", "#4C72B0"),
                              ("signer load, VmHWM", "load_rss_mb", "#55A868")):
        ys = [r[key] for r in results]
        ax.plot(sizes, ys, marker="o", color=color, label=label)
        for x, y in zip(sizes, ys):
            ax.annotate(f"{y:.0f} MB", (x, y), xytext=(0, 6), textcoords="offset points",
                        ha="center", fontsize=8, color=color)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
    ax.set_ylim(0, max(max(r["serve_rss_mb"], r["load_rss_mb"]) for r in results) * 1.4)
    ax.set_xlabel("records in the store")
    ax.set_ylabel("peak RSS (MB)")
    ax.set_title(f"Peak RSS against store size, {where}", fontsize=11)
    ax.legend(loc="lower right", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.92, bottom=0.2)
    charts.footer(fig, note)
    charts.save(fig, f"{prefix}-rss.png")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000,10000000")
    ap.add_argument("--store", choices=["sqlite", "pg"], default="sqlite")
    ap.add_argument("--pods", type=int, default=3, help="pods for --store pg")
    ap.add_argument("--pod-args", default="--concurrency 8 --chunk-size 500",
                    help="extra serve arguments of every pod (--store pg)")
    ap.add_argument("--batch-size", type=int, default=10000)
    ap.add_argument("--post-records", type=int, default=100_000)
    ap.add_argument("--post-request", type=int, default=10_000)
    ap.add_argument("--pollers", type=int, default=0,
                    help="SQLite: this many status pages' worth of GET /stats, once a second "
                         "each, during every job (their p50/p99 are reported)")
    ap.add_argument("--workdir", help="where the stores live (default: a temp dir)")
    ap.add_argument("--plot", metavar="PREFIX", help="write PREFIX-records-per-second.png and "
                                                     "PREFIX-rss.png (needs matplotlib)")
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--build", default=os.environ.get("SIGNER_BUILD_DIR")
                    or os.path.join(REPO, "build/release"))
    args = ap.parse_args()
    if args.plot:
        charts.require_matplotlib("--plot")
    signer = os.path.join(os.path.abspath(args.build), "signer")
    sizes = [int(s) for s in args.sizes.split(",")]
    raw = Raw(os.path.abspath(args.build))
    library = f"{raw.library[0]} ({raw.library[1]})" + \
        ("" if raw.library[2] == "current" else ", OLD")
    work = args.workdir or tempfile.mkdtemp(prefix="signer-scale-")
    os.makedirs(work, exist_ok=True)
    load = open("/proc/loadavg").read().split()[:3]
    print(f"libsecp256k1 {library}; store {args.store}"
          + (f", {args.pods} pods" if args.store == "pg" else "")
          + f"; batch size {args.batch_size:,}; POST {args.post_records:,} records in requests of "
            f"{args.post_request:,}; load average {' '.join(load)} at start", flush=True)
    results = []
    try:
        for n in sizes:
            run = sqlite_size if args.store == "sqlite" else pg_size
            r = run(signer, n, args, raw, work)
            r["raw"] = (r["raw_before"] + r["raw_after"]) / 2
            r["job_ratio"] = r["job_rate"] / r["raw"]
            # CPU per record of the job against CPU per signature of raw signing: what the ratio
            # would be with every core busy, which a shared machine disturbs less.
            r["raw_cpu_us"] = (r["raw_cpu_us_before"] + r["raw_cpu_us_after"]) / 2
            r["job_cpu_ratio"] = r["raw_cpu_us"] / r["job_cpu_us"]
            r["loadavg_end"] = open("/proc/loadavg").read().split()[0]
            results.append(r)
            print(f"{n:>11,}: load {r['load_rate']:,.0f}/s ({r['load_cpu_us']:.1f} CPU-us and "
                  f"{r['load_written_per_record']:,.0f} B written a record, RSS "
                  f"{r['load_rss_mb']:.0f} MB); POST {r['post_rate']:,.0f}/s; job "
                  f"{r['job_rate']:,.0f}/s = {r['job_ratio']:.3f} of raw {r['raw']:,.0f}/s "
                  f"({r['raw_before']:,.0f} before, {r['raw_after']:,.0f} after), "
                  f"{r['job_cpu_us']:.1f} CPU-us a record against {r['raw_cpu_us']:.1f} a "
                  f"signature = {r['job_cpu_ratio']:.3f}; /stats "
                  f"{r['stats_ms_before']:.1f} ms before the job, {r['stats_ms_after']:.1f} ms "
                  f"after; serve RSS {r['serve_rss_mb']:.0f} MB; disk "
                  f"{r['disk_bytes'] / 1e6:,.0f} MB; load average {r['loadavg_end']}", flush=True)
            if "polls" in r:
                print(f"{'':>13}{args.pollers} pollers during the job: {r['polls']} GET /stats, "
                      f"p50 {r['poll_ms_p50']:.1f} ms, p99 {r['poll_ms_p99']:.1f} ms, max "
                      f"{r['poll_ms_max']:.1f} ms", flush=True)
    finally:
        raw.close()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    print("\n| records | load (records/s) | POST /records (records/s) | job (records/s) | "
          "job / raw | job / raw, CPU per record | GET /stats before / after the job | "
          "peak RSS serve / load | disk |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['records']:,} | {r['load_rate']:,.0f} | {r['post_rate']:,.0f} | "
              f"{r['job_rate']:,.0f} | {r['job_ratio']:.3f} | {r['job_cpu_ratio']:.3f} | "
              f"{r['stats_ms_before']:.1f} / "
              f"{r['stats_ms_after']:.1f} ms | {r['serve_rss_mb']:.0f} / {r['load_rss_mb']:.0f} MB"
              f" | {r['disk_bytes'] / 1e6:,.0f} MB |")
    first = results[0]
    print(f"\nagainst {first['records']:,} records (target: within 10% at 10M):")
    for r in results[1:]:
        print(f"  {r['records']:>11,}: load {r['load_rate'] / first['load_rate']:.3f}, POST "
              f"{r['post_rate'] / first['post_rate']:.3f}, job {r['job_rate'] / first['job_rate']:.3f}"
              f" (job / raw {r['job_ratio'] / first['job_ratio']:.3f}), serve RSS "
              f"{r['serve_rss_mb'] / first['serve_rss_mb']:.2f}x")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"library": library, "store": args.store, "results": results}, out,
                      indent=1)
    if args.plot:
        plot(args.plot, args, results, library)


if __name__ == "__main__":
    sys.exit(main())
