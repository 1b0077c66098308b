#!/usr/bin/env python3
"""Does watching a job slow it? A --records embedded job (SQLite, `signer serve`, started by
GET /sign/:size?wait=true with a bearer token) timed with the status page open and polling in
headless Chromium, against the same job with no browser at all, in the same run.

Three configurations take turns --repeat times on fresh stores (off, poller, page, off, …), so
that drift in the machine's speed falls on all; each figure is the median of its runs. "poller"
makes the page's requests from a thread of this script, without a browser: the signer's share. The
browser runs on the same cores as the signer here, so the figure is a worst case: an operator's
browser normally runs on another machine, and only the polls reach the signer. The script also
prints how many requests the page made during the job and the CPU seconds the browser used.

Needs the e2e test packages (Playwright) and Debian's chromium: scripts/setup.sh installs both.
Usage: bench/status_page_overhead.py [--records 100000] [--batch-size 5000] [--repeat 3]
                                     [--poll-ms 1000] [--settle 3] [--build build/release]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from cluster_job import cpu_of, processes_named
from embedded_job import free_port, wait_ready

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def http_get(url, token, timeout=3600):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read().decode()


def requests_served(metrics_text):
    """signer_http_requests_total summed by route, from a /metrics body."""
    by_route = {}
    for line in metrics_text.splitlines():
        if line.startswith("signer_http_requests_total{"):
            route = line.split('route="', 1)[1].split('"', 1)[0]
            by_route[route] = by_route.get(route, 0) + float(line.rsplit(" ", 1)[1])
    return by_route


def browser_cpu_seconds():
    """CPU seconds (user + system) of every Chromium process (chromium, chrome_crashpad…)."""
    return cpu_of(processes_named("chrom", prefix=True))


class Poller(threading.Thread):
    """The page's requests without a browser: /stats every poll_ms, /keys and /jobs every
    max(5 * poll_ms, 5 s), with the same token. Separates the signer's share of the cost from
    the browser's."""

    def __init__(self, base, token, poll_ms):
        super().__init__(daemon=True)
        self.base, self.token, self.poll_s = base, token, poll_ms / 1000
        self.slow_s = max(5 * self.poll_s, 5.0)
        self.stop = threading.Event()

    def run(self):
        next_slow = 0.0
        while not self.stop.is_set():
            http_get(f"{self.base}/stats", self.token)
            if time.monotonic() >= next_slow:
                http_get(f"{self.base}/keys", self.token)
                http_get(f"{self.base}/jobs?limit=10", self.token)
                next_slow = time.monotonic() + self.slow_s
            self.stop.wait(self.poll_s)


def one_job(signer, keys, clients, token, args, playwright, mode):
    """Loads a fresh store, starts `signer serve`, opens the page (mode "page") or polls as it
    does (mode "poller"), and times the job. Returns (records/s, polls served during the job,
    browser CPU seconds during the job)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:{tmp}/bench.db"
        subprocess.run([signer, "load", "--count", str(args.records), "--store", store],
                       check=True, capture_output=True)
        port = free_port()
        server = subprocess.Popen(
            [signer, "serve", "--store", store, "--keys", keys, "--clients", clients,
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        browser = poller = None
        try:
            wait_ready(base)
            if mode == "poller":
                poller = Poller(base, token, args.poll_ms)
                poller.start()
            if mode == "page":
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(f"{base}/?poll_ms={args.poll_ms}")
                page.fill("#token", token)
                page.click("#login-form button[type=submit]")
                page.wait_for_selector("#dashboard:not([hidden])")
            time.sleep(args.settle)  # the browser's start-up is not part of the job
            before = requests_served(http_get(f"{base}/metrics", token))
            browser_cpu = browser_cpu_seconds()
            start = time.monotonic()
            job = json.loads(http_get(f"{base}/sign/{args.batch_size}?wait=true", token))
            elapsed = time.monotonic() - start
            browser_cpu = browser_cpu_seconds() - browser_cpu
            after = requests_served(http_get(f"{base}/metrics", token))
            assert job["state"] == "succeeded" and job["records_signed"] == args.records, job
            polls = sum(after.get(r, 0) - before.get(r, 0) for r in ("/stats", "/keys", "/jobs"))
            return args.records / elapsed, polls, browser_cpu
        finally:
            if browser is not None:
                browser.close()
            if poller is not None:
                poller.stop.set()
                poller.join()
            server.terminate()
            server.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--poll-ms", type=int, default=1000,
                    help="the page's /stats interval (its default is 1000)")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds between the server's (and page's) start and the job's")
    ap.add_argument("--build", default=os.path.join(REPO, "build/release"))
    args = ap.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("error: Playwright is missing: pip install -r tests/e2e/requirements.txt",
              file=sys.stderr)
        return 2
    if not os.access(CHROMIUM, os.X_OK):
        print(f"error: no Chromium at {CHROMIUM}: apt-get install chromium", file=sys.stderr)
        return 2
    signer = os.path.join(args.build, "signer")
    names = {"off": "no browser, no polls", "poller": "the page's polls from a script",
             "page": "status page open in Chromium"}
    runs = {mode: [] for mode in names}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        subprocess.run([signer, "keygen", "--count", "8", "--out", tmp], check=True,
                       capture_output=True)
        clients = f"{tmp}/clients.json"
        token = subprocess.run([signer, "client", "add", "--clients", clients, "--name", "bench",
                                "--roles", "sign,read"], check=True, capture_output=True,
                               text=True).stdout.strip()
        for _ in range(args.repeat):
            for mode in runs:
                runs[mode].append(one_job(signer, f"{tmp}/keys.csv", clients, token, args,
                                          playwright, mode))
    rate = {mode: statistics.median(r for r, _, _ in values) for mode, values in runs.items()}
    print(f"{args.records:,} records, batch size {args.batch_size:,}, {args.repeat} runs each, "
          f"page polling /stats every {args.poll_ms} ms")
    print("| configuration | records/s (median) | runs | polls served in the job | "
          "browser CPU s |")
    print("|---|---|---|---|---|")
    for mode, name in names.items():
        spread = ", ".join(f"{r:,.0f}" for r, _, _ in runs[mode])
        polls = statistics.median(p for _, p, _ in runs[mode])
        cpu = statistics.median(c for _, _, c in runs[mode])
        print(f"| {name} | {rate[mode]:,.0f} | {spread} | {polls:.0f} | {cpu:.2f} |")
    print(f"\nratio with the page open / without: {rate['page'] / rate['off']:.3f}")
    print(f"ratio with the page's polls only (the signer's share) / without: "
          f"{rate['poller'] / rate['off']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
