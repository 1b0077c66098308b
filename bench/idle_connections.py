#!/usr/bin/env python3
"""The front door under idle and trickling connections (issue 22), in one run:
  1. the memory an idle connection costs: the server's resident set before and after --holders
     connections that send nothing, divided by their number;
  2. an embedded job of --records records through `signer serve` alone, then the same job with
     --holders connections from 50 loopback addresses (127.0.0.2 to 127.0.0.51) trickling a byte a
     second and never finishing their heads (reopened as the server cuts them off). The ratio of
     the two rates is the job's cost of the flood (target: it drops by less than 10%);
  3. during the flood, the latency of GET /stats and POST /records (one record) from 127.0.0.1:
     p50 and p99 (target p99 under 200 ms).
Jobs alternate (alone, flooded) --repeat times; the medians are reported.
Usage: bench/idle_connections.py [--records 1000000] [--holders 2000] [--repeat 3]
                                 [--build build/release]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import json

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from embedded_job import free_port, wait_ready  # noqa: E402
from test_idle_connections import ADDRESSES, Holders, rss_kb  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Server:
    def __init__(self, signer, tmp, records):
        self.signer, self.tmp = signer, tmp
        self.store = f"sqlite:{tmp}/bench.db"
        subprocess.run([signer, "keygen", "--count", "8", "--out", tmp], check=True,
                       capture_output=True)
        subprocess.run([signer, "load", "--count", str(records), "--store", self.store],
                       check=True, capture_output=True)
        self.token = subprocess.run([signer, "client", "add", "--clients", f"{tmp}/c.json",
                                     "--name", "bench", "--roles", "ingest,sign,read"],
                                    check=True, capture_output=True, text=True).stdout.strip()
        self.port = free_port()
        self.proc = subprocess.Popen(
            [signer, "serve", "--store", self.store, "--keys", f"{tmp}/keys.csv", "--clients",
             f"{tmp}/c.json", "--host", "127.0.0.1", "--port", str(self.port), "--log-level",
             "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(f"http://127.0.0.1:{self.port}")

    def request(self, path, data=None, ctype=None):
        headers = {"Authorization": f"Bearer {self.token}", "Connection": "close"}
        if ctype:
            headers["Content-Type"] = ctype
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     headers=headers)
        with urllib.request.urlopen(req, timeout=3600) as resp:
            return json.loads(resp.read())

    def reload_records(self, records):
        """A fresh store of `records` unsigned records under the same server: signs nothing,
        just moves the signed ones back by loading a new file and restarting."""
        self.stop()
        os.remove(self.store.removeprefix("sqlite:"))
        subprocess.run([self.signer, "load", "--count", str(records), "--store", self.store],
                       check=True, capture_output=True)
        self.proc = subprocess.Popen(
            [self.signer, "serve", "--store", self.store, "--keys", f"{self.tmp}/keys.csv",
             "--clients", f"{self.tmp}/c.json", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(f"http://127.0.0.1:{self.port}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def timed_job(server, records):
    start = time.monotonic()
    job = server.request("/sign/10000?wait=true")
    assert job["records_signed"] >= records, job  # probes ingest a few more meanwhile
    return records / (time.monotonic() - start)


def probe_latencies(server, stop, out):
    i = 0
    while not stop.is_set():
        t = time.monotonic()
        server.request("/stats")
        out["stats"].append(time.monotonic() - t)
        t = time.monotonic()
        server.request("/records", f'{{"id":"probe-{i}-{t}","msg":"m"}}\n'.encode(),
                       "application/x-ndjson")
        out["ingest"].append(time.monotonic() - t)
        i += 1
        time.sleep(0.05)


def pct(samples, q):
    return statistics.quantiles(samples, n=100)[q - 1] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--holders", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--build", default=os.environ.get("SIGNER_BUILD_DIR",
                                                      os.path.join(REPO, "build", "release")))
    args = ap.parse_args()
    signer = os.path.join(args.build, "signer")
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(signer, tmp, args.records)
        try:
            before = rss_kb(server.proc.pid)
            idle = Holders(server.port, args.holders, ADDRESSES, trickle=False)
            time.sleep(1)
            per_conn = (rss_kb(server.proc.pid) - before) * 1024 / args.holders
            idle.close()
            print(f"idle connection: {per_conn / 1024:.1f} KiB resident each "
                  f"({args.holders} connections)")
            alone, flooded = [], []
            latencies = {"stats": [], "ingest": []}
            for r in range(args.repeat):
                if r:
                    server.reload_records(args.records)
                alone.append(timed_job(server, args.records))
                server.reload_records(args.records)
                holders = Holders(server.port, args.holders, ADDRESSES)
                stop = threading.Event()
                prober = threading.Thread(target=probe_latencies, args=(server, stop, latencies))
                prober.start()
                try:
                    time.sleep(1)
                    flooded.append(timed_job(server, args.records))
                finally:
                    stop.set()
                    prober.join()
                    holders.close()
                print(f"run {r + 1}: alone {alone[-1]:,.0f}/s, with {args.holders} trickling "
                      f"connections {flooded[-1]:,.0f}/s ({flooded[-1] / alone[-1]:.3f})")
        finally:
            server.stop()
    a, f = statistics.median(alone), statistics.median(flooded)
    print(f"job records/s, median of {args.repeat}: alone {a:,.0f}, flooded {f:,.0f}, "
          f"ratio {f / a:.3f} (drop {100 * (1 - f / a):.1f}%)")
    for name in ("stats", "ingest"):
        s = latencies[name]
        print(f"{'GET /stats' if name == 'stats' else 'POST /records'} during the flood: "
              f"{len(s)} requests, p50 {pct(s, 50):.1f} ms, p99 {pct(s, 99):.1f} ms")


if __name__ == "__main__":
    main()
