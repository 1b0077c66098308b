"""Getting records in and out: POST /records, GET /records/:id, GET /keys, and records written
straight into the SQLite file by another tool (no `shard`)."""
from __future__ import annotations

import json
import re
import sqlite3

from helpers import (ADDRESS_RE, PUBKEY_RE, assert_exactly_once, assert_signed_shape,
                     random_records)


def test_ingest_ndjson_and_array_then_look_up_signed_records(signer, cli, keyring):
    first, second = random_records(1_500), random_records(1_500)

    r = signer.ingest(first)  # NDJSON
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1_500, "duplicates": 0, "conflicts": 0, "rejected": 0,
                        "errors": []}

    # A JSON array with 200 records already stored and 50 repeated inside the body itself.
    r = signer.ingest(second + first[:200] + second[:50], as_array=True)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1_500, "duplicates": 250, "conflicts": 0, "rejected": 0,
                        "errors": []}

    # Good records are kept even when others in the same body are rejected.
    extra = random_records(10)
    body = "\n".join([json.dumps(x) for x in extra[:5]] + ['{"id":"no-msg"}', "not json"]
                     + [json.dumps(x) for x in extra[5:]]) + "\n"
    r = signer.post("/records", data=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["accepted"], got["duplicates"], got["rejected"]) == (10, 0, 2), got
    assert [(e["index"], e["id"]) for e in got["errors"]] == [(5, "no-msg"), (6, "")], got

    everything = first + second + extra
    msg_of = {x["id"]: x["msg"] for x in everything}
    stats = signer.stats()
    assert (stats["signed_records"], stats["unsigned_records"]) == (0, len(everything))

    # Not signed yet: 404 naming the id.
    probe = first[0]["id"]
    r = signer.get(f"/records/{probe}")
    assert r.status_code == 404 and probe in r.json()["error"], r.text

    job = signer.sign_ok(300)
    assert job["records_signed"] == len(everything)

    for rec in (first[0], second[-1], extra[7]):
        r = signer.get(f"/records/{rec['id']}")
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        signed = r.json()
        assert signed["id"] == rec["id"] and signed["msg"] == rec["msg"]
        assert_signed_shape(signed, keyring.public_keys)
        ok = cli.verify(text=r.text + "\n")
        assert ok.returncode == 0 and ok.stdout.strip().endswith("valid 1 invalid 0"), str(ok)

        # The verifier really checks: a changed msg or signature is caught.
        sig = signed["sign"]
        flipped = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]  # one nibble of R
        for field, value in (("msg", rec["msg"] + "!"), ("sign", flipped)):
            bad = cli.verify(text=json.dumps({**signed, field: value}) + "\n")
            assert bad.returncode == 1, f"tampered {field} verified: {bad}"
            assert f"invalid {rec['id']}" in bad.stdout, str(bad)

    # Re-sending records that are already signed does not queue them again.
    r = signer.ingest(first[:100])
    assert r.status_code == 200 and r.json()["accepted"] == 0 and r.json()["duplicates"] == 100
    assert signer.stats()["unsigned_records"] == 0

    exported = cli.export_and_verify()
    assert_exactly_once(exported, msg_of)
    assert all(x["msg"] == msg_of[x["id"]] for x in exported)


def test_keys_lists_public_keys_and_addresses_never_private_keys(signer, keyring):
    r = signer.get("/keys")
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert r.json()["set_version"] == 1
    assert [k["index"] for k in keys] == list(range(len(keyring)))
    assert [k["key"] for k in keys] == keyring.public_keys
    printed = {}  # keygen printed "index address public_key" lines
    for line in keyring.keygen_output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit():
            printed[int(parts[0])] = (parts[1], parts[2])
    for k in keys:
        assert PUBKEY_RE.match(k["key"]), k
        assert ADDRESS_RE.match(k["address"]), k
        assert set(k) == {"index", "key", "address", "source", "origin"}, k
        assert (k["source"], k["origin"]) == ("csv", str(keyring.path)), k
        assert printed.get(k["index"]) == (k["address"], k["key"]), (printed, k)

    # No private key anywhere the service shows: its answers and its log.
    secrets_hex = [p.lower().removeprefix("0x") for p in keyring.private_keys]
    seen = [signer.get(p).text for p in ("/keys", "/", "/stats", "/readyz", "/metrics")]
    seen.append(signer.get("/batch/0/1/0").text)
    for text in seen + [signer.log_path.read_text()]:
        low = text.lower()
        assert not any(s in low for s in secrets_hex), "a private key leaked"
    # Nor anything shaped like one in /keys.
    values = [str(v) for k in keys for v in k.values()]
    assert not [v for v in values if re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", v)], values


def test_records_inserted_without_shard_by_another_tool_are_signed(signer, cli, store_url):
    db = store_url.removeprefix("sqlite:")
    odd_ids = [
        "order-17", "hello.world", "user:42", "zzzzzzzz-not-hex", "12345678xyz",  # not hex
        "ab", "7", "abc1234",                                                      # < 8 chars
        "ABCDEF0123456789ABCDEF0123456789", "DEADBEEF", "DeadBeef00",              # upper/mixed
        "deadbeef",                                                                # != DEADBEEF
        "ffffffff", "00000000",                                                    # range edges
    ]
    bulk = [x["id"] for x in random_records(2_000)]
    foreign = odd_ids + bulk

    # The server created the schema; a foreign tool writes rows with only id and msg.
    with sqlite3.connect(db, timeout=30) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(records)")]
        assert {"id", "msg", "shard", "sign", "key"} <= set(columns), columns
        conn.executemany("INSERT INTO records (id, msg) VALUES (?, ?)",
                         [(i, f"msg of {i}") for i in foreign])
    with sqlite3.connect(db, timeout=30) as conn:
        nulls = conn.execute("SELECT COUNT(*) FROM records WHERE shard IS NULL").fetchone()[0]
    assert nulls == len(foreign)

    own = random_records(500)  # and some through the API, which sets shard
    assert signer.ingest(own).json()["accepted"] == 500
    total = len(foreign) + len(own)
    assert signer.stats()["unsigned_records"] == total

    job = signer.sign_ok(100)
    assert job["records_signed"] == total, job
    assert signer.stats()["unsigned_records"] == 0

    # Shard backfill runs at the start of every job, not only the first.
    late = ["late-" + x["id"] for x in random_records(300)] + ["LATE", "x"]
    with sqlite3.connect(db, timeout=30) as conn:
        conn.executemany("INSERT INTO records (id, msg) VALUES (?, ?)",
                         [(i, "late msg") for i in late])
    job = signer.sign_ok(100)
    assert job["records_signed"] == len(late), job

    with sqlite3.connect(db, timeout=30) as conn:
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM records_inbox").fetchone()[0] == 0
    exported = cli.export_and_verify()
    assert_exactly_once(exported, foreign + [x["id"] for x in own] + late)
    by_id = {x["id"]: x for x in exported}
    assert by_id["DEADBEEF"]["msg"] == "msg of DEADBEEF"
    assert by_id["deadbeef"]["msg"] == "msg of deadbeef"
