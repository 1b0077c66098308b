"""eip191 and eip712 records, as `signer sign-message --scheme` writes them, checked by the
verifiers people use: eth-account (Account.recover_message over encode_defunct and
encode_typed_data) and ethers v6 (verifyMessage, verifyTypedData; tests/verifiers), and by
`signer verify`. Each must recover the record's key, and each must refuse a record with one byte
of msg changed. eip712 messages that do not fit the type are refused one by one with their
reason while the rest are signed."""
from __future__ import annotations

import json
import random
import subprocess
import uuid
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_keys import keys

from instance import read_ndjson, write_ndjson

REPO = Path(__file__).resolve().parents[2]
VERIFY_ETHERS = REPO / "tests" / "verifiers" / "verify_ethers.mjs"
COUNT = 1000  # records of each scheme

VOUCHER = {
    "name": "voucher",
    "domain": {"name": "Vouchers", "version": "1", "chainId": 10,
               "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "primaryType": "Voucher",
    "types": {"Voucher": [{"name": "to", "type": "address"},
                          {"name": "amount", "type": "uint256"},
                          {"name": "memo", "type": "string"},
                          {"name": "nonce", "type": "bytes32"}]},
    "saltField": "nonce",
}


def typed_voucher(r: dict) -> dict:
    """A signed voucher record as eth-account's encode_typed_data takes it: its msg, with the
    salt in the nonce field as typed_data_scheme.h defines it."""
    types = {"EIP712Domain": [{"name": "name", "type": "string"},
                              {"name": "version", "type": "string"},
                              {"name": "chainId", "type": "uint256"},
                              {"name": "verifyingContract", "type": "address"}],
             **VOUCHER["types"]}
    message = json.loads(r["msg"])
    message["amount"] = int(message["amount"])
    message["nonce"] = bytes.fromhex(uuid.UUID(r["salt"]).hex.rjust(64, "0"))
    return {"types": types, "primaryType": "Voucher", "domain": VOUCHER["domain"],
            "message": message}


def address_of(public_key: str) -> str:
    return keys.PublicKey(bytes.fromhex(public_key[4:])).to_checksum_address()


def sign_messages(cli, lines: list[dict], *scheme_args: str):
    path = write_ndjson(cli.workdir / "in.ndjson", lines)
    result = cli.run("sign-message", "--keys", str(cli.keys), "--input", str(path), *scheme_args,
                     check=False)
    out = cli.workdir / "signed.ndjson"
    out.write_text(result.stdout)
    return result, out


def ethers_verdict(records: Path, scheme: Path | None = None) -> dict:
    args = ["node", str(VERIFY_ETHERS), str(records)] + ([str(scheme)] if scheme else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def tamper(record: dict, rng: random.Random) -> dict:
    """The record with one byte of its msg changed (an ASCII byte, so it stays text)."""
    msg = record["msg"].encode()
    i = rng.randrange(len(msg))
    while msg[i] >= 0x80 or msg[i] in b'"\\{}:,' or chr(msg[i] ^ 1) in '"\\':
        i = rng.randrange(len(msg))
    return {**record, "msg": (msg[:i] + bytes([msg[i] ^ 1]) + msg[i + 1:]).decode()}


def test_eip191_records_are_recovered_by_eth_account_ethers_and_signer_verify(cli, keyring):
    rng = random.Random(191)
    lines = [{"id": f"m{i}", "key_index": i % 3,
              "msg": "m" + "".join(rng.choice("abcdefgh ÿé€") for _ in range(rng.randrange(40)))}
             for i in range(COUNT)]
    result, out = sign_messages(cli, lines, "--scheme", "eip191")
    assert result.returncode == 0, str(result)
    records = read_ndjson(out)
    assert len(records) == COUNT
    for r in records:
        assert r["scheme"] == "eip191" and "digest" not in r and int(r["sign"][-2:], 16) in (27, 28)
        signable = encode_defunct(text=r["salt"] + r["msg"])
        assert Account.recover_message(signable, signature=r["sign"]) == address_of(r["key"]), r
    assert ethers_verdict(out) == {"checked": COUNT, "valid": COUNT, "invalid": []}
    assert cli.verify(out).stdout.strip().splitlines()[-1] == f"valid {COUNT} invalid 0"

    tampered = [tamper(r, rng) for r in records[:50]]
    for r in tampered:
        signable = encode_defunct(text=r["salt"] + r["msg"])
        assert Account.recover_message(signable, signature=r["sign"]) != address_of(r["key"]), r
    bad = write_ndjson(cli.workdir / "tampered.ndjson", tampered)
    verdict = ethers_verdict(bad)
    assert verdict["valid"] == 0 and len(verdict["invalid"]) == 50, verdict
    result = cli.verify(bad)
    assert result.returncode == 1 and result.stdout.strip().splitlines()[-1] == "valid 0 invalid 50"


def test_eip712_records_are_recovered_by_eth_account_ethers_and_signer_verify(cli, keyring):
    rng = random.Random(712)
    scheme = cli.workdir / "voucher.json"
    scheme.write_text(json.dumps(VOUCHER))
    lines = []
    for i in range(COUNT):
        msg = {"to": "0x" + rng.randbytes(20).hex(), "amount": str(rng.getrandbits(200)),
               "memo": f"wave {rng.randrange(100)} é"}
        lines.append({"id": f"v{i}", "key_index": i % 3, "msg": json.dumps(msg)})
    # Mixed in: messages that do not fit the Voucher type, each refused with its reason.
    unfit = {"not-json": "hello", "missing": json.dumps({"to": "0x" + "11" * 20, "amount": "1"}),
             "extra": json.dumps({"to": "0x" + "11" * 20, "amount": "1", "memo": "", "x": 1}),
             "salt-given": json.dumps({"to": "0x" + "11" * 20, "amount": "1", "memo": "",
                                       "nonce": "0x" + "00" * 32}),
             "negative": json.dumps({"to": "0x" + "11" * 20, "amount": "-1", "memo": ""})}
    for n, (id_, msg) in enumerate(unfit.items()):
        lines.insert(n * 97, {"id": id_, "key_index": 0, "msg": msg})
    result, out = sign_messages(cli, lines, "--scheme", "eip712:voucher", "--scheme-file",
                                str(scheme))
    assert result.returncode == 1, str(result)
    reasons = {"not-json": "msg is not JSON", "missing": 'missing field "memo"',
               "extra": 'unknown field "x"', "salt-given": 'field "nonce" is filled by the salt',
               "negative": 'field "amount" is negative'}
    for n, line in enumerate(lines):  # sign-message numbers its input lines from 0
        if line["id"] in unfit:
            want = f"line {n}: cannot sign under eip712:voucher: {reasons[line['id']]}"
            assert want in result.stderr, (want, result.stderr)
    records = read_ndjson(out)
    assert sorted(r["id"] for r in records) == sorted(l["id"] for l in lines if l["id"] not in unfit)

    typed = typed_voucher
    for r in records:
        assert r["scheme"] == "eip712" and int(r["sign"][-2:], 16) in (27, 28)
        signable = encode_typed_data(full_message=typed(r))
        assert Account.recover_message(signable, signature=r["sign"]) == address_of(r["key"]), r
    assert ethers_verdict(out, scheme) == {"checked": COUNT, "valid": COUNT, "invalid": []}
    result = cli.run("verify", "--input", str(out), "--scheme-file", str(scheme), check=False)
    assert result.stdout.strip().splitlines()[-1] == f"valid {COUNT} invalid 0", str(result)
    # Without the scheme file the digest cannot be recomputed: not valid.
    result = cli.verify(out)
    assert result.returncode == 1, str(result)

    tampered = [tamper(r, rng) for r in records[:50]]
    for r in tampered:
        try:
            signable = encode_typed_data(full_message=typed(r))
        except Exception:  # the change made the message unfit for the type: refused as well
            continue
        assert Account.recover_message(signable, signature=r["sign"]) != address_of(r["key"]), r
    bad = write_ndjson(cli.workdir / "tampered.ndjson", tampered)
    verdict = ethers_verdict(bad, scheme)
    assert verdict["valid"] == 0 and len(verdict["invalid"]) == 50, verdict
    result = cli.run("verify", "--input", str(bad), "--scheme-file", str(scheme), check=False)
    assert result.returncode == 1 and result.stdout.strip().splitlines()[-1] == "valid 0 invalid 50"
