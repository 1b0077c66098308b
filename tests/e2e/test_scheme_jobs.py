"""Signing jobs under a scheme (issue 23, part 2): GET /sign/:size?scheme=eip191|eip712:voucher on
`signer serve --scheme-file`, each job mixed with records that cannot be signed under it. Every
record a job signed is recovered by eth-account and ethers (as test_schemes.py does for
sign-message), `signer audit verify` and POST /jobs/:id/verify check it with its scheme, and
/jobs shows the scheme. A scheme the server does not have is a 400 before any record moves; a
scheme or EIP-712 domain outside a client's clients-file limits is a 403 with its audit event."""
from __future__ import annotations

import json
import os
import random

import requests

from instance import read_ndjson, write_ndjson
from test_schemes import VOUCHER, address_of, ethers_verdict, typed_voucher

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

# Records of each scheme. The proof at scale (a 10k job of each scheme, every record
# recovered by eth-account and ethers) is this test with SIGNER_SCHEME_JOB_RECORDS=10000.
COUNT = int(os.environ.get("SIGNER_SCHEME_JOB_RECORDS", "300"))


def vouchers(rng: random.Random, n: int, prefix: str) -> list[dict]:
    return [{"id": f"{prefix}{i:04d}",
             "msg": json.dumps({"to": "0x" + rng.randbytes(20).hex(),
                                "amount": str(rng.getrandbits(100)), "memo": f"m{i}"})}
            for i in range(n)]


def records_of_job(cli, job_id: str) -> list[dict]:
    return [r for r in read_ndjson(cli.export()) if r.get("job_id") == job_id]


def test_jobs_of_each_scheme_are_recovered_by_eth_account_and_ethers(cli, signer_factory):
    rng = random.Random(23)
    scheme = cli.workdir / "voucher.json"
    scheme.write_text(json.dumps(VOUCHER))
    server = signer_factory.start("--scheme-file", str(scheme))

    # Nothing moves for a scheme the server cannot sign under.
    assert server.ingest([{"id": f"t{i:04d}", "msg": f"text é {i}"} for i in range(COUNT)]).ok
    for bad, why in [("eip999", "unknown scheme eip999"),
                     ("eip712:coupon", "no EIP-712 scheme file named coupon"),
                     ("", "scheme must be")]:
        r = server.get(f"/sign/50?wait=true&scheme={bad}")
        assert r.status_code == 400 and why in r.json()["error"], (bad, r.text)
    assert server.stats()["signed_records"] == 0 and server.stats()["job"] is None

    # eip191: personal_sign of salt + msg.
    r = server.get("/sign/70?wait=true&scheme=eip191", timeout=120)
    assert r.status_code == 200, r.text
    job191 = r.json()
    assert job191["scheme"] == "eip191" and job191["records_signed"] == COUNT, job191
    signed191 = records_of_job(cli, job191["id"])
    assert len(signed191) == COUNT
    for rec in signed191:
        assert rec["scheme"] == "eip191" and "digest" not in rec
        signable = encode_defunct(text=rec["salt"] + rec["msg"])
        assert Account.recover_message(signable, signature=rec["sign"]) == address_of(rec["key"])
    path191 = write_ndjson(cli.workdir / "job191.ndjson", signed191)
    assert ethers_verdict(path191) == {"checked": COUNT, "valid": COUNT, "invalid": []}

    # eip712: vouchers, mixed with records that are no vouchers; those stay unsigned.
    unfit = [{"id": "u-not-json", "msg": "hello"},
             {"id": "u-missing", "msg": json.dumps({"to": "0x" + "11" * 20, "amount": "1"})},
             {"id": "u-salt-given", "msg": json.dumps({"to": "0x" + "11" * 20, "amount": "1",
                                                       "memo": "", "nonce": "0x" + "00" * 32})}]
    assert server.ingest(vouchers(rng, COUNT, "v") + unfit).ok
    r = server.get("/sign/70?wait=true&scheme=eip712:voucher", timeout=120)
    assert r.status_code == 200, r.text
    job712 = r.json()
    assert job712["scheme"] == "eip712:voucher", job712
    assert job712["state"] == "succeeded", job712
    assert job712["records_signed"] == COUNT and job712["records_invalid"] == 3, job712
    assert sorted(job712["invalid_ids"]) == sorted(u["id"] for u in unfit)
    assert server.stats()["unsigned_records"] == 3
    signed712 = records_of_job(cli, job712["id"])
    assert len(signed712) == COUNT
    for rec in signed712:
        assert rec["scheme"] == "eip712" and rec["digest"].startswith("0x")
        signable = encode_typed_data(full_message=typed_voucher(rec))
        assert Account.recover_message(signable, signature=rec["sign"]) == address_of(rec["key"])
    path712 = write_ndjson(cli.workdir / "job712.ndjson", signed712)
    assert ethers_verdict(path712, scheme) == {"checked": COUNT, "valid": COUNT, "invalid": []}
    events = server.get(f"/audit?job={job712['id']}&limit=200").json()["events"]
    assert any(e["outcome"] == "invalid" and "u-not-json (eip712:voucher: msg is not JSON)"
               in e["detail"] for e in events), events
    assert any(e["outcome"] == "started" and "scheme eip712:voucher" in e["detail"]
               for e in events)

    # A raw job signs what is left, in the original's layout.
    job_raw = server.sign_ok(10)
    assert job_raw["scheme"] == "raw" and job_raw["records_signed"] == 3
    for rec in records_of_job(cli, job_raw["id"]):
        assert set(rec) == {"id", "msg", "salt", "sign", "key", "job_id"}, rec

    # Each job says its scheme, and verifies by it: on the server and on the command line.
    listed = {j["id"]: j for j in server.get("/jobs").json()["jobs"]}
    assert listed[job191["id"]]["parameters"]["scheme"] == "eip191"
    assert listed[job712["id"]]["parameters"]["scheme"] == "eip712:voucher"
    assert listed[job712["id"]]["parameters"]["scheme_fingerprint"].startswith("0x")
    assert server.get(f"/jobs/{job_raw['id']}").json()["parameters"]["scheme"] == "raw"
    for job in (job191, job712, job_raw):
        r = server.post(f"/jobs/{job['id']}/verify")
        assert r.status_code == 200 and r.json()["ok"], r.text
    result = cli.run("audit", "verify", "--job", job712["id"], "--store", cli.store,
                     "--scheme-file", str(scheme), check=False)
    assert result.returncode == 0, str(result)
    assert result.stdout.strip().endswith(f"{COUNT} valid, 0 mismatches"), str(result)
    # Without its scheme file the eip712 job cannot be checked, and says so.
    result = cli.run("audit", "verify", "--job", job712["id"], "--store", cli.store, check=False)
    assert result.returncode == 1 and "no scheme file of that name" in result.stdout, str(result)


def test_client_scheme_and_domain_limits_are_refused_with_403_and_audited(cli, signer_factory):
    scheme = cli.workdir / "voucher.json"
    scheme.write_text(json.dumps(VOUCHER))
    clients = cli.workdir / "clients.json"
    ops = cli.add_client(clients, "ops", "ingest,sign,read")
    shop = cli.add_client(clients, "shop", "sign")
    other = cli.add_client(clients, "other-domain", "sign")
    doc = json.loads(clients.read_text())
    for c in doc["clients"]:
        if c["name"] == "shop":
            c["schemes"] = ["eip712"]
            c["eip712_domains"] = [{"name": "Vouchers", "chainId": 10}]
        if c["name"] == "other-domain":
            c["eip712_domains"] = [{"name": "Coupons"}]
    clients.write_text(json.dumps(doc))
    server = signer_factory.start("--scheme-file", str(scheme), "--clients", str(clients),
                                  token=ops)
    assert server.ingest(vouchers(random.Random(5), 40, "v")).ok

    def get(path, token):
        return requests.get(server.url(path), timeout=60,
                            headers={"Authorization": f"Bearer {token}", "Connection": "close"})

    for path in ["/sign/10?scheme=raw", "/sign/10", "/sign/10?scheme=eip191"]:
        r = get(path, shop)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"].startswith("client shop may not sign under "), r.text
    # /batch without ?scheme= signs raw: refused too, however the client calls it.
    r = get("/batch/0/1/0", shop)
    assert r.status_code == 403 and "may not sign under raw" in r.json()["error"], r.text
    r = get("/sign/10?wait=true&scheme=eip712:voucher", other)
    assert r.status_code == 403, r.text
    assert "its EIP-712 domain {name=Vouchers chainId=10" in r.json()["error"], r.text
    assert "not one of its clients-file eip712_domains: {name=Coupons}" in r.json()["error"]
    assert server.stats()["signed_records"] == 0

    refusals = [e for e in server.get("/audit?limit=200").json()["events"]
                if e["outcome"] == "refused:403" and "scheme:" in e["detail"]]
    assert {e["client"] for e in refusals} == {"shop", "other-domain"}, refusals
    assert any(e["route"] == "/batch" for e in refusals)

    r = get("/sign/10?wait=true&scheme=eip712:voucher", shop)
    assert r.status_code == 200 and r.json()["records_signed"] == 40, r.text


def test_a_pod_without_the_jobs_scheme_file_fails_the_job_at_once_saying_why(cli, signer_factory):
    """Cluster mode on one store: the coordinator sends every batch to a peer. A peer without the
    scheme file, or with another file of the same name, answers 4xx, which is not retried."""
    scheme = cli.workdir / "voucher.json"
    scheme.write_text(json.dumps(VOUCHER))
    other = cli.workdir / "other.json"
    other.write_text(json.dumps({**VOUCHER, "domain": {**VOUCHER["domain"], "chainId": 11}}))
    bare = signer_factory.start()
    different = signer_factory.start("--scheme-file", str(other))
    cli.load_file(write_ndjson(cli.workdir / "v.ndjson", vouchers(random.Random(7), 20, "v")))
    for peer, status, why in [(bare, 400, "no EIP-712 scheme file named voucher"),
                              (different, 409, "every pod must mount the same scheme file")]:
        coordinator = signer_factory.start("--scheme-file", str(scheme),
                                           env={"BS_MSG_SIGNER_URL": peer.url("")})
        r = coordinator.get("/sign/10?wait=true&scheme=eip712:voucher", timeout=120)
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["state"] == "failed" and job["records_signed"] == 0, job
        assert job["retries"] == 0 and all(f["attempts"] == 1 for f in job["failed"]), job
        assert f"peer answered {status}: " in job["error"] and why in job["error"], job
        coordinator.stop()
    assert bare.stats()["signed_records"] == 0


def test_signer_sign_runs_a_job_under_the_scheme_it_is_given(cli):
    cli.load_random(40)
    result = cli.sign("--scheme", "eip712", check=False)  # no scheme file: refused, nothing moved
    assert result.returncode == 1 and "scheme eip712 needs a scheme file" in result.stderr
    assert cli.stats()["signed_records"] == 0
    job = cli.sign("--scheme", "eip191", "--batch-size", "15", "--progress", "never").json()
    assert (job["state"], job["scheme"], job["records_signed"]) == ("succeeded", "eip191", 40)
    path = cli.export()
    assert {r["scheme"] for r in read_ndjson(path)} == {"eip191"}
    assert ethers_verdict(path) == {"checked": 40, "valid": 40, "invalid": []}
