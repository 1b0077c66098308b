"""`signer verify` on a tampered export: every way to alter a stored record that the signature
can see is reported by id with exit 1. A changed id is not one of them (the signature covers
Keccak256(salt+msg) only, docs/SECURITY.md "What a signature binds"): it is pinned as valid."""
from __future__ import annotations

import json

from instance import read_ndjson, write_ndjson


def test_verify_names_each_tampered_record_of_an_export_file(cli, keyring, tmp_path):
    assert cli.load_random(12)["accepted"] == 12
    cli.sign("--batch-size", "12", "--progress", "never")
    records = read_ndjson(cli.export())
    assert len(records) == 12

    def moved_short(r):  # salt minus its last char; that char opens msg: same hashed bytes
        return {**r, "salt": r["salt"][:-1], "msg": r["salt"][-1] + r["msg"]}

    def moved_long(r):  # first char of msg appended to salt: same hashed bytes
        return {**r, "salt": r["salt"] + r["msg"][0], "msg": r["msg"][1:]}

    def empty_salt(r):  # whole salt moved into msg: same hashed bytes
        return {**r, "salt": "", "msg": r["salt"] + r["msg"]}

    def upper_salt(r):
        return {**r, "salt": r["salt"].upper()}

    def other_version(r):
        return {**r, "salt": r["salt"][:14] + "1" + r["salt"][15:]}

    def changed_msg(r):
        return {**r, "msg": r["msg"] + "!"}

    def changed_sign(r):
        s = r["sign"]
        return {**r, "sign": s[:10] + ("0" if s[10] != "0" else "1") + s[11:]}

    def changed_key(r):
        other = next(k for k in keyring.public_keys if k != r["key"])
        return {**r, "key": other}

    tamperings = [moved_short, moved_long, empty_salt, upper_salt, other_version, changed_msg,
                  changed_sign, changed_key]
    tampered = [t(r) for t, r in zip(tamperings, records)]
    renamed = {**records[len(tamperings)], "id": "renamed-" + records[len(tamperings)]["id"]}
    untouched = records[len(tamperings) + 1:]
    path = write_ndjson(tmp_path / "tampered.ndjson", tampered + [renamed] + untouched)

    result = cli.run("verify", "--input", str(path), check=False)
    assert result.returncode == 1, str(result)
    lines = result.stdout.strip().splitlines()
    for t, r in zip(tamperings, tampered):
        assert any(line.startswith(f"invalid {r['id']}:") for line in lines), (t.__name__, lines)
    for t, r in zip(tamperings[:5], tampered):
        assert f"invalid {r['id']}: salt is not a lowercase UUIDv4" in lines, (t.__name__, lines)
    # Documented limit: the id is not under the signature, so a renamed record still verifies.
    assert not any(renamed["id"] in line for line in lines), lines
    assert lines[-1] == f"valid {1 + len(untouched)} invalid {len(tamperings)}", lines
