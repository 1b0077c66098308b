"""Never losing a record: kill -9 mid-job, SIGTERM/SIGINT mid-job, then a rerun finishes the work
with every record signed exactly once."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from helpers import assert_exactly_once, random_records, wait_until
from instance import write_ndjson


def wait_mid_job(signer, total: int, timeout: float = 60.0) -> dict:
    """Polls /stats until the running job has signed some records but not all of them."""
    def mid():
        s = signer.stats()
        return s if 0 < s["signed_records"] < total and s["unsigned_records"] > 0 else None
    return wait_until(mid, timeout, interval=0.005, what="a job part-way through")


def exact_counts(store_url: str) -> dict:
    """The tables counted row by row, behind the signer's back (it keeps counts instead). An
    unsigned record is in `records` or, ingested sparsely into a large store, `records_inbox`."""
    with sqlite3.connect(store_url.removeprefix("sqlite:")) as db:
        (unsigned_records,), = db.execute(
            "SELECT (SELECT count(*) FROM records) + (SELECT count(*) FROM records_inbox)")
        (signed_records,), = db.execute("SELECT count(*) FROM signedrecords")
    return {"unsigned_records": unsigned_records, "signed_records": signed_records}


def kill_mid_job(signer, cli, store_url, total: int) -> dict:
    """SIGKILLs `signer` part-way through its running job; checks that every record is unsigned
    or signed once and that the kept counts, which died with it, are exact. Returns the counts."""
    seen = wait_mid_job(signer, total)
    signer.kill()  # SIGKILL: no shutdown path runs
    assert signer.exit_code == -signal.SIGKILL

    after_crash = cli.stats()
    assert after_crash["signed_records"] + after_crash["unsigned_records"] == total, after_crash
    assert after_crash["signed_records"] >= seen["signed_records"]
    assert after_crash["unsigned_records"] > 0, "the job finished before the kill: nothing tested"
    # The kept counts commit with the moves they count.
    assert {k: after_crash[k] for k in ("unsigned_records", "signed_records")} == \
        exact_counts(store_url)
    return after_crash


def test_kill_9_mid_job_then_rerun_signs_every_record_exactly_once(signer_factory, cli,
                                                                   store_url):
    total = 60_000
    records = random_records(total)
    msg_of = {r["id"]: r["msg"] for r in records}
    signer = signer_factory.start()
    r = signer.ingest(records)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == total

    started = signer.sign(50, wait=False)
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "running"
    assert started.json()["batches"] == total // 50
    after_crash = kill_mid_job(signer, cli, store_url, total)

    signer.start()  # same store, new process
    assert signer.stats()["job"] is None
    job = signer.sign_ok(50)
    assert job["unsigned_at_start"] == after_crash["unsigned_records"]
    assert job["records_signed"] == after_crash["unsigned_records"], job

    final = signer.stats()
    assert (final["signed_records"], final["unsigned_records"]) == (total, 0)
    exported = cli.export_and_verify()
    assert_exactly_once(exported, msg_of)
    assert all(r["msg"] == msg_of[r["id"]] for r in exported)


def test_kill_9_mid_job_with_posted_records_in_the_inbox_signs_each_once(signer_factory, cli,
                                                                         store_url, tmp_path):
    """Random ids posted into a store past the inbox's merge size (BS_SQLITE_INBOX_MERGE_ROWS,
    set to 20,000 here; 262,144 by default) land thinly among its records, so they wait in
    records_inbox; a job reads and moves them with the records of `records`. Killed mid-job, each
    record is unsigned in one of the two tables or signed once, and the rerun signs the rest."""
    loaded = random_records(60_000)
    assert cli.load_file(write_ndjson(tmp_path / "input.ndjson", loaded))["accepted"] == 60_000
    posted = random_records(4_000)  # 15 stored records around each: sparse
    msg_of = {r["id"]: r["msg"] for r in loaded + posted}
    signer = signer_factory.start(env={"BS_SQLITE_INBOX_MERGE_ROWS": "20000"})
    r = signer.ingest(posted)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(posted)
    with sqlite3.connect(store_url.removeprefix("sqlite:")) as db:
        (inbox,), = db.execute("SELECT count(*) FROM records_inbox")
    assert inbox == len(posted)
    total = len(msg_of)

    started = signer.sign(1000, wait=False)
    assert started.status_code == 202, started.text
    after_crash = kill_mid_job(signer, cli, store_url, total)

    signer.start()
    job = signer.sign_ok(1000)
    assert job["records_signed"] == after_crash["unsigned_records"], job
    assert exact_counts(store_url) == {"unsigned_records": 0, "signed_records": total}
    exported = cli.export_and_verify()
    assert_exactly_once(exported, msg_of)
    assert all(r["msg"] == msg_of[r["id"]] for r in exported)


@pytest.mark.parametrize("value", ["0", "-5", "2e5", "lots", "9999999999999"])
def test_an_inbox_merge_size_other_than_a_positive_whole_number_is_refused(cli, value):
    """A mistyped BS_SQLITE_INBOX_MERGE_ROWS stops the command with the variable's name, instead
    of falling back to the default behind the operator's back."""
    proc = subprocess.run([str(cli.binary), "stats", "--store", cli.store], capture_output=True,
                          text=True, timeout=30,
                          env={**os.environ, "BS_SQLITE_INBOX_MERGE_ROWS": value})
    assert proc.returncode != 0, proc.stdout
    assert "BS_SQLITE_INBOX_MERGE_ROWS must be a positive whole number" in proc.stderr, proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_shutdown_mid_job_exits_0_and_rerun_completes(signer_factory, cli, tmp_path, sig):
    total = 40_000
    records = random_records(total)
    assert cli.load_file(write_ndjson(tmp_path / "input.ndjson", records))["accepted"] == total
    signer = signer_factory.start()

    # A client waiting on the job when the signal arrives.
    waited = {}

    def wait_for_job():
        try:
            waited["response"] = signer.sign(20, wait=True, timeout=30)
        except Exception as e:  # noqa: BLE001 - recorded and asserted on below
            waited["error"] = e

    waiter = threading.Thread(target=wait_for_job)
    waiter.start()
    wait_mid_job(signer, total)

    t0 = time.monotonic()
    signer.send_signal(sig)
    try:
        code = signer.wait_exit(timeout=10)
    except subprocess.TimeoutExpired:
        signer.kill()
        pytest.fail(f"signer serve still running 10 s after {sig.name}")
    elapsed = time.monotonic() - t0
    waiter.join(timeout=10)
    assert not waiter.is_alive(), "the /sign?wait=true client hung after the server exited"

    assert code == 0, f"exit {code} after {sig.name}"
    assert elapsed < 10
    log = signer.log_path.read_text()
    assert f"received {sig.name}" in log
    assert "server stopped" in log

    counts = cli.stats()
    assert counts["signed_records"] + counts["unsigned_records"] == total, counts
    assert counts["unsigned_records"] > 0, "the job finished before the signal: nothing tested"

    # The waiting client was answered before the exit, with the job's true end state.
    assert "response" in waited, f"/sign?wait=true got no answer: {waited.get('error')!r}"
    resp = waited["response"]
    assert resp.status_code == 200, resp.text
    job = resp.json()
    assert job["state"] == "interrupted", job
    assert job["records_signed"] == counts["signed_records"], (job, counts)

    signer.start()
    signer.sign_ok(500)
    assert cli.stats()["unsigned_records"] == 0
    assert_exactly_once(cli.export_and_verify(), (r["id"] for r in records))


def test_sigterm_with_an_idle_keepalive_client_still_exits_promptly(signer_factory):
    import requests

    signer = signer_factory.start()
    client = requests.Session()  # like a Prometheus scraper or a load balancer's pooled connection
    try:
        assert client.get(signer.url("/stats"), timeout=5).status_code == 200
        signer.send_signal(signal.SIGTERM)
        try:
            code = signer.wait_exit(timeout=10)
        except subprocess.TimeoutExpired:
            signer.kill()
            pytest.fail("signer serve still running 10 s after SIGTERM with an idle keep-alive "
                        "client connected")
        assert code == 0
    finally:
        client.close()


def test_a_stalled_client_cannot_hold_shutdown_past_the_grace_period(signer_factory, cli):
    import socket

    cli.load_random(200)
    signer = signer_factory.start(env={"BS_SHUTDOWN_GRACE_SECONDS": "1"})
    # Announces a 1 MB body and sends one byte of it: the request's thread blocks in read for up
    # to the 30 s read timeout, which would hold a graceful stop that long.
    stalled = socket.create_connection(("127.0.0.1", signer.port), timeout=5)
    try:
        stalled.sendall(b"POST /records HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Content-Type: application/x-ndjson\r\nContent-Length: 1000000\r\n\r\n{")
        time.sleep(0.5)  # let the server's thread start reading the body
        started = time.monotonic()
        signer.send_signal(signal.SIGTERM)
        try:
            code = signer.wait_exit(timeout=20)
        except subprocess.TimeoutExpired:
            signer.kill()
            pytest.fail("signer serve still running 20 s after SIGTERM with a 1 s grace period")
        waited = time.monotonic() - started
    finally:
        stalled.close()
    assert code == 1, f"exit {code} after {waited:.1f}s"
    assert 0.9 <= waited < 15, waited
    assert "graceful shutdown exceeded 1s" in signer.log_path.read_text()
    # Nothing was lost by the forced exit: the stalled upload never started, the records wait.
    stats = cli.stats()
    assert (stats["unsigned_records"], stats["signed_records"]) == (200, 0), stats


def test_a_killed_signer_leaves_no_shared_memory_file_behind(signer_factory):
    """libmongoc, initialized before main in every signer process whatever its store, makes
    /dev/shm/mongoc-PID for its counters. A signer killed with SIGKILL left that file behind, and a
    later process given the same pid wrote an unformatted warning to stderr (a cluster test once
    failed on it, with 335 such files left on the machine). The signer unlinks it at start."""
    signer = signer_factory.start()
    shm = Path(f"/dev/shm/mongoc-{signer.proc.pid}")
    signer.kill()  # SIGKILL: no shutdown path runs
    assert signer.exit_code == -signal.SIGKILL
    assert not shm.exists(), f"{shm} outlived the process"
