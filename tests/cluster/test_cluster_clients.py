"""Revocation and rotation in cluster mode (issue 22): three pods read one clients file (as pods
mount one Secret); a client removed from it, or rotated, is refused by every pod behind the
Service within a few seconds, without a restart, while a job signs through the same pods; each
pod writes the change to the shared audit trail."""
from __future__ import annotations

import time

import pytest
import requests

from helpers import random_records
from instance import SignerCli, signer_binary

ROUNDS = 9  # through nginx's round robin: every pod answers several times


def statuses(url: str, token: str) -> set[int]:
    return {requests.get(url + "/stats", headers={"Authorization": f"Bearer {token}",
                                                 "Connection": "close"}, timeout=10).status_code
            for _ in range(ROUNDS)}


def wait_for(url: str, token: str, want: set[int], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    seen: set[int] = set()
    while time.monotonic() < deadline:
        seen = statuses(url, token)
        if seen == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"through the Service {seen}, wanted {want}")


@pytest.mark.stores("postgres")
def test_every_pod_refuses_a_removed_client_and_honours_a_rotation(cluster_factory, tmp_path,
                                                                   store):
    clients = tmp_path / "clients.json"
    cli = SignerCli(signer_binary(), "", tmp_path / "unused-keys.csv", tmp_path)
    ops = cli.add_client(clients, "ops", "ingest,sign,read")
    b = cli.add_client(clients, "b", "read")
    c = cluster_factory(3, env={"CLUSTER_SIGNER_ARGS": f"--clients {clients}",
                                "BS_KEY_WATCH_INTERVAL_MS": "200"})
    lb = c.lb_url
    wait_for(lb, b, {200})

    # A job runs through the pods while the file changes under them.
    records = random_records(20_000, prefix="clients-")
    auth = {"Authorization": f"Bearer {ops}"}
    r = requests.post(lb + "/records", headers={**auth, "Content-Type": "application/x-ndjson"},
                      data="".join(f'{{"id":"{x["id"]}","msg":"{x["msg"]}"}}\n' for x in records),
                      timeout=120)
    assert r.status_code == 200 and r.json()["accepted"] == 20_000, r.text[:300]
    started = requests.get(c.pods[0].url + "/sign/1000", headers=auth, timeout=30)
    assert started.status_code == 202, started.text

    cli.run("client", "remove", "--clients", str(clients), "--name", "b")
    wait_for(lb, b, {401})
    new_ops = cli.run("client", "rotate", "--clients", str(clients), "--name", "ops",
                      "--grace", "60s").stdout.strip()
    wait_for(lb, new_ops, {200})
    assert statuses(lb, ops) == {200}  # the old token, within its grace

    deadline = time.monotonic() + 120
    job = None
    while time.monotonic() < deadline:
        job = requests.get(c.pods[0].url + "/stats", headers=auth, timeout=30).json()["job"]
        if job and job["state"] != "running":
            break
        time.sleep(0.5)
    assert job and job["state"] == "succeeded", job
    c.export_and_verify({x["id"]: x["msg"] for x in records})

    events = requests.get(lb + "/audit?limit=200", headers={"Authorization": f"Bearer {new_ops}"},
                          timeout=30).json()["events"]
    removed = {e["detail"] for e in events if e["route"] == "/clients" and e["outcome"] == "removed"}
    rotated = {e["detail"] for e in events if e["route"] == "/clients" and e["outcome"] == "rotated"}
    assert len(removed) == 3 and len(rotated) == 3, events  # one per pod, each naming its pod
