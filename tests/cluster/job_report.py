"""What a cluster test reads of a job while faults come and go, and how it checks the job's
report against the store: /metrics answers without the store, /stats and /jobs need it."""
from __future__ import annotations

import requests

from helpers import metric_values, parse_prometheus, wait_until
from local_cluster import LocalCluster


def job_gauge(pod, name: str) -> float:
    """A gauge of the pod's job (/metrics, which answers without the store)."""
    values = metric_values(parse_prometheus(pod.get("/metrics", timeout=5).text), name)
    return values[0][1] if values else 0.0


def job_end(pod, timeout: float = 300) -> dict:
    """The job's snapshot once it has ended and taken its final account (after an outage the
    account waits until the store answers again)."""
    def ended():
        try:
            r = pod.get("/stats", timeout=5)
        except requests.RequestException:
            return None
        if r.status_code != 200:
            return None
        job = r.json()["job"]
        return job if job["state"] != "running" and job["unsigned_at_end"] is not None else None

    return wait_until(ended, timeout=timeout, interval=0.2, what="the job's end and final account")


def assert_report_matches_store(cluster: LocalCluster, job: dict) -> None:
    """What the job says against what the database holds, and against its stored record."""
    db = cluster.db
    if job["state"] == "succeeded":
        assert job["error"] == "", job
        assert job["left_from_start"] == 0, job
    else:
        assert job["error"], f"a job that did not succeed names no error: {job}"
    assert job["records_signed"] == db.count_of_job(job["id"]), \
        f"records_signed {job['records_signed']}, rows stamped {db.count_of_job(job['id'])}"
    # Nothing was ingested during the job: every unsigned record was there at its start.
    unsigned = db.count("records")
    assert job["unsigned_at_end"] == unsigned == job["left_from_start"], (job, unsigned)
    stored = cluster.pods[1].get(f"/jobs/{job['id']}").json()
    for field in ("state", "error", "records_signed", "unsigned_at_end", "left_from_start"):
        assert stored[field] == job[field], (field, stored, job)
