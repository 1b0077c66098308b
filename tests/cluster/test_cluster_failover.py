"""PostgreSQL failover mid-job (issue 20): a primary with a synchronous hot standby (made by
pg_basebackup, synchronous_standby_names on the primary), three pods on the multi-host URL
postgresql://signer@primary,standby/signer?target_session_attrs=read-write (through
CLUSTER_PG_URL, as a CloudNativePG or Patroni cluster's pods would get it), and `signer load` on
the same URL. Once a quarter of the job's batches are done the primary is killed (kill -9 of the
postmaster and every backend) and the standby promoted.

No acknowledged move may be lost: every record of a batch the job had recorded as done before the
kill is signed, with the job's id, on the new primary. No record is signed twice, the job
completes on the new primary (its batches retried meanwhile), its report matches the new
primary, and the time from the kill to the first record signed on the new primary is printed
(docs/K8S.md, docs/RELIABILITY.md).
"""
from __future__ import annotations

import bisect
import time

import pytest

from helpers import wait_until
from job_report import assert_report_matches_store, job_end, job_gauge
from local_cluster import FailoverPostgres, ceil_div, scaled
from test_cluster_faults import assert_nothing_lost

FAILOVER_JOB = (100_000, 1_000)  # records, batch size: 100 batches


def batch_of(record_id: str, batches: int) -> int:
    """The batch whose shard range holds the id (DESIGN.md §3; the ids here are 32 hex)."""
    shard = int(record_id[:8], 16)
    begins = [(b << 32) // batches for b in range(batches)]
    return bisect.bisect_right(begins, shard) - 1


@pytest.mark.stores("postgres")
def test_failover_mid_job_loses_no_acknowledged_move(cluster_factory, store):
    n, size = (scaled(v) for v in FAILOVER_JOB)
    # The promotion takes a few seconds; the pods wait up to a store timeout for the store.
    cluster = cluster_factory(3, env={"BS_STORE_TIMEOUT_MS": "15000"}, database=FailoverPostgres)
    db: FailoverPostgres = cluster.db
    expected = cluster.load_records(n)  # `signer load` through the multi-host URL
    coordinator = cluster.pods[0]
    r = coordinator.sign(size, wait=False)
    assert r.status_code == 202, r.text
    job_id, batches = r.json()["id"], r.json()["batches"]
    assert batches == ceil_div(n, size)

    wait_until(lambda: job_gauge(coordinator, "signer_job_batches_done") >= batches // 4,
               timeout=240, interval=0.05, what="a quarter of the batches")
    # What the job has recorded as done, from the store (it saves its record as batches end, at
    # most once a second), and what it counts as signed: every such move was acknowledged by the
    # primary, which a synchronous standby must have had before the commit returned.
    record = cluster.pods[1].get(f"/jobs/{job_id}").json()
    done_before = {b["batch"] for b in record["results"] if not b["error"]}
    signed_before = coordinator.stats()["job"]["records_signed"]
    assert job_gauge(coordinator, "signer_job_running"), "the job ended before the failover"
    assert done_before and signed_before > 0, record

    killed = time.monotonic()
    db.kill_primary()
    db.promote_standby()
    promoted = time.monotonic()
    with db.connect() as conn:  # the new primary: the promoted standby
        port = conn.execute("SELECT current_setting('port')").fetchone()[0]
        assert int(port) == db.standby_port, port
        signed_at_promotion = conn.execute("SELECT count(*) FROM signedrecords").fetchone()[0]

    def signing_again() -> bool:
        with db.connect() as conn:
            return conn.execute("SELECT count(*) FROM signedrecords").fetchone()[0] > \
                signed_at_promotion
    wait_until(signing_again, timeout=120, interval=0.05, what="signing on the new primary")
    resumed = time.monotonic() - killed
    print(f"failover: {len(done_before)} of {batches} batches done and {signed_before} records "
          f"signed before the kill; promoted {promoted - killed:.1f} s after it; signing again "
          f"{resumed:.1f} s after it")

    job = job_end(coordinator)
    print(f"job {job['state']}: signed {job['records_signed']}, retries {job['retries']}, "
          f"failed batches {job['batches_failed']}{', error: ' + job['error'] if job['error'] else ''}")
    # The job completes on the new primary: its batches were retried, not given up.
    assert job["state"] == "succeeded", job
    assert job["retries"] > 0, job
    assert_report_matches_store(cluster, job)

    # Every acknowledged move survived the failover, under the job's id.
    with db.connect() as conn:
        stamped = dict(conn.execute("SELECT id, job_id FROM signedrecords").fetchall())
    lost = [i for i in expected if batch_of(i, batches) in done_before and stamped.get(i) != job_id]
    assert not lost, f"{len(lost)} records of batches done before the kill are not signed by the " \
                     f"job on the new primary, e.g. {lost[:3]}"
    assert sum(1 for j in stamped.values() if j == job_id) >= signed_before
    assert_nothing_lost(cluster, expected)
    cluster.export_and_verify(expected)
