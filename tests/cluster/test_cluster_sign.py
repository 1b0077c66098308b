"""Cluster mode end to end: 3 pods behind nginx (the Service) sharing one store; every batch of a
job goes through the load balancer and runs on whichever pod it lands on. PostgreSQL carries the
volume; FerretDB (MongoDB wire protocol) is the smaller MongoDB compatibility run: on its SQLite
backend every query scans the whole collection, about two scans a batch, so a job there costs
batches x records."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from local_cluster import LocalCluster, ceil_div, scaled

# (records, batch size) of the job signed by three pods: 100 batches on PostgreSQL, 20 on FerretDB.
THREE_POD_JOB = {"postgres": (50_000, 500), "ferretdb": (10_000, 500)}
# (records, batch sizes of the two jobs, signer serve arguments) of two jobs racing over the same
# records. A record is raced for when the second job reads it after the first read it and before
# the first moved it. How long a record stays read and unmoved must not be left to the machine's
# speed (on CI the two jobs once took turns and never raced): every store link gets
# RACE_LATENCY_MS of latency, so each read's answer reaches its pod that long before the pod can
# move what it read, far longer than the two jobs' planning differs (the records carry their
# shards, so neither job has a backfill to do). Chunks as large as a batch, signed on one thread
# per pod, keep a batch to one read and one move.
# Nor may the jobs' overlap be left to the machine: planning a job takes several store round
# trips, each RACE_LATENCY_MS long, and under load one job once started 2.5 s after the other,
# when the first had already moved every record. So a gate on the service link (a latency toxic
# of GATE_MS on the pods' requests to nginx) holds every /batch of both jobs until both have been
# accepted, and GATE_SETTLE_S more for their dispatchers to send their first batches; then the
# gate is lifted and Toxiproxy lets the held requests through at once.
CONCURRENT_JOBS = {"postgres": (6_000, 300, 450, "--chunk-size 500 --threads 1"),
                   "ferretdb": (2_000, 100, 150, "")}
RACE_LATENCY_MS = 500
GATE_MS = 120_000
GATE_SETTLE_S = 2.0


def assert_stats_consistent(cluster: LocalCluster, signed: int, unsigned: int) -> list[dict]:
    stats = [pod.stats() for pod in cluster.pods]
    counts = [(s["signed_records"], s["unsigned_records"]) for s in stats]
    assert counts == [(signed, unsigned)] * len(stats), \
        f"/stats counts per pod {counts}, expected {(signed, unsigned)} on every pod"
    return stats


@pytest.mark.stores("postgres", "ferretdb")
def test_three_pods_sign_original_documents(cluster, store):
    """Records inserted the original's way ({id, msg, sign: "", key: ""}, no shard), 50k on
    PostgreSQL and 10k on FerretDB, are all signed exactly once by /sign/500 on one pod, with
    batches run by all three pods, and verified independently (`signer export | signer verify`,
    every id once with its msg, and `signer audit verify`)."""
    n, size = (scaled(v) for v in THREE_POD_JOB[store])
    batches = ceil_div(n, size)
    expected = cluster.insert_original_docs(n)
    assert cluster.db.count_with_shard() == 0

    t0 = time.monotonic()
    r = cluster.pods[0].sign(size, timeout=900)
    elapsed = time.monotonic() - t0
    assert r.status_code == 200, f"/sign/500?wait=true -> {r.status_code} {r.text}"
    job = r.json()
    print(f"{store} job: {n} records, {elapsed:.1f}s, "
          f"{job.get('records_per_second', 0):.0f} records/s, "
          f"retries {job.get('retries')}")
    assert job["state"] == "succeeded", job
    assert job["mode"] == "http", job
    assert job["unsigned_at_start"] == n, job
    assert job["batches"] == batches, job
    assert (job["batches_done"], job["batches_failed"], job["failed"]) == (batches, 0, []), job
    # Fresh records: all signed by this job, none found already signed.
    assert (job["records_signed"], job["already_signed"]) == (n, 0), job

    # Every pod sees the same store, so the same counts; the job is known to its coordinator.
    stats = assert_stats_consistent(cluster, n, 0)
    assert stats[0]["job"]["id"] == job["id"] and stats[0]["job"]["state"] == "succeeded"

    # The load balancer spread the batches: each pod ran some, and together they ran them all.
    per_pod = {pod.name: pod.batches_ok() for pod in cluster.pods}
    print(f"batches run per pod: {per_pod}")
    assert all(v > 0 for v in per_pod.values()), f"a pod ran no batch: {per_pod}"
    if job["retries"] == 0:
        assert sum(per_pod.values()) == job["batches"], per_pod
    else:
        assert sum(per_pod.values()) >= job["batches"], per_pod

    # The coordinator's own count (what the status page shows as batches by pod) agrees.
    by_pod = job["batches_by_pod"]
    assert set(by_pod) == {pod.name for pod in cluster.pods}, by_pod
    assert sum(by_pod.values()) == batches, by_pod

    records = cluster.export_and_verify(expected)
    assert len(records) == n

    # The job and its trail live in the store: any pod shows the same record, every signed
    # document names the job, and `signer audit verify` agrees with the store.
    assert {r.get("job_id") for r in records} == {job["id"]}
    views = [pod.get(f"/jobs/{job['id']}").json() for pod in cluster.pods]
    assert all(v == views[0] for v in views), views
    assert views[0]["records_signed"] == n and views[0]["state"] == "succeeded"
    ran = {b["pod"] for b in views[0]["results"]}
    assert ran == {pod.name for pod in cluster.pods}, ran
    events = cluster.pods[1].get(f"/audit?job={job['id']}&limit=200").json()["events"]
    batch_counts = sum(e["count"] for e in events if e["route"] == "/batch" and e["outcome"] == "ok")
    assert batch_counts == n if job["retries"] == 0 else batch_counts <= n, (batch_counts, n)
    audited = cluster.cli().run("audit", "verify", "--job", job["id"], "--store",
                                cluster.store_url, check=False)
    assert audited.returncode == 0, str(audited)
    # The same check as a route (the status page's Verify button), on another pod; its result
    # joins the shared audit trail, so every pod's /jobs shows it.
    r = cluster.pods[2].post(f"/jobs/{job['id']}/verify")
    assert r.status_code == 200, r.text
    assert (r.json()["ok"], r.json()["valid"], r.json()["mismatches"]) == (True, n, 0), r.json()
    for pod in cluster.pods:
        listed = {j["id"]: j for j in pod.get("/jobs").json()["jobs"]}
        assert listed[job["id"]]["verify"]["state"] == "ok", listed[job["id"]]


@pytest.mark.stores("postgres", "ferretdb")
def test_concurrent_jobs_on_two_pods_sign_each_record_once(cluster_factory, store):
    """Two coordinators (pods 0 and 1) run jobs over the same records at the same time, and
    race for some of them; the unique index on `id` keeps every record signed exactly once: each
    is counted signed by one job and already signed by the other."""
    n, size_a, size_b, args = CONCURRENT_JOBS[store]
    n, size_a, size_b = scaled(n), scaled(size_a), scaled(size_b)
    cluster = cluster_factory(3, env={"CLUSTER_SIGNER_ARGS": args}, toxiproxy=True)
    expected = cluster.load_records(n)
    a, b = cluster.pods[0], cluster.pods[1]
    for link in cluster.toxiproxy.store_proxies():
        cluster.toxiproxy.add(link, "latency", name="race", latency=RACE_LATENCY_MS, jitter=0)
    gate = cluster.toxiproxy.add("service", "latency", stream="upstream", name="gate",
                                 latency=GATE_MS, jitter=0)

    with ThreadPoolExecutor(2) as pool:
        fa = pool.submit(a.sign, size_a, False)
        fb = pool.submit(b.sign, size_b, False)
        ra, rb = fa.result(), fb.result()
    assert ra.status_code == 202, ra.text
    assert rb.status_code == 202, rb.text
    # One job per pod: a second /sign on a pod whose job runs is refused. Behind the gate, no
    # batch of either job can have ended, so both jobs are running.
    again = a.sign(scaled(50), wait=False)
    assert again.status_code == 409 and "error" in again.json(), \
        f"second /sign on a busy pod -> {again.status_code} {again.text}"
    time.sleep(GATE_SETTLE_S)
    held = {name: pod.stats()["job"] for name, pod in (("A", a), ("B", b))}
    assert all(j["state"] == "running" and j["batches_done"] == 0 for j in held.values()), held
    cluster.toxiproxy.remove("service", gate)

    ja, jb = a.wait_job_done(), b.wait_job_done()
    cluster.toxiproxy.reset()
    print(f"job A: {ja}\njob B: {jb}")
    # Both jobs ran at the same time (each pod has its own coordinator).
    a_end = ja["started_unix_ms"] + ja["elapsed_seconds"] * 1000
    b_end = jb["started_unix_ms"] + jb["elapsed_seconds"] * 1000
    assert jb["started_unix_ms"] < a_end and ja["started_unix_ms"] < b_end, \
        "the two jobs did not overlap"
    # Each record was inserted into signedrecords by exactly one job; the other found it signed.
    incomplete = [(name, j) for name, j in (("A", ja), ("B", jb)) if j["state"] != "succeeded"]
    for name, job in incomplete:
        # Allowed: batches the pods turned away (every error a 5xx), with the record count
        # still consistent; a rerun below finishes them.
        assert job["state"] == "failed", job
        assert job["batches_done"] + job["batches_failed"] == job["batches"], job
        assert all("peer answered 5" in f["error"] for f in job["failed"]), job["failed"]
        print(f"WARNING: job {name} failed {job['batches_failed']} batches: "
              f"{job['failed'][0]['error']}")
    raced = ja["already_signed"] + jb["already_signed"]
    print(f"{store}: {raced} records raced for; job A signed {ja['records_signed']}, "
          f"job B {jb['records_signed']}")
    assert raced > 0, "the jobs never raced for a record, so this test proved nothing"
    if not incomplete:
        assert ja["records_signed"] + jb["records_signed"] == n, (ja, jb)
    else:
        assert ja["records_signed"] + jb["records_signed"] <= n, (ja, jb)
        rerun = a.sign(scaled(100))
        assert rerun.status_code == 200 and rerun.json()["state"] == "succeeded", rerun.text

    assert_stats_consistent(cluster, n, 0)
    cluster.export_and_verify(expected)
