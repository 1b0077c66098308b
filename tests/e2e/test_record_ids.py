"""Ids as users have them (issue 11 B): any well-formed UTF-8 of 1 to 512 bytes without control
characters is an id, in POST /records and in GET /records/:id, where the path is percent-decoded
exactly once. Ids outside the rule are refused in both places."""
from __future__ import annotations

import json
from urllib.parse import quote

from helpers import assert_signed_shape

USER_IDS = ["user@example.com", "order/42", "café-1", "q+/z9w==", "x" * 512, "a b\"c"]


def test_ingested_user_ids_are_signed_and_found_percent_encoded(signer, cli, keyring):
    records = [{"id": rid, "msg": f"msg of {rid[:20]}"} for rid in USER_IDS]
    r = signer.ingest(records)
    assert r.status_code == 200 and r.json()["accepted"] == len(records), r.text
    assert signer.sign_ok(10)["records_signed"] == len(records)

    for rec in records:
        r = signer.get("/records/" + quote(rec["id"], safe=""))
        assert r.status_code == 200, (rec["id"], r.text)
        assert r.json()["id"] == rec["id"] and r.json()["msg"] == rec["msg"]
        assert_signed_shape(r.json(), keyring.public_keys)

    # The route takes slashes as they come, and decodes once: %2541 is the id "%41", not "A".
    assert signer.get("/records/order/42").json()["id"] == "order/42"
    assert signer.get("/records/caf%C3%A9-1").json()["id"] == "café-1"
    r = signer.get("/records/order%252F42")
    assert r.status_code == 404 and "order%2F42" in r.json()["error"], r.text

    exported = cli.export_and_verify()
    assert sorted(x["id"] for x in exported) == sorted(USER_IDS)


def test_ids_outside_the_rule_are_refused_at_ingest(signer):
    bad = ["a" * 513, "line\nbreak", "del\x7f", "c1\x85", ""]
    body = "".join(json.dumps({"id": rid, "msg": "m"}) + "\n" for rid in bad).encode()
    body += b'{"id":"raw\xff","msg":"m"}\n'  # not UTF-8: the JSON line itself is refused
    r = signer.post("/records", data=body, headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 400, r.text
    result = r.json()
    assert result["accepted"] == 0 and result["rejected"] == len(bad) + 1, result
    reasons = [e["reason"] for e in result["errors"]]
    assert "513" not in reasons[0] and "512 bytes" in reasons[0], reasons
    assert all("control character" in x for x in reasons[1:4]), reasons
    assert signer.stats()["unsigned_records"] == 0
