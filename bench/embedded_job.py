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
  --build DIR      repeat to compare builds in one run (the before/after of a change); default
                   $SIGNER_BUILD_DIR, else build/release.
  --raw-each-run   raw signing is measured between every two job runs too, and each run gets
                   its own ratio, to the mean of the raw rates just before and after it: on a
                   machine whose speed drifts by more than the effect being measured.
  --timeline PATH.png  (with --via http) samples GET /stats every --sample-interval seconds
                   (default 0.25; with the job's bearer token when there is one) while the job
                   runs, and draws its records/s over time: the rate between samples, the rate
                   over the last second, the job's average and raw signing (bench/charts.py;
                   matplotlib from bench/requirements.txt). Each /stats also counts the store's
                   records (one SQLite count per sample), a small part of the job's work.
Usage:
  bench/embedded_job.py [--records 200000] [--batch-size 5000] [--via cli|http]
                        [--synchronous full] [--build build/release]... [--repeat N] [--skip-raw]
                        [--raw-each-run]
                        [--timeline docs/img/job-timeline-embedded.png] [--sample-interval 0.25]
"""
import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import charts

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


def sample_stats(port, headers, interval, done, samples):
    """Until `done` is set, appends (job elapsed_seconds, job records_signed) from GET /stats
    every `interval` seconds while a job is running."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/stats", headers=headers)
    while not done.wait(interval):
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                job = json.loads(resp.read()).get("job")
        except OSError:
            continue
        if job and job.get("state") == "running":
            samples.append((job["elapsed_seconds"], job["records_signed"]))


def wait_ready(base_url, attempts=400):
    """Polls base_url/readyz until it answers (up to attempts x 50 ms)."""
    for _ in range(attempts):
        try:
            urllib.request.urlopen(f"{base_url}/readyz", timeout=1)
            return
        except OSError:
            time.sleep(0.05)


def job_over_http(signer, store, keys, tmp, batch_size, env, samples=None, interval=0.25,
                  watch=None):
    """Runs one job in `signer serve`; returns (seconds, job JSON). Authenticated when the build
    knows clients (issue 10). With a `samples` list, GET /stats is polled every `interval` s
    while the job runs, and (elapsed s, records signed) pairs are appended to it, the finished
    job's last. With `watch`, watch(server pid) is called once the server is ready, and the
    function it returns once the job has ended, before the server stops."""
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
    stop_watching = None
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        if watch is not None:
            stop_watching = watch(server.pid)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/sign/{batch_size}?wait=true",
                                     headers=headers)
        done = threading.Event()
        sampler = None
        if samples is not None:
            samples.append((0.0, 0))
            sampler = threading.Thread(target=sample_stats,
                                       args=(port, headers, interval, done, samples))
            sampler.start()
        try:
            start = time.monotonic()
            with urllib.request.urlopen(req, timeout=3600) as resp:
                job = json.loads(resp.read())
            elapsed = time.monotonic() - start
        finally:
            done.set()
            if sampler is not None:
                sampler.join()
        if samples is not None:
            samples.append((job["elapsed_seconds"], job["records_signed"]))
        return elapsed, job
    finally:
        if stop_watching is not None:
            stop_watching()
        server.terminate()
        server.wait(timeout=60)


def sign_job(build, args, level):
    """Loads a fresh store and times one job on it with PRAGMA synchronous=`level` (builds before
    issue 11 ignore it and run NORMAL). Returns (records/s, seconds, /stats samples or None)."""
    signer = os.path.join(build, "signer")
    env = dict(os.environ, BS_SQLITE_SYNCHRONOUS=level)
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:{tmp}/bench.db"
        subprocess.run([signer, "keygen", "--count", "8", "--out", tmp], check=True,
                       capture_output=True)
        subprocess.run([signer, "load", "--count", str(args.records), "--store", store],
                       check=True, capture_output=True, env=env)
        samples = [] if args.timeline else None
        if args.via == "http":
            elapsed, job = job_over_http(signer, store, f"{tmp}/keys.csv", tmp,
                                         args.batch_size, env, samples, args.sample_interval)
        else:
            start = time.monotonic()
            proc = subprocess.run(
                [signer, "sign", "--batch-size", str(args.batch_size), "--progress", "never",
                 "--store", store, "--keys", f"{tmp}/keys.csv", "--log-level", "warn"],
                check=True, capture_output=True, text=True, env=env)
            elapsed = time.monotonic() - start
            job = json.loads(proc.stdout)
        assert job["records_signed"] == args.records, job
    return args.records / elapsed, elapsed, samples


def window_rates(samples, window):
    """(time, records/s) over `window` seconds ending at each sample, from (time, records)."""
    out, j = [], 0
    for i in range(1, len(samples)):
        t, n = samples[i]
        while j + 1 < i and samples[j + 1][0] <= t - window:
            j += 1
        t0, n0 = samples[j]
        if t > t0:
            out.append((t, (n - n0) / (t - t0)))
    return out


def plot_timeline(path, args, timelines, raw, raw_before, raw_after, threads):
    """records/s of each job over time, with its average and the raw all-core rate."""
    plt = charts.require_matplotlib("--timeline")
    fig, ax = plt.subplots(figsize=(9, 5.4))
    colors = ["#4C72B0", "#55A868", "#8172B2", "#CCB974", "#64B5CD"]
    for i, (label, samples, rate) in enumerate(timelines):
        color = colors[i % len(colors)]
        # Rate between consecutive samples, none closer than half an interval (the job's last
        # sample can come just after the last running one).
        steps = window_rates(samples, args.sample_interval / 2)
        ax.plot([t for t, _ in steps], [r for _, r in steps], color=color, alpha=0.35,
                linewidth=0.8, drawstyle="steps-pre",
                label=f"{label}between samples ({args.sample_interval:g} s)")
        second = window_rates(samples, 1.0)
        ax.plot([t for t, _ in second], [r for _, r in second], color=color, linewidth=2,
                label=f"{label}over the last second")
        ax.axhline(rate, color=color, linestyle=":", linewidth=1.5,
                   label=f"{label}job average {rate:,.0f}/s"
                         + (f" = {rate / raw:.3f} of raw" if raw else ""))
    if raw:
        ax.axhline(raw, color="#C44E52", linestyle="--", linewidth=1.5,
                   label=f"raw libsecp256k1, {threads} threads: {raw:,.0f}/s "
                         f"(band: before {raw_before:,.0f}, after {raw_after:,.0f})")
        ax.axhspan(min(raw_before, raw_after), max(raw_before, raw_after), color="#C44E52",
                   alpha=0.08, linewidth=0)
    ax.set_xlim(left=0)
    ax.set_ylim(0, max([raw or 0, raw_before or 0, raw_after or 0] + [r for _, s, _ in timelines for _, r in window_rates(s, 1.0)])
                * 1.25)
    ax.set_xlabel("seconds since the job started (the job's own elapsed_seconds)")
    ax.set_ylabel("records signed per second")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title(f"Embedded job in signer serve over time ({args.records:,} records, batch size "
                 f"{args.batch_size:,})\nrecords_signed from GET /stats every "
                 f"{args.sample_interval:g} s; it grows when a batch ends", fontsize=11)
    ax.legend(loc="lower center", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.89, bottom=0.19)
    charts.footer(fig, f"{os.cpu_count()} shared cores: compare ratios, not records/s")
    charts.save(fig, path)


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
    ap.add_argument("--raw-each-run", action="store_true",
                    help="measure raw signing between every two job runs as well, and give each "
                         "run's ratio to the mean of the raw rates just before and after it")
    ap.add_argument("--build", action="append",
                    help="build dir (repeat to compare builds in one run; default "
                         "$SIGNER_BUILD_DIR, else build/release)")
    ap.add_argument("--timeline", metavar="PATH.png",
                    help="with --via http: sample GET /stats during each job and chart records/s "
                         "over time (needs matplotlib)")
    ap.add_argument("--sample-interval", type=float, default=0.25,
                    help="seconds between GET /stats samples for --timeline")
    args = ap.parse_args()
    if args.timeline:
        if args.via != "http":
            raise SystemExit("--timeline samples GET /stats of `signer serve`: add --via http")
        charts.require_matplotlib("--timeline")  # fail now, not after the benchmarks
    builds = args.build or [os.environ.get("SIGNER_BUILD_DIR") or os.path.join(REPO, "build/release")]
    levels = [level.strip() for level in args.synchronous.split(",") if level.strip()]
    for level in levels:
        if level not in ("normal", "full"):
            raise SystemExit(f"--synchronous: {level!r} is not normal or full")

    raw_before, threads = (None, 0) if args.skip_raw else raw_all_core_rate(builds[-1])
    # Builds and levels take turns, `--repeat` times, so that drift in the machine's speed
    # falls on all of them alike; each figure is the median of its runs.
    runs = {(build, level): [] for build in builds for level in levels}
    # --raw-each-run: each run's ratio to the raw signing measured seconds before and after it,
    # so that a machine whose speed drifts within the benchmark moves both sides alike.
    raws = [raw_before]
    paired = {key: [] for key in runs}
    for _ in range(args.repeat):
        for key in runs:
            runs[key].append(sign_job(key[0], args, key[1]))
            if args.raw_each_run and not args.skip_raw:
                raws.append(raw_all_core_rate(builds[-1])[0])
                paired[key].append(runs[key][-1][0] / ((raws[-2] + raws[-1]) / 2))
    rates = {key: sorted(values, key=lambda run: run[0])[len(values) // 2][:2]
             for key, values in runs.items()}
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    raw = None
    if not args.skip_raw:
        if len(raws) == 1:  # no raw between runs: measure once after them all
            raws.append(raw_all_core_rate(builds[-1])[0])
        raw_after = raws[-1]
        raw = statistics.mean(raws)
    print(f"records                      {args.records}")
    print(f"batch size                   {args.batch_size}")
    print(f"job run by                   "
          f"{'signer serve, GET /sign?wait=true' if args.via == 'http' else 'signer sign'}")
    if raw is not None:
        print(f"raw signatures/s ({threads} threads)  {raw:,.0f}  "
              f"(before {raw_before:,.0f}, after {raw_after:,.0f}"
              f"{f'; mean of {len(raws)} measurements' if len(raws) > 2 else ''})")
    for (build, level), (e2e, elapsed) in rates.items():
        print(f"[{build}] synchronous={level}")
        spread = ", ".join(f"{run[0]:,.0f}" for run in runs[(build, level)])
        print(f"  end-to-end records/s       {e2e:,.0f}  ({elapsed:.2f} s; runs: {spread})")
        if raw is not None:
            print(f"  ratio end-to-end / raw     {e2e / raw:.3f}  (target >= 0.5)")
        if paired[(build, level)]:
            each = sorted(paired[(build, level)])
            print(f"  ratio to the raw around each run: median {each[len(each) // 2]:.3f} "
                  f"(runs: {', '.join(f'{r:.3f}' for r in paired[(build, level)])})")
    for build in builds:
        if (build, "normal") in rates and (build, "full") in rates:
            ratio = rates[(build, "full")][0] / rates[(build, "normal")][0]
            print(f"[{build}] full / normal records/s  {ratio:.3f}")
    print(f"peak RSS of any child        {peak_rss_mb:.0f} MB")
    if args.timeline:
        timelines = []
        for (build, level), values in runs.items():
            for i, (rate, _, samples) in enumerate(values):
                label = ""
                if len(runs) > 1:
                    label += f"{os.path.basename(build.rstrip('/'))} {level} "
                if len(values) > 1:
                    label += f"run {i + 1} "
                timelines.append((label + ("— " if label else ""), samples, rate))
                second = [r for _, r in window_rates(samples, 1.0)]
                if second:
                    print(f"timeline {label}{len(samples) - 2} samples of GET /stats; records/s "
                          f"over the last second: min {min(second):,.0f}, median "
                          f"{sorted(second)[len(second) // 2]:,.0f}, max {max(second):,.0f}")
        sys.stdout.flush()
        plot_timeline(args.timeline, args, timelines, raw,
                      raw_before if raw else None, raw_after if raw else None, threads)


if __name__ == "__main__":
    sys.exit(main())
