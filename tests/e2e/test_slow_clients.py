"""Slow clients cannot starve the server (issue 11): many connections trickling their headers,
far more than the public port's threads, while the probes and /batch on the internal port still
answer within a stated bound; the whole request head has one deadline, after which a staller is cut
off and the public port recovers; and one address may hold only so many connections."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from instance import free_port

STALLERS = 80          # well above the public port's 32 threads
HEAD_DEADLINE_MS = 2000
PROBE_BOUND_S = 1.0    # what a liveness probe allows, with margin for a loaded CI machine


class Stallers:
    """Connections that send a request head one byte a second and never finish it."""

    def __init__(self, port: int, count: int):
        self.socks = []
        self.stop = threading.Event()
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            self.socks.append(s)
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self):
        while not self.stop.wait(1.0):
            for s in self.socks:
                try:
                    s.sendall(b"a")
                except OSError:
                    pass

    def closed_by_server(self) -> int:
        n = 0
        for s in self.socks:
            s.settimeout(0.01)
            try:
                if s.recv(1024) == b"":
                    n += 1
            except (socket.timeout, BlockingIOError):
                pass
            except OSError:
                n += 1
        return n

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        for s in self.socks:
            s.close()


def timed_get(url: str, timeout: float = 10.0):
    start = time.monotonic()
    r = requests.get(url, timeout=timeout)
    return r, time.monotonic() - start


@pytest.fixture
def server(signer_factory):
    internal = free_port()
    inst = signer_factory.start("--internal-port", str(internal), "--header-timeout-ms",
                                str(HEAD_DEADLINE_MS))
    inst.internal = internal
    return inst


def test_probes_and_batch_answer_while_the_public_port_is_stalled(server, cli):
    cli.load_random(500)
    stallers = Stallers(server.port, STALLERS)
    try:
        time.sleep(0.5)  # every public thread is now holding a staller
        internal = f"http://127.0.0.1:{server.internal}"
        for path in ("/healthz", "/readyz", "/metrics"):
            r, took = timed_get(internal + path)
            assert r.status_code == 200 and took < PROBE_BOUND_S, (path, r.status_code, took)
        r, took = timed_get(internal + "/batch/0/1/0")
        assert r.status_code == 200 and r.json()["signed"] == 500, r.text
        assert took < 5.0, took
        # The internal port serves nothing else.
        r, _ = timed_get(internal + "/stats")
        assert r.status_code == 404
    finally:
        stallers.close()


def test_the_head_deadline_cuts_stallers_off_and_the_public_port_recovers(server):
    stallers = Stallers(server.port, STALLERS)
    try:
        # Without a deadline a trickling client holds its thread forever (a 30 s timeout per
        # read); with it, every staller is gone after the deadline plus the queue's turn.
        deadline = time.monotonic() + 3 * HEAD_DEADLINE_MS / 1000 + 5
        while time.monotonic() < deadline and stallers.closed_by_server() < STALLERS:
            time.sleep(0.5)
        assert stallers.closed_by_server() == STALLERS
        r, took = timed_get(server.url("/healthz"))
        assert r.status_code == 200 and took < PROBE_BOUND_S, took
    finally:
        stallers.close()


def test_one_address_may_hold_only_so_many_connections(signer_factory):
    inst = signer_factory.start("--max-connections-per-client", "8")
    held = Stallers(inst.port, 8)
    try:
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", inst.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(b"HTTP/1.1 503 "), data
        assert b"too many connections" in data
    finally:
        held.close()
    # Once they are gone, the address is welcome again.
    time.sleep(0.3)
    assert inst.get("/healthz").status_code == 200
