"""Issue 11, bounded and honest: conflicting ids are reported as conflicts, not duplicates, and a
job over large messages stays within a memory bound (chunks end at a byte budget)."""
from __future__ import annotations

from helpers import random_records
from http_wire import peak_rss_mb
from instance import write_ndjson

CONFLICT_STORED = "conflict: id already stored with a different msg"
CONFLICT_IN_REQUEST = "conflict: id appears earlier in this request with a different msg"


def test_same_id_with_another_msg_is_a_conflict_and_the_stored_record_stays(signer, cli):
    stored = random_records(20)
    assert signer.ingest(stored).status_code == 200

    # Only conflicts: nothing accepted, so 409, each conflict listed with its request index.
    changed = [{"id": r["id"], "msg": r["msg"] + "!"} for r in stored[:3]]
    r = signer.ingest(changed)
    assert r.status_code == 409, r.text
    body = r.json()
    assert (body["accepted"], body["duplicates"], body["conflicts"], body["rejected"]) == \
        (0, 0, 3, 0), body
    assert [(e["index"], e["id"], e["reason"]) for e in body["errors"]] == \
        [(i, stored[i]["id"], CONFLICT_STORED) for i in range(3)], body

    # A true duplicate alone is still 200.
    r = signer.ingest(stored[:2])
    assert r.status_code == 200 and r.json()["duplicates"] == 2 and r.json()["conflicts"] == 0

    # Mixed: a new record, a duplicate, a conflict, and a new id twice with different msgs.
    fresh = random_records(2)
    body_records = [fresh[0], stored[5], {"id": stored[6]["id"], "msg": "other"},
                    fresh[1], {"id": fresh[1]["id"], "msg": "second"}]
    r = signer.ingest(body_records)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["accepted"], got["duplicates"], got["conflicts"]) == (2, 1, 2), got
    assert [(e["index"], e["reason"]) for e in got["errors"]] == \
        [(2, CONFLICT_STORED), (4, CONFLICT_IN_REQUEST)], got

    # The stored (first) msgs are the ones signed; a conflict with a signed record is reported.
    signer.sign_ok(100)
    for rec in (stored[0], stored[6], fresh[1]):
        assert signer.get(f"/records/{rec['id']}").json()["msg"] == rec["msg"]
    r = signer.ingest([{"id": stored[0]["id"], "msg": "after signing"}])
    assert r.status_code == 409 and r.json()["conflicts"] == 1, r.text


def test_load_prints_conflicts(cli, tmp_path):
    records = random_records(5)
    assert cli.load_file(write_ndjson(tmp_path / "a.ndjson", records))["accepted"] == 5
    changed = [{"id": records[0]["id"], "msg": "changed"}] + records[1:]
    result = cli.run("load", "--input", str(write_ndjson(tmp_path / "b.ndjson", changed)),
                     "--store", cli.store, check=False)
    assert result.json() == {"accepted": 0, "duplicates": 4, "conflicts": 1, "rejected": 0}
    assert result.returncode == 1
    assert records[0]["id"] in result.stderr


# 4000 records of 60 KB (240 MB of messages), two batches of 2000 in flight. Reading a batch's
# whole range as one 2000-record chunk held ~260 MB; with 8 MiB chunks a batch holds a few tens of
# MB. The bound leaves room for the process's base and SQLite's page cache.
PEAK_RSS_BOUND_MB = 150


def test_a_job_over_large_messages_stays_below_the_memory_bound(signer_factory, cli, tmp_path):
    total, msg_bytes = 4000, 60_000
    records = [{"id": r["id"], "msg": r["msg"] + "x" * msg_bytes} for r in random_records(total)]
    loaded = cli.load_file(write_ndjson(tmp_path / "large.ndjson", records))
    assert loaded["accepted"] == total
    del records

    signer = signer_factory.start("--concurrency", "2")
    baseline = peak_rss_mb(signer.pid)
    job = signer.sign_ok(total // 2)  # 2 batches, both in flight
    assert job["state"] == "succeeded" and job["records_signed"] == total, job
    peak = peak_rss_mb(signer.pid)
    print(f"peak RSS {peak:.0f} MB (at start {baseline:.0f} MB)")
    assert peak < PEAK_RSS_BOUND_MB, \
        f"peak RSS {peak:.0f} MB (at start {baseline:.0f} MB) over {PEAK_RSS_BOUND_MB} MB"
