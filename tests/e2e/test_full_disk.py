"""A full disk under the embedded store (issue 20). The test gives the SQLite file a small file
system of its own (a tmpfs mounted with size=, as root; no Docker), runs a job, and fills the
file system once the job has signed some records (progress decides when, not a sleep):

- the job fails at once (no batch is retried against a full disk) with an error that names the
  disk, and nothing is lost or doubled;
- an ingest on the full disk is refused with 507 and a clear error, and stores nothing of its
  chunk;
- once space is freed, the job's record is saved, and a rerun signs the rest exactly once
  (`signer export | signer verify`, every id once);
- each of these answers (the failed job in /stats and /jobs/{id}, the 507) is one the OpenAPI
  document describes (openapi_support.Conformance).
"""
from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest

from helpers import assert_exactly_once, random_records, wait_until
from instance import SignerCli
from openapi_support import Conformance

RECORDS = 30_000
DISK = "48m"


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A file system of its own, DISK large, under tmp_path; unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK},mode=0755", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"cannot mount a {DISK} tmpfs for the full-disk test (it runs as root): "
                    f"{proc.stderr.strip()}", pytrace=False)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(directory: Path) -> Path:
    """Writes a file until the file system refuses with ENOSPC; returns it."""
    filler = directory / "filler"
    block = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(block)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        # The last partial block, to the last byte.
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return filler


def test_a_full_disk_fails_the_job_naming_it_and_a_rerun_completes_once_space_is_freed(
        small_disk, signer_factory, tmp_path):
    # small_disk first, so it is unmounted after the server has stopped.
    store = f"sqlite:{small_disk / 'signer.db'}"
    records = random_records(RECORDS)
    signer = signer_factory.start(store=store)
    r = signer.ingest(records)
    assert r.status_code == 200 and r.json()["accepted"] == RECORDS, r.text

    started = signer.sign(20, wait=False)
    assert started.status_code == 202, started.text
    wait_until(lambda: signer.stats()["signed_records"] >= 500, timeout=60, interval=0.005,
               what="the job's first records")
    filler = fill(small_disk)
    job = wait_until(lambda: (lambda j: j if j["state"] != "running" else None)(
        signer.stats()["job"]), timeout=60, interval=0.05, what="the job's end")
    print(f"job on a full disk: {job['state']}, signed {job['records_signed']}, "
          f"{job['batches_done']}/{job['batches']} batches, error: {job['error']}")
    assert job["state"] == "failed", job
    assert "disk holding" in job["error"] and str(small_disk) in job["error"], job["error"]
    assert "is full" in job["error"], job["error"]
    # The job stopped at once: the batches after the disk filled up were not run.
    assert job["batches_done"] + job["batches_failed"] < job["batches"], job
    assert job["retries"] == 0, job
    stats = signer.stats()
    assert stats["signed_records"] + stats["unsigned_records"] == RECORDS, stats
    assert stats["unsigned_records"] > 0, "the job finished before the disk filled up"
    assert job["records_signed"] == stats["signed_records"], (job, stats)
    document = Conformance()
    document.check("GET", "/stats", signer.get("/stats"))

    # An ingest on the full disk: refused as such, and nothing of its chunk is stored.
    more = random_records(500)
    r = signer.ingest(more)
    assert r.status_code == 507, r.text
    document.check("POST", "/records", r)
    assert "store full" in r.json()["error"] and "is full" in r.json()["error"], r.text
    assert r.json()["accepted"] == 0, r.text
    assert signer.stats()["unsigned_records"] == stats["unsigned_records"]

    filler.unlink()
    # The job's final record waited for the disk; it is saved now.
    saved = wait_until(lambda: (lambda j: j if j["state"] == "failed" else None)(
        signer.get(f"/jobs/{job['id']}").json()), timeout=60, interval=0.2,
        what="the job's final record, once space is freed")
    assert saved["error"] == job["error"], saved
    document.check("GET", "/jobs/{id}", signer.get(f"/jobs/{job['id']}"))
    rerun = signer.sign_ok(20)
    assert rerun["state"] == "succeeded", rerun
    assert rerun["unsigned_at_start"] == stats["unsigned_records"]
    assert rerun["records_signed"] == stats["unsigned_records"]

    cli = SignerCli(signer.binary, store, signer.keys, tmp_path)
    exported = cli.export_and_verify()
    assert_exactly_once(exported, [r["id"] for r in records])
