"""One job at a time per process, and exactly-once signing when two processes share one SQLite
file."""
from __future__ import annotations

import threading

from helpers import assert_exactly_once, random_records
from instance import write_ndjson


def assert_json_error(resp, status: int) -> str:
    assert resp.status_code == status, f"{resp.status_code} {resp.text}"
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    return body["error"]


def test_second_sign_while_a_job_runs_gets_409(signer, cli):
    total = 10_000
    assert cli.load_random(total)["accepted"] == total

    first = signer.sign(5, wait=False)  # 2000 small batches: runs for a while
    assert first.status_code == 202, first.text
    job = first.json()
    assert job["state"] == "running" and job["batches"] == total // 5
    assert first.headers.get("Location") == "/stats"

    assert_json_error(signer.sign(5, wait=False), 409)
    assert_json_error(signer.sign(1000, wait=True), 409)  # a waiting caller is refused too

    running = signer.stats()["job"]
    assert running["id"] == job["id"], "the refused request replaced the running job"
    done = signer.wait_job_done()
    assert done["state"] == "succeeded" and done["records_signed"] == total, done
    stats = signer.stats()
    assert (stats["signed_records"], stats["unsigned_records"]) == (total, 0)

    # Once the job has ended, /sign is accepted again.
    again = signer.sign_ok(5)
    assert again["id"] > job["id"] and again["batches"] == 0


def test_two_processes_on_one_sqlite_file_sign_each_record_exactly_once(
        signer_factory, cli, tmp_path):
    total = 20_000
    records = random_records(total)
    assert cli.load_file(write_ndjson(tmp_path / "input.ndjson", records))["accepted"] == total
    a = signer_factory.start()
    b = signer_factory.start()  # same store file, another process

    barrier = threading.Barrier(2)
    results = {}

    def run(name, server):
        barrier.wait()
        results[name] = server.sign(500, wait=True)

    threads = [threading.Thread(target=run, args=(n, s)) for n, s in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert set(results) == {"a", "b"}

    jobs = {}
    for name, resp in results.items():
        assert resp.status_code == 200, f"{name}: {resp.status_code} {resp.text}"
        jobs[name] = resp.json()
        assert jobs[name]["state"] == "succeeded", jobs[name]
    # Each record counted as newly signed by exactly one of the two jobs.
    assert jobs["a"]["records_signed"] + jobs["b"]["records_signed"] == total, jobs

    for server in (a, b):
        s = server.stats()
        assert (s["signed_records"], s["unsigned_records"]) == (total, 0), s
    assert_exactly_once(cli.export_and_verify(), (r["id"] for r in records))
