"""Revocation and rotation without a restart (issue 22). Measured on main before: client `b` was
removed from the clients file and the server got SIGHUP; b's token still read /stats (200). There
was no `signer client remove` or `rotate`, and a token never expired.

Now the clients file is reloaded on SIGHUP and when it changes; a removed client's next request
is refused, on a connection that was already open too; `rotate` prints a new token and the old one
may keep working for a grace period; a client may expire; a reload that fails keeps the old
clients and says so in /readyz and a metric; and each change is an audit event."""
from __future__ import annotations

import datetime
import signal
import time

import pytest
import requests

WATCH_MS = "200"


def utc_in(seconds: float) -> str:
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return at.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(server, path: str, token: str, session=None) -> int:
    getter = session or requests
    return getter.get(server.url(path), headers={"Authorization": f"Bearer {token}"},
                      timeout=10).status_code


def wait_until(predicate, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


@pytest.fixture
def env(signer_factory, cli, tmp_path):
    clients = tmp_path / "clients.json"
    ops = cli.add_client(clients, "ops", "ingest,sign,read")
    b = cli.add_client(clients, "b", "read")

    def start(watch_ms: str = WATCH_MS):
        return signer_factory.start("--clients", str(clients), token=ops,
                                    env={"BS_KEY_WATCH_INTERVAL_MS": watch_ms})

    return type("Env", (), {"clients": clients, "ops": ops, "b": b, "cli": cli,
                            "start": staticmethod(start)})


def audit_outcomes(server, name: str) -> list[str]:
    events = server.get("/audit?limit=200").json()["events"]
    return [e["outcome"] for e in events if e["route"] == "/clients" and e["client"] == name]


def test_a_removed_client_is_refused_at_once_on_an_open_connection_too(env):
    server = env.start()
    kept = requests.Session()  # one keep-alive connection, opened before the removal
    assert status(server, "/stats", env.b, kept) == 200
    env.cli.run("client", "remove", "--clients", str(env.clients), "--name", "b")
    wait_until(lambda: status(server, "/stats", env.b, kept) == 401, what="b refused")
    assert status(server, "/stats", env.ops) == 200
    assert "removed" in audit_outcomes(server, "b")
    metrics = server.get("/metrics").text
    assert 'signer_clients_reloads_total{outcome="ok"} 1' in metrics
    assert "signer_clients_loaded 1" in metrics


def test_sighup_reloads_the_clients_file_when_watching_is_off(env):
    server = env.start(watch_ms="0")
    env.cli.run("client", "remove", "--clients", str(env.clients), "--name", "b")
    time.sleep(0.5)
    assert status(server, "/stats", env.b) == 200  # not reloaded yet: nothing watches the file
    server.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: status(server, "/stats", env.b) == 401, what="b refused after SIGHUP")
    assert server.get("/readyz").json()["clients"]["reloads"] == 1


def test_rotate_prints_a_new_token_and_the_old_one_works_for_its_grace(env):
    server = env.start()
    result = env.cli.run("client", "rotate", "--clients", str(env.clients), "--name", "b",
                         "--grace", "3s")
    new = result.stdout.strip()
    assert new.startswith("mst_") and new != env.b and "old token works until" in result.stderr
    assert env.b not in env.clients.read_text() and new not in env.clients.read_text()
    wait_until(lambda: status(server, "/stats", new) == 200, what="new token accepted")
    assert status(server, "/stats", env.b) == 200  # within the grace period
    wait_until(lambda: status(server, "/stats", env.b) == 401, timeout=10, what="old token ends")
    assert status(server, "/stats", new) == 200
    assert "rotated" in audit_outcomes(server, "b")
    # Without a grace period the old token stops at the next reload.
    newer = env.cli.run("client", "rotate", "--clients", str(env.clients), "--name", "b").stdout
    wait_until(lambda: status(server, "/stats", newer.strip()) == 200, what="newer accepted")
    assert status(server, "/stats", new) == 401


def test_a_client_expires_with_a_401_that_says_so(env):
    server = env.start()
    short = env.cli.add_client(env.clients, "short", "read", "--expires", utc_in(3))
    wait_until(lambda: status(server, "/stats", short) == 200, what="short accepted")
    wait_until(lambda: status(server, "/stats", short) == 401, timeout=10, what="short expired")
    r = requests.get(server.url("/stats"), headers={"Authorization": f"Bearer {short}"},
                     timeout=10)
    assert "expired at" in r.json()["error"], r.text
    wait_until(lambda: "expired" in audit_outcomes(server, "short"), what="expiry audited")
    assert "added" in audit_outcomes(server, "short")
    listed = env.cli.run("client", "list", "--clients", str(env.clients)).stdout
    assert "short\troles=read\ttoken\texpires=" in listed


def replace_file(path, text: str) -> None:
    """Replaces `path` whole, as a Secret update does (a rename), so the watcher never reads it
    half written."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def test_a_broken_clients_file_keeps_the_old_clients_and_says_why(env):
    server = env.start()

    def clients_state():
        return server.get("/readyz").json()["clients"]

    good = env.clients.read_text()
    replace_file(env.clients, good.replace('"roles"', '"rolez"', 1))
    wait_until(lambda: clients_state()["failed_reloads"] == 1, what="failed reload seen")
    ready = server.get("/readyz").json()
    assert "unknown field" in ready["clients"]["last_reload_error"], ready
    assert ready["status"] == "ready"
    assert status(server, "/stats", env.b) == 200  # the old clients still hold
    assert 'signer_clients_reloads_total{outcome="failed"} 1' in server.get("/metrics").text
    # A client naming a key that is not loaded is refused the same way.
    replace_file(env.clients, good)
    wait_until(lambda: clients_state()["last_reload_error"] == "", what="good file reloaded")
    env.cli.add_client(env.clients, "nokey", "sign", "--keys", "0x" + "ab" * 20)
    wait_until(lambda: clients_state()["failed_reloads"] == 2, what="key check refused it")
    assert "not among the" in clients_state()["last_reload_error"]
