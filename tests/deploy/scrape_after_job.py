#!/usr/bin/env python3
"""Runs a real signer through one signing job and saves what Prometheus would scrape.

The Grafana dashboard test (tests/k8s/dashboard_test.go) checks every PromQL expression of the
chart's dashboard against this scrape: each metric and label the dashboard names must be one
the signer really exports. So the scrape must hold every series the dashboard reads, which is
why the run below also makes the refusals the dashboard counts (an unauthenticated request).

Usage: scrape_after_job.py SIGNER_BIN OUT_FILE
Everything happens on 127.0.0.1 in a temporary directory; the server is stopped (SIGTERM) on
every exit path. Exit 0 with OUT_FILE written, else non-zero with a message.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

RECORDS = 2000
KEYS = 2
POD_NAME = "signer-scrape-0"  # what the chart's BS_POD_NAME (downward API) would give
TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def wait_ready(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"signer serve exited early with {server.returncode}")
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    sys.exit(f"{url}/readyz not ready within 30 s")


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    binary, out = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    with tempfile.TemporaryDirectory(prefix="signer-scrape-") as tmp:
        run(binary, "keygen", "--count", str(KEYS), "--out", f"{tmp}/keys")
        clients = f"{tmp}/clients.json"
        # `client add` prints the token once; it is the last non-empty line.
        token = run(binary, "client", "add", "--clients", clients, "--name", "dashboard-test",
                    "--roles", "read,sign,ingest").strip().splitlines()[-1].strip()
        store = f"sqlite:{tmp}/signer.db"
        run(binary, "load", "--count", str(RECORDS), "--store", store)

        port, internal_port = free_port(), free_port()
        env = dict(os.environ, BS_POD_NAME=POD_NAME, BS_LOG_LEVEL="warn")
        server = subprocess.Popen(
            [binary, "serve", "--host", "127.0.0.1", "--port", str(port),
             "--internal-port", str(internal_port), "--store", store,
             "--keys", f"{tmp}/keys/keys.csv", "--clients", clients],
            env=env, stdout=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            internal = f"http://127.0.0.1:{internal_port}"
            wait_ready(internal, server)
            auth = {"Authorization": f"Bearer {token}"}
            r = requests.get(f"{url}/sign/500?wait=true", headers=auth, timeout=TIMEOUT)
            r.raise_for_status()
            job = r.json()
            if job.get("records_signed") != RECORDS:
                sys.exit(f"job signed {job.get('records_signed')} of {RECORDS}: {job}")
            # A request without a credential: 401, counted in signer_auth_refusals_total and
            # signer_http_rejected_total.
            r = requests.get(f"{url}/stats", timeout=10)
            if r.status_code != 401:
                sys.exit(f"GET /stats without a token answered {r.status_code}, want 401")
            # The chart's ServiceMonitor scrapes the internal listener.
            r = requests.get(f"{internal}/metrics", timeout=10)
            r.raise_for_status()
            with open(out, "w", encoding="utf-8") as f:
                f.write(r.text)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print(out)


if __name__ == "__main__":
    main()
