"""Faults in cluster mode: a pod killed mid-job, the database killed or restarted mid-job.
Nothing may be lost or signed twice, and a rerun finishes the work. PostgreSQL runs them at full
volume; FerretDB, where every batch scans the whole collection, on small data."""
from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from helpers import metric_values, wait_until
from job_report import assert_report_matches_store, job_end, job_gauge
from local_cluster import LocalCluster, ceil_div, scaled


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
    twice, and nothing else is there. (On MongoDB a record may sit in both collections between
    the two steps of a move, and the next run finishes that move; on PostgreSQL a move is one
    transaction, so never.)"""
    unsigned = cluster.ids_in("records")
    signed = cluster.ids_in("signedrecords")
    for name, ids in (("records", unsigned), ("signedrecords", signed)):
        twice = [i for i, c in Counter(ids).items() if c > 1]
        assert not twice, f"{len(twice)} ids twice in {name}, e.g. {twice[:3]}"
    if cluster.db.moves_are_atomic:
        both = set(unsigned) & set(signed)
        assert not both, f"{len(both)} ids in both tables, e.g. {sorted(both)[:3]}"
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


# (records, batch size, signer serve arguments) of the job a pod is killed in. Many batches, so
# the kill lands mid-job: on FerretDB every batch costs two scans of the collection (a job's
# length grows with batches x records), so 60 batches of small data run for several seconds; on
# PostgreSQL 500 batches of chunks of 20 do.
POD_KILL_JOB = {"postgres": (50_000, 100, "--chunk-size 20"), "ferretdb": (3_000, 50, "")}


@pytest.mark.stores("postgres", "ferretdb")
def test_pod_killed_mid_job(cluster_factory, store):
    """kill -9 one pod while a job runs on another. The load balancer behaves like a plain k8s
    Service (no retry of its own; a failed pod is taken out for a while, like endpoint removal),
    so recovery is the coordinator's retry of the batches that hit the dead pod. Nothing is
    lost, a rerun finishes, and every record is signed exactly once (`signer verify`)."""
    n, size, args = POD_KILL_JOB[store]
    n, size = scaled(n), scaled(size)
    cluster = cluster_factory(3, env={"CLUSTER_LB_NEXT_UPSTREAM": "off",
                                      "CLUSTER_LB_MAX_FAILS": "1",
                                      "CLUSTER_LB_FAIL_TIMEOUT": "10",
                                      "CLUSTER_SIGNER_ARGS": args})
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


# PostgreSQL only: on FerretDB this scenario costs over a minute whatever the volume, as every
# store call of a pod against a MongoDB that is gone waits out the driver's server selection
# (5 s), and the coordinator saves the job's record once per batch, one save at a time.
@pytest.mark.stores("postgres")
def test_database_killed_mid_job(cluster_factory, store):
    """PostgreSQL dies (kill -9 of the postmaster and every backend) while a 50k job runs and
    stays down until the job ends: the batches fail with errors naming the store, the job says
    so, readiness drops, nothing is lost or in both tables; after a start (crash recovery) a
    rerun signs the rest exactly once."""
    # 20 batches of 2500 in chunks of 250, so the outage hits batches midway. A refused
    # connection fails at once, so each batch fails after its attempts and backoff (~1.4 s).
    n, size = scaled(50_000), scaled(2_500)
    cluster = cluster_factory(3, env={"CLUSTER_SIGNER_ARGS": f"--chunk-size {scaled(250)}"})
    expected = cluster.insert_original_docs(n)
    coordinator = cluster.pods[0]
    store_error = cluster.db.error_pattern

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(coordinator.sign, size, True, 300)
        wait_until(lambda: records_signed_total(cluster) > 0, timeout=120, interval=0.05,
                   what="the first chunk to be signed")
        cluster.db.kill()
        stopped = time.monotonic()
        r = waiting.result(timeout=300)
    took = time.monotonic() - stopped
    assert r.status_code == 200, f"/sign?wait=true -> {r.status_code} {r.text}"
    job = r.json()
    print(f"job ended {took:.1f}s after the database died: state {job['state']}, done "
          f"{job['batches_done']}, failed {job['batches_failed']}, retries {job['retries']}")
    assert job["state"] == "failed", job
    # One store check for the whole job (default store timeout 5 s), not attempts per batch.
    assert took < 20, f"the job took {took:.1f}s to report the dead store"
    assert "did not answer" in job["error"], job["error"]
    assert job["batches_failed"] > 0, job
    assert len(job["failed"]) + job.get("failed_omitted", 0) == job["batches_failed"], job
    bad = [f for f in job["failed"] if not store_error.search(f["error"])]
    assert not bad, f"batch errors that do not name the store: {bad}"
    print(f"e.g. {job['failed'][0]['error']}")

    # Readiness reflects the outage, with the reason.
    ready = cluster.pods[1].get("/readyz", timeout=30)
    assert ready.status_code == 503, ready.text
    assert store_error.search(ready.json()["error"]), ready.text

    cluster.db.start()
    for pod in cluster.pods:
        wait_until(lambda: _ready(pod), timeout=60, interval=0.2, what=f"{pod.name} ready again")

    signed, unsigned = assert_nothing_lost(cluster, expected)
    assert unsigned > 0, "the outage should have left work undone"
    print(f"after the outage: {signed} signed, {unsigned} unsigned")

    rerun_until_done(cluster, coordinator, size, n)
    cluster.export_and_verify(expected)


@pytest.mark.stores("postgres")
def test_database_restarted_mid_job(cluster_factory, store):
    """PostgreSQL restarts (a fast shutdown, which terminates every session, then a start on
    the same data, as an operator's restart or a failover does) while a 50k job runs. Batches
    hit by it fail and are retried; every pod reconnects by itself; nothing is lost or in both
    tables; and the job, or a rerun when the restart outlasted a batch's attempts, finishes with
    every record signed exactly once."""
    n, size = scaled(50_000), scaled(500)
    cluster = cluster_factory(3, env={"CLUSTER_SIGNER_ARGS": f"--chunk-size {scaled(50)}"})
    expected = cluster.insert_original_docs(n)
    coordinator = cluster.pods[0]

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(coordinator.sign, size, True, 300)
        wait_until(lambda: records_signed_total(cluster) > 0, timeout=120, interval=0.05,
                   what="the first chunk to be signed")
        old_pid = cluster.db.postmaster_pid()
        cluster.db.restart()
        assert cluster.db.postmaster_pid() != old_pid, "the server did not restart"
        restarted = time.monotonic()
        r = waiting.result(timeout=300)
    assert r.status_code == 200, f"/sign?wait=true -> {r.status_code} {r.text}"
    job = r.json()
    print(f"job ended {time.monotonic() - restarted:.1f}s after the restart: state "
          f"{job['state']}, done {job['batches_done']}, failed {job['batches_failed']}, "
          f"retries {job['retries']}, signed {job['records_signed']}")
    assert job["state"] in ("succeeded", "failed"), job
    assert job["batches_done"] + job["batches_failed"] == job["batches"], job
    # The restart was noticed: batches in flight failed and were retried (or reported).
    assert job["retries"] > 0 or job["batches_failed"] > 0, job
    if job["state"] == "failed":
        bad = [f for f in job["failed"] if not cluster.db.error_pattern.search(f["error"])]
        assert not bad, f"batch errors that do not name the store: {bad}"

    signed, unsigned = assert_nothing_lost(cluster, expected)
    print(f"after the restart: {signed} signed, {unsigned} unsigned")
    if job["state"] == "succeeded":
        assert (signed, unsigned) == (n, 0), (signed, unsigned)
    # Every pod's store works again without a restart of the pod.
    for pod in cluster.pods:
        wait_until(lambda: _ready(pod), timeout=60, interval=0.2, what=f"{pod.name} ready again")
    rerun_until_done(cluster, coordinator, size, n)
    cluster.export_and_verify(expected)


def _ready(pod) -> bool:
    try:
        return pod.get("/readyz", timeout=10).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.stores("ferretdb")
def test_a_dead_store_is_reported_within_two_store_timeouts(cluster_factory, store):
    """FerretDB dies (kill -9) mid-job and stays down. Every operation of a pod then waits out
    server selection (the store timeout); the batches in flight fail after one, the coordinator
    asks the store itself for one more, and the job ends naming the outage: about two store
    timeouts after the kill, where each batch used to wait out its own (50 s in the issue's run).
    Once FerretDB is back, the job's record and counts are saved, and a rerun finishes."""
    n, size, timeout_s = 2_000, 50, 3
    cluster = cluster_factory(3, env={"BS_STORE_TIMEOUT_MS": str(timeout_s * 1000)})
    expected = cluster.load_records(n)
    coordinator = cluster.pods[0]
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(coordinator.sign, size, True, 300)
        wait_until(lambda: job_gauge(coordinator, "signer_job_batches_done") >= 2, timeout=120,
                   interval=0.05, what="the first batches")
        cluster.db.kill()
        killed = time.monotonic()
        r = waiting.result(timeout=300)
    took = time.monotonic() - killed
    assert r.status_code == 200, r.text
    job = r.json()
    print(f"job ended {took:.1f}s after FerretDB died: {job['state']}, {job['batches_done']}/"
          f"{job['batches']} batches done, {job['batches_failed']} failed: {job['error']}")
    assert job["state"] == "failed", job
    assert cluster.db.error_pattern.search(job["error"]) and "did not answer" in job["error"], job
    assert took < 4 * timeout_s, f"the job took {took:.1f}s to report the dead store"
    assert job["batches_done"] + job["batches_failed"] < job["batches"], \
        "the job went on sending batches to a dead store"

    cluster.db.start()
    settled = job_end(coordinator)
    assert settled["id"] == job["id"]
    assert_report_matches_store(cluster, settled)
    rerun_until_done(cluster, coordinator, size, n)
    cluster.export_and_verify(expected)
