"""Faults in cluster mode: a pod killed mid-job, the database stopped mid-job. Nothing may be
lost or signed twice, and a rerun finishes the work."""
from __future__ import annotations

import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from helpers import metric_values, wait_until
from local_cluster import LocalCluster, ceil_div, scaled

STORE_ERROR = re.compile(r"store|mongo", re.I)


def batches_ok_total(cluster: LocalCluster, pods) -> float:
    return sum(p.batches_ok() for p in pods)


def records_signed_total(cluster: LocalCluster) -> float:
    """signer_records_signed_total over all pods: grows chunk by chunk, inside batches."""
    total = 0.0
    for pod in cluster.pods:
        total += sum(v for _, v in metric_values(pod.metrics(), "signer_records_signed_total"))
    return total


def assert_nothing_lost(cluster: LocalCluster, expected: dict[str, str]) -> tuple[int, int]:
    """Straight from the database: every id is in records or signedrecords, none is anywhere
    twice, and nothing else is there. (A record may sit in both collections between the two
    steps of a move; the next run finishes that move.)"""
    unsigned = cluster.ids_in("records")
    signed = cluster.ids_in("signedrecords")
    for name, ids in (("records", unsigned), ("signedrecords", signed)):
        twice = [i for i, c in Counter(ids).items() if c > 1]
        assert not twice, f"{len(twice)} ids twice in {name}, e.g. {twice[:3]}"
    present = set(unsigned) | set(signed)
    missing = expected.keys() - present
    assert not missing, f"{len(missing)} records lost, e.g. {sorted(missing)[:3]}"
    assert not present - expected.keys(), "records that were never inserted"
    return len(signed), len(unsigned)


def rerun_until_done(cluster: LocalCluster, pod, size: int, n: int) -> dict:
    r = pod.sign(size)
    assert r.status_code == 200, f"rerun /sign/{size}?wait=true -> {r.status_code} {r.text}"
    job = r.json()
    assert job["state"] == "succeeded", job
    stats = pod.stats()
    assert (stats["signed_records"], stats["unsigned_records"]) == (n, 0), stats
    return job


def test_pod_killed_mid_job(cluster_factory):
    """kill -9 one pod while a job runs on another. The load balancer behaves like a plain k8s
    Service (no retry of its own; a failed pod is taken out for a while, like endpoint removal),
    so recovery is the coordinator's retry of the batches that hit the dead pod."""
    cluster = cluster_factory(3, env={"CLUSTER_LB_NEXT_UPSTREAM": "off",
                                      "CLUSTER_LB_MAX_FAILS": "1",
                                      "CLUSTER_LB_FAIL_TIMEOUT": "10"})
    # Small data, many batches: on FerretDB every batch costs two scans of the collection, so a
    # job's length grows with batches x records. 60 batches run for several seconds.
    n, size = scaled(3_000), scaled(50)
    expected = cluster.insert_original_docs(n)
    coordinator, victim = cluster.pods[0], cluster.pods[2]

    r = coordinator.sign(size, wait=False)
    assert r.status_code == 202, r.text
    plan = r.json()
    assert plan["batches"] == ceil_div(n, size), plan

    # Kill it once it has run some batches and well before the job ends.
    wait_until(lambda: victim.batches_ok() >= 2, timeout=120, interval=0.05,
               what="the victim pod to run batches")
    before = coordinator.stats()["job"]
    assert before["state"] == "running" and before["batches_done"] < before["batches"] - 20, \
        f"job too far along to test a mid-job kill: {before}"
    victim.kill9()
    print(f"killed {victim.name} at {before['batches_done']}/{before['batches']} batches")

    job = coordinator.wait_job_done()
    print(f"job after the kill: state {job['state']}, done {job['batches_done']}, "
          f"failed {job['batches_failed']}, retries {job['retries']}")
    assert job["state"] in ("succeeded", "failed"), job
    # The kill was noticed: batches on the dead pod failed and were retried (or reported).
    assert job["retries"] > 0 or job["batches_failed"] > 0, job
    if job["state"] == "succeeded":
        assert job["batches_done"] == job["batches"] and job["failed"] == [], job
    else:
        assert job["batches_done"] + job["batches_failed"] == job["batches"], job
        assert all(f["error"] for f in job["failed"]), job["failed"]
    # The survivors carried on.
    assert cluster.pods[1].batches_ok() > 0

    assert_nothing_lost(cluster, expected)
    rerun_until_done(cluster, coordinator, size, n)
    for pod in cluster.pods[:2]:
        s = pod.stats()
        assert (s["signed_records"], s["unsigned_records"]) == (n, 0), s
    cluster.export_and_verify(expected)


def test_database_stopped_mid_job(cluster_factory):
    """FerretDB dies (kill -9) while batches run: they fail with errors naming the store, the job
    says so, readiness drops, nothing is lost; after a restart a rerun signs the rest exactly
    once."""
    # Chunks of 100: a batch of 400 commits in 4 steps, so the outage hits batches midway.
    cluster = cluster_factory(3, env={"CLUSTER_SIGNER_ARGS": f"--chunk-size {scaled(100)}"})
    n, size = scaled(3_200), scaled(400)
    expected = cluster.insert_original_docs(n)
    coordinator = cluster.pods[0]

    with ThreadPoolExecutor(1) as pool:
        # 8 batches of 400, all in flight at once (the coordinator's default concurrency): each
        # fails after its attempts, in one wave.
        waiting = pool.submit(coordinator.sign, size, True, 300)
        wait_until(lambda: records_signed_total(cluster) > 0, timeout=120, interval=0.05,
                   what="the first chunk to be signed")
        cluster.kill_ferretdb()
        stopped = time.monotonic()
        r = waiting.result(timeout=300)
    took = time.monotonic() - stopped
    assert r.status_code == 200, f"/sign?wait=true -> {r.status_code} {r.text}"
    job = r.json()
    print(f"job ended {took:.1f}s after the database stopped: state {job['state']}, done "
          f"{job['batches_done']}, failed {job['batches_failed']}, retries {job['retries']}")
    assert job["state"] == "failed", job
    assert job["batches_failed"] > 0 and len(job["failed"]) == job["batches_failed"], job
    bad = [f for f in job["failed"] if not STORE_ERROR.search(f["error"])]
    assert not bad, f"batch errors that do not name the store: {bad}"
    print(f"e.g. {job['failed'][0]['error']}")

    # Readiness reflects the outage, with the reason.
    ready = cluster.pods[1].get("/readyz", timeout=30)
    assert ready.status_code == 503, ready.text
    assert STORE_ERROR.search(ready.json()["error"]), ready.text

    cluster.ferretdb("start")
    for pod in cluster.pods:
        wait_until(lambda: _ready(pod), timeout=60, interval=0.2, what=f"{pod.name} ready again")

    signed, unsigned = assert_nothing_lost(cluster, expected)
    assert unsigned > 0, "the outage should have left work undone"
    print(f"after the outage: {signed} signed, {unsigned} unsigned")

    rerun_until_done(cluster, coordinator, size, n)
    cluster.export_and_verify(expected)


def _ready(pod) -> bool:
    try:
        return pod.get("/readyz", timeout=10).status_code == 200
    except requests.RequestException:
        return False
