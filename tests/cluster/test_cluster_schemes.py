"""An EIP-712 job over three pods on PostgreSQL (issue 23): the coordinator's /batch requests carry
the scheme and its file's fingerprint, every pod signs under the same scheme file (BS_SCHEME_FILES),
and every record, whichever pod signed it, verifies under that file: `signer verify`,
`signer audit verify` and POST /jobs/:id/verify on another pod. A voucher that does not fit the
type stays unsigned and is reported; the rest of the job succeeds."""
from __future__ import annotations

import json
import uuid

import pytest

from local_cluster import ceil_div
from test_schemes import VOUCHER

RECORDS = 3000
BATCH = 150


@pytest.mark.stores("postgres")
def test_an_eip712_job_over_three_pods_signs_every_voucher_under_one_scheme_file(
        cluster_factory, tmp_path):
    scheme = tmp_path / "voucher.json"
    scheme.write_text(json.dumps(VOUCHER))
    cluster = cluster_factory(env={"BS_SCHEME_FILES": str(scheme)})
    vouchers = tmp_path / "vouchers.ndjson"
    with open(vouchers, "w") as f:
        for i in range(RECORDS):
            msg = {"to": "0x" + uuid.uuid4().hex[:40].ljust(40, "0"), "amount": str(i),
                   "memo": f"voucher {i}"}
            f.write(json.dumps({"id": uuid.uuid4().hex, "msg": json.dumps(msg)}) + "\n")
        f.write(json.dumps({"id": "ffffffff-unfit", "msg": '{"to": "0x12"}'}) + "\n")
    assert cluster.cli().load_file(vouchers)["accepted"] == RECORDS + 1

    r = cluster.pods[0].get(f"/sign/{BATCH}?wait=true&scheme=eip712:voucher", timeout=300)
    assert r.status_code == 200, r.text
    job = r.json()
    assert (job["state"], job["mode"], job["scheme"]) == ("succeeded", "http", "eip712:voucher"), job
    assert job["batches"] == ceil_div(RECORDS + 1, BATCH), job
    assert (job["records_signed"], job["records_invalid"]) == (RECORDS, 1), job
    assert job["invalid_ids"] == ["ffffffff-unfit"], job

    view = cluster.pods[1].get(f"/jobs/{job['id']}").json()
    assert view["parameters"]["scheme"] == "eip712:voucher"
    assert {b["pod"] for b in view["results"]} == {pod.name for pod in cluster.pods}, view
    events = cluster.pods[2].get(f"/audit?job={job['id']}&limit=200").json()["events"]
    pods_that_signed = {e["detail"].split()[1] for e in events
                        if e["route"] == "/batch" and e["outcome"] == "ok"
                        and e["detail"].endswith("scheme eip712:voucher")}
    assert pods_that_signed == {pod.name for pod in cluster.pods}, events

    cli = cluster.cli()
    exported = cli.export(tmp_path / "export.ndjson")
    result = cli.run("verify", "--input", str(exported), "--scheme-file", str(scheme), check=False)
    assert result.stdout.strip().splitlines()[-1] == f"valid {RECORDS} invalid 0", str(result)
    audited = cli.run("audit", "verify", "--job", job["id"], "--store", cluster.store_url,
                      "--scheme-file", str(scheme), check=False)
    assert audited.returncode == 0, str(audited)
    r = cluster.pods[2].post(f"/jobs/{job['id']}/verify")
    assert r.status_code == 200 and r.json()["valid"] == RECORDS and r.json()["ok"], r.text
