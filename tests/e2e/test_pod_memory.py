"""A pod's memory after the batches it served: what a batch freed is given back to the system.

A pod runs each GET /batch on whichever of its HTTP handler threads takes the request, and glibc
gives each thread a malloc arena of its own (up to 8 a core). What a batch allocated and freed
stayed in its thread's arena, so as a job's batches reached more of the threads, a pod held one
batch's worth of freed memory in each: in the PostgreSQL scale run a pod's peak RSS grew from 48
to 59 MB between a 100k and a 1M job, and to 60 MB at 10M in an earlier run (docs/PERFORMANCE.md,
"A pod's memory against the length of a job"). The pod now trims its heap after every batch.
"""

from __future__ import annotations

from helpers import random_records
from http_wire import memory_kb
from instance import write_ndjson


def rss_anon_mb(pid: int) -> float:
    return memory_kb(pid, "RssAnon") / 1024


# 16,000 records of 2 KB in batches of 500: 32 batches, four at a time, over the worker's 32
# handler threads. A batch reads and moves its records in chunks of about 1 MB, freed when the
# batch ends. Kept in every arena that served a batch, that was 28-33 MB more RssAnon after the
# job (on a quiet machine and with every core busy); given back, 5-6 MB stays: SQLite's page
# caches and the job's bookkeeping.
RECORDS, MSG_BYTES, BATCH = 16_000, 2_000, 500
GROWTH_BOUND_MB = 16


def test_a_pod_gives_back_what_its_batches_freed(signer_factory, cli, tmp_path):
    records = [{"id": r["id"], "msg": r["msg"] + "x" * MSG_BYTES}
               for r in random_records(RECORDS)]
    assert cli.load_file(write_ndjson(tmp_path / "records.ndjson", records))["accepted"] == RECORDS
    del records
    worker = signer_factory.start("--pod-name", "worker-pod")
    coordinator = signer_factory.start("--pod-name", "coordinator-pod", "--concurrency", "4",
                                       "--peer-url", f"http://127.0.0.1:{worker.port}")
    assert worker.get("/stats").status_code == 200
    before = rss_anon_mb(worker.pid)
    job = coordinator.sign_ok(BATCH)
    assert job["mode"] == "http" and job["records_signed"] == RECORDS, job
    after = rss_anon_mb(worker.pid)
    print(f"worker RssAnon {before:.1f} MB before the job, {after:.1f} MB after "
          f"({job['batches']} batches)")
    assert after - before < GROWTH_BOUND_MB, \
        f"the worker kept {after - before:.1f} MB after {job['batches']} batches " \
        f"({before:.1f} -> {after:.1f} MB RssAnon)"
