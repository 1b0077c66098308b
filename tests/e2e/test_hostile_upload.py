"""Memory is bounded per request (issue 11): a hostile 16 MiB JSON array of empty objects, and a
large valid NDJSON upload, are parsed and stored as they arrive, so the server's peak RSS grows by
a small stated bound instead of by a DOM of millions of objects (measured on main before the fix:
36 MB -> 593 MB for the array). Peak RSS is the kernel's VmHWM of the server process."""
from __future__ import annotations

import json
import uuid

import pytest

from http_wire import peak_rss_mb

ARRAY_BYTES = 16 << 20
ARRAY_GROWTH_BOUND_MB = 48     # one chunk, one element and the parser, with margin
NDJSON_RECORDS = 200_000       # about 20 MiB
NDJSON_GROWTH_BOUND_MB = 80    # chunks of 5,000 records and SQLite's page cache, with margin


@pytest.fixture
def server(signer_factory):
    inst = signer_factory.start()
    # Warm up the routes and the store so the baseline includes them.
    assert inst.ingest([{"id": "warm-up", "msg": "m"}]).status_code == 200
    return inst


@pytest.mark.parametrize("record_cap", [None, 10_000_000])
def test_a_16_mib_array_of_empty_objects_stays_small(signer_factory, record_cap):
    server = signer_factory.start(*(["--max-ingest-records", str(record_cap)] if record_cap
                                    else []))
    assert server.ingest([{"id": "warm-up", "msg": "m"}]).status_code == 200
    elements = ARRAY_BYTES // 3
    body = b"[" + b",".join([b"{}"] * elements) + b"]"
    before = peak_rss_mb(server.pid)
    r = server.post("/records", data=body, headers={"Content-Type": "application/json"},
                    timeout=300)
    report = r.json()
    if record_cap is None:
        # The default cap stops the upload at a million records.
        assert r.status_code == 413 and "1000000 records" in report["error"], r.text[:300]
    else:
        # Every element read and rejected, one at a time.
        assert r.status_code == 400, r.text[:300]
        assert report["rejected"] == elements and report["accepted"] == 0
    assert len(report["errors"]) == 100          # the first 100 reasons; the count is exact
    growth = peak_rss_mb(server.pid) - before
    assert growth < ARRAY_GROWTH_BOUND_MB, f"peak RSS grew {growth:.0f} MB"
    assert server.stats()["unsigned_records"] == 1


def test_a_large_ndjson_upload_is_stored_in_chunks(server):
    lines = (json.dumps({"id": uuid.uuid4().hex, "msg": "m" * 40}).encode() + b"\n"
             for _ in range(NDJSON_RECORDS))
    body = b"".join(lines)
    before = peak_rss_mb(server.pid)
    r = server.post("/records", data=body, timeout=600)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["accepted"] == NDJSON_RECORDS
    growth = peak_rss_mb(server.pid) - before
    assert growth < NDJSON_GROWTH_BOUND_MB, f"peak RSS grew {growth:.0f} MB"
    assert server.stats()["unsigned_records"] == NDJSON_RECORDS + 1


def test_too_many_records_in_one_request_is_413(signer_factory):
    inst = signer_factory.start("--max-ingest-records", "1000")
    body = b"".join(json.dumps({"id": f"cap-{i}", "msg": "m"}).encode() + b"\n"
                    for i in range(1500))
    r = inst.post("/records", data=body)
    assert r.status_code == 413, r.text
    assert "1000 records" in r.json()["error"]
