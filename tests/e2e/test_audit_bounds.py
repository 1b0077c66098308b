"""The audit trail stays bounded under abuse (issue 22). Measured on main before: every refusal
was an audit row, so an anonymous flood of 401s grew the store without bound (3,000 refusals from
one client took 0.9 s and added about 260 bytes each). Now refusals of callers without a known
credential are aggregated: at most one event per address, route and reason per window (a
minute), carrying the count; an identified client's requests stay one event each; and
--audit-retention-days prunes old events in the background."""
from __future__ import annotations

import selectors
import socket
import sqlite3
import time

import pytest

FLOOD = 100_000
CONCURRENCY = 64


def flood(port: int, total: int, path: str = "/stats") -> int:
    """Sends `total` requests without a credential, CONCURRENCY at a time, each on its own
    connection (a refusal closes it); returns how many were answered 401. Plain non-blocking
    sockets: the server, not the client, should be what limits the rate."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    started = done = answered = 0

    def start() -> None:
        nonlocal started
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        started += 1
        sel.register(s, selectors.EVENT_WRITE, [b""])

    for _ in range(min(CONCURRENCY, total)):
        start()
    while done < total:
        events = sel.select(30)
        assert events, f"no progress after {done} of {total}"
        for key, mask in events:
            s = key.fileobj
            if mask & selectors.EVENT_WRITE:
                s.send(request)
                sel.modify(s, selectors.EVENT_READ, key.data)
                continue
            chunk = s.recv(65536)
            if chunk:
                key.data[0] += chunk
                continue
            sel.unregister(s)
            s.close()
            done += 1
            answered += key.data[0].startswith(b"HTTP/1.1 401 ")
            if started < total:
                start()
    return answered


def audit_rows(db: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT time_unix_ms, route, body FROM audit ORDER BY seq").fetchall()


def refusal_counts(server, route: str) -> list[int]:
    events = server.get("/audit?limit=200").json()["events"]
    return [e["count"] for e in events if e["outcome"] == "refused:401" and e["route"] == route]


@pytest.fixture
def server(signer_factory, cli, tmp_path):
    clients = tmp_path / "clients.json"
    token = cli.add_client(clients, "ops", "ingest,sign,read")
    reader = cli.add_client(clients, "reader", "read")
    inst = signer_factory.start("--clients", str(clients), token=token)
    inst.reader = reader
    return inst


def test_a_flood_of_100k_401s_adds_one_row_per_address_and_route_per_minute(server, store_url):
    db = store_url.removeprefix("sqlite:")
    before = len(audit_rows(db))
    started = time.monotonic()
    assert flood(server.port, FLOOD) == FLOOD
    took = time.monotonic() - started
    print(f"{FLOOD} refusals in {took:.1f} s ({FLOOD / took:.0f}/s)")
    added = len(audit_rows(db)) - before
    windows = int(took // 60) + 1
    assert added <= windows, f"{added} audit rows for {FLOOD} refusals in {took:.0f} s"
    counts = refusal_counts(server, "/stats")
    assert counts[-1] == 1, counts  # the first refusal, written at once; the rest are counted
    # An identified client's refusals (a missing role) are still one event each.
    for _ in range(20):
        r = server.get("/sign/5", headers={"Authorization": f"Bearer {server.reader}"})
        assert r.status_code == 403
    events = server.get("/audit?limit=200").json()["events"]
    assert sum(1 for e in events if e["client"] == "reader" and e["outcome"] == "refused:403") == 20


def test_every_refusal_is_counted_once_the_window_closes(signer_factory, cli, tmp_path):
    clients = tmp_path / "clients.json"
    token = cli.add_client(clients, "ops", "read")
    inst = signer_factory.start("--clients", str(clients), token=token,
                                env={"BS_REFUSAL_AUDIT_WINDOW_MS": "1000"})
    sent = flood(inst.port, 5_000, "/keys")
    deadline = time.monotonic() + 15
    while sum(refusal_counts(inst, "/keys")) < sent and time.monotonic() < deadline:
        time.sleep(0.2)
    counts = refusal_counts(inst, "/keys")
    assert sum(counts) == sent, counts
    assert counts[-1] == 1 and len(counts) < 20, counts


def test_retention_prunes_old_events_in_the_background(signer_factory, cli, store_url):
    db = store_url.removeprefix("sqlite:")
    cli.load_random(10)  # creates the store and its tables
    cli.sign("--batch-size", "5", "--progress", "never")  # job events, of now
    day_ms = 86_400_000
    now_ms = int(time.time() * 1000)
    with sqlite3.connect(db) as conn:
        for age_days in (40, 31):
            conn.execute("INSERT INTO audit (time_unix_ms, job_id, route, body) VALUES (?,?,?,?)",
                         (now_ms - age_days * day_ms, "", "/records",
                          f'{{"time":{now_ms - age_days * day_ms},"route":"/records",'
                          f'"outcome":"ok","client":"old","remote_addr":"","count":0,'
                          f'"job_id":"","key_addresses":[],"detail":"{age_days} days old"}}'))
    recent = len(audit_rows(db)) - 2
    inst = signer_factory.start("--audit-retention-days", "30",
                                env={"BS_AUDIT_PRUNE_INTERVAL_MS": "200"})
    deadline = time.monotonic() + 10
    while len(audit_rows(db)) > recent and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = audit_rows(db)
    assert len(rows) == recent, rows
    assert all(t >= now_ms - 30 * day_ms for t, _, _ in rows)
    assert inst.get("/healthz").status_code == 200
