"""Cluster mode with keys that never leave an HSM: `CLUSTER_KEY_SOURCE=softhsm scripts/cluster.sh`
makes the keys on a SoftHSM2 token, and every pod signs through PKCS#11 (the token's files are
shared by the pods, as an HSM is shared by the pods of a real cluster). A job spread over three
pods signs every record exactly once with the token's keys, and `signer verify` checks each
signature, independently of the pods."""
from __future__ import annotations

import pytest

from instance import read_ndjson
from local_cluster import ceil_div, scaled


@pytest.mark.stores("postgres")
def test_three_pods_sign_a_job_with_hsm_keys(cluster_factory, store):
    cluster = cluster_factory(3, env={"CLUSTER_KEY_SOURCE": "softhsm", "CLUSTER_KEY_COUNT": "2"})
    views = [pod.get("/keys").json() for pod in cluster.pods]
    hsm_keys = [k["key"] for k in views[0]["keys"]]
    assert len(hsm_keys) == 2, views[0]
    for view in views:  # every pod opened the same token keys
        assert [k["source"] for k in view["keys"]] == ["pkcs11", "pkcs11"], view
        assert [k["key"] for k in view["keys"]] == hsm_keys, view

    n, size = scaled(3_000), scaled(250)
    expected = cluster.insert_original_docs(n)
    r = cluster.pods[0].sign(size, timeout=600)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["state"] == "succeeded" and job["batches_done"] == ceil_div(n, size), job
    assert all(pod.batches_ok() > 0 for pod in cluster.pods), "a pod ran no batch"

    cli = cluster.cli()
    path = cli.export(cluster.workdir / "export-hsm.ndjson")
    result = cli.verify(path)
    records = read_ndjson(path)
    assert result.returncode == 0 and \
        result.stdout.strip().splitlines()[-1] == f"valid {n} invalid 0", str(result)
    assert sorted(r["id"] for r in records) == sorted(expected)
    assert {r["key"] for r in records} == set(hsm_keys)  # both token keys, nothing else

    pin = (cluster.dir / "hsm-pin").read_text().strip()
    for log in cluster.dir.glob("pod-*.log"):
        assert pin not in log.read_text(errors="replace"), log
