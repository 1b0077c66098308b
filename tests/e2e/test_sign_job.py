"""Whole signing jobs on the embedded store: through HTTP, through the CLI, and what /metrics says
about them."""
from __future__ import annotations

import re
from collections import Counter

from helpers import (assert_exactly_once, assert_signed_shape, batch_of_shard, ceil_div,
                     metric_values, parse_prometheus, random_records, shard_of_hex_id)
from instance import write_ndjson


def test_100k_records_signed_through_http_exactly_once_over_every_key(
        signer_factory, cli, keyring, tmp_path):
    total, size = 100_000, 700
    records = random_records(total)
    msg_of = {r["id"]: r["msg"] for r in records}
    loaded = cli.load_file(write_ndjson(tmp_path / "input.ndjson", records))
    assert loaded == {"accepted": total, "duplicates": 0, "conflicts": 0, "rejected": 0}

    signer = signer_factory.start()
    before = signer.stats()
    assert (before["signed_records"], before["unsigned_records"]) == (0, total)

    job = signer.sign_ok(size)
    batches = ceil_div(total, size)
    assert job["batch_size"] == size
    assert job["unsigned_at_start"] == total
    assert job["batches"] == batches
    assert job["batches_done"] == batches and job["batches_failed"] == 0, job
    assert job["records_signed"] == total
    assert job["keys"] == len(keyring)

    after = signer.stats()
    assert after["unsigned_records"] == 0
    assert after["signed_records"] == total
    assert after["job"]["id"] == job["id"] and after["job"]["state"] == "succeeded"

    exported = cli.export_and_verify()  # signer export | signer verify --input -: all valid
    assert len(exported) == total
    assert_exactly_once(exported, msg_of)
    for r in exported:
        assert r["msg"] == msg_of[r["id"]], f"{r['id']}: msg changed"
        assert_signed_shape(r, keyring.public_keys)

    # Spread over every key, and exactly DESIGN.md §3's plan: batch b signs with key b mod K.
    per_key = Counter(r["key"] for r in exported)
    assert set(per_key) == set(keyring.public_keys), per_key
    for key in keyring.public_keys:
        share = per_key[key] / total
        assert 0.25 < share < 0.42, f"key {key[:12]}… signed {per_key[key]} of {total}"
    wrong = [r["id"] for r in exported
             if r["key"] != keyring.public_keys[
                 batch_of_shard(shard_of_hex_id(r["id"]), batches) % len(keyring)]]
    assert not wrong, f"{len(wrong)} records not signed by key (batch mod K), e.g. {wrong[:3]}"


def test_metrics_after_a_job_match_what_was_signed(signer, cli, keyring):
    total, size = 5_000, 500
    assert cli.load_random(total)["accepted"] == total
    job = signer.sign_ok(size)
    assert job["records_signed"] == total

    r = signer.metrics_text()
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers["Content-Type"]
    samples = parse_prometheus(r.text)

    # signer_records_signed_total per key: sums to the records signed, one series per key index,
    # labelled with that key's address, and equal to what the export attributes to each key.
    per_key = metric_values(samples, "signer_records_signed_total")
    assert sum(v for _, v in per_key) == total, per_key
    addresses = {k["index"]: k["address"] for k in signer.get("/keys").json()["keys"]}
    assert {l["key_index"] for l, _ in per_key} == {str(i) for i in range(len(keyring))}
    for labels, _ in per_key:
        assert labels["address"] == addresses[int(labels["key_index"])], labels
    exported = cli.export_and_verify()
    by_key = Counter(r["key"] for r in exported)
    for labels, value in per_key:
        assert value == by_key[keyring.public_keys[int(labels["key_index"])]], labels

    ok_batches = metric_values(samples, "signer_batches_run_total", outcome="ok")
    assert ok_batches and all("pod" in l for l, _ in ok_batches), ok_batches
    assert sum(v for _, v in ok_batches) == job["batches"] > 0

    (_, hist_count), = metric_values(samples, "signer_batch_duration_seconds_count")
    assert hist_count == job["batches"]
    inf_bucket = metric_values(samples, "signer_batch_duration_seconds_bucket", le="+Inf")
    assert inf_bucket and inf_bucket[0][1] == job["batches"]

    assert metric_values(samples, "signer_job_records_signed")[0][1] == total
    assert metric_values(samples, "signer_job_batches_done")[0][1] == job["batches"]
    assert metric_values(samples, "signer_job_batches_failed")[0][1] == 0
    assert metric_values(samples, "signer_job_running")[0][1] == 0
    store_ops = metric_values(samples, "signer_store_operation_seconds_count")
    assert store_ops and all(l.get("op") for l, _ in store_ops), store_ops
    assert sum(v for _, v in metric_values(samples, "signer_http_requests_total",
                                           route="/sign", code="200")) == 1


def test_cli_sign_with_plain_progress(cli):
    total, batch_size = 20_000, 1_000
    assert cli.load_random(total)["accepted"] == total

    result = cli.sign("--batch-size", str(batch_size), "--progress", "plain")
    assert result.returncode == 0, str(result)
    job = result.json()
    assert job["state"] == "succeeded", job
    assert job["records_signed"] == total
    assert job["batches"] == job["batches_done"] == total // batch_size

    progress = [l for l in result.stderr.splitlines() if l.startswith("signed ")]
    assert progress, f"no progress lines on stderr:\n{result.stderr}"
    assert re.match(rf"signed {total}/{total} \(100\.0%\)", progress[-1]), progress[-1]
    assert "\r" not in result.stderr and "\x1b[" not in result.stderr, "plain mode drew a live line"

    assert cli.stats() == {"signed_records": total, "unsigned_records": 0, "job": None}
    assert len(cli.export_and_verify()) == total

    # Nothing left: a second run succeeds with no batches.
    again = cli.sign("--batch-size", str(batch_size), "--progress", "never")
    assert again.json()["state"] == "succeeded" and again.json()["batches"] == 0
    assert not [l for l in again.stderr.splitlines() if l.startswith("signed ")], again.stderr
