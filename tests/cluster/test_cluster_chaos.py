"""The short chaos run (issue 20; the long one is bench/chaos_soak.sh, which runs this test with
the knobs below): 3 pods on PostgreSQL behind Toxiproxy sign 50k records while a random pod is
killed (kill -9) every 2 s and started again 1.5 s later, the database is restarted once, and
toxics come and go on the pods' links to the store and to the Service. Jobs whose coordinator
was killed are lost with it (their records are not: the next job signs the rest). At the end
every record is signed exactly once (`signer export | signer verify`, every id once), and every
job that ended reported what the store shows (records_signed = rows stamped with its id)."""
from __future__ import annotations

import os

import pytest

from chaos import environment_of_pods, run_chaos, stop_cleanly
from local_cluster import scaled
from test_cluster_faults import assert_nothing_lost


def knob(name: str, default: float) -> float:
    return float(os.environ.get(f"CHAOS_{name}", default))


@pytest.mark.stores("postgres")
def test_every_record_is_signed_once_through_pod_kills_a_database_restart_and_toxics(
        cluster_factory, store):
    n = int(knob("RECORDS", scaled(50_000)))
    size = int(knob("BATCH_SIZE", scaled(500)))
    cluster = cluster_factory(3, env=environment_of_pods(), toxiproxy=True)
    expected = cluster.load_records(n)

    def load_more() -> int:
        wave = cluster.load_records(n // 5)
        expected.update(wave)
        return len(wave)

    log = run_chaos(cluster, size, kill_every=knob("KILL_EVERY_S", 2.0),
                    restart_after=knob("RESTART_AFTER_S", 1.5),
                    restart_db_at=knob("RESTART_DB_AT_S", 3.0),
                    toxic_every=knob("TOXIC_EVERY_S", 2.5), seed=int(knob("SEED", 20)),
                    deadline_s=knob("DEADLINE_S", 300), min_pods_killed=3, min_toxics=2,
                    load_more=load_more)
    stop_cleanly(cluster)
    print(f"chaos: {log.pods_killed} pods killed ({log.coordinators_killed} coordinating a job), "
          f"{log.database_restarts} database restart, {log.toxics} toxics, {len(log.jobs)} jobs")
    assert log.pods_killed >= 3 and log.database_restarts == 1 and log.toxics >= 2, log
    for pod, job_id, state, records_signed, error in log.jobs:
        if records_signed is None:
            continue  # lost with its coordinator
        assert records_signed == cluster.db.count_of_job(job_id), (pod, job_id, state)
        assert (state == "succeeded") == (error == ""), (pod, job_id, state, error)
    assert cluster.db.count("records") == 0
    assert cluster.db.count("signedrecords") == len(expected)
    signed, _ = assert_nothing_lost(cluster, expected)  # fails on any record lost or doubled
    print(f"chaos: {signed} of {len(expected)} records signed once each, none lost, none doubled")
    cluster.export_and_verify(expected)
