"""A client generated from the document, as a user would make one: openapi-python-client (pinned,
tests/e2e/requirements.txt) reads the server's own GET /openapi.json and writes a Python package;
the test imports it and, with a token per role, ingests records, starts a job, waits for it
through GET /jobs/{id}, reads a signed record and has `signer verify` check it. The generated
models parse every answer, so a field renamed or retyped in the server without the document
fails here too."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time

import requests

from openapi_support import start_api_server

PACKAGE = "message_signer_client"


def generate_client(url: str, out) -> None:
    (out / "spec.json").write_bytes(requests.get(url, timeout=10).content)
    (out / "config.json").write_text(json.dumps({"package_name_override": PACKAGE,
                                                 "post_hooks": []}))
    done = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path",
         str(out / "spec.json"), "--config", str(out / "config.json"), "--output-path",
         str(out / "client"), "--overwrite"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "client" / PACKAGE / "api").is_dir(), done.stdout


def test_generated_client_ingests_signs_waits_and_reads(signer_factory, cli, tmp_path,
                                                        monkeypatch):
    api = start_api_server(signer_factory, cli, tmp_path)
    generate_client(api.url("/openapi.json"), tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "client"))
    client = importlib.import_module(PACKAGE)
    from message_signer_client.api.jobs import get_job, start_job
    from message_signer_client.api.records import get_record, ingest_records
    from message_signer_client.models import (IngestReport, Job, JobRecord, JobRecordState,
                                              SignedRecord, UnsignedRecord)

    def as_role(role):
        return client.AuthenticatedClient(base_url=api.url(""), token=api.tokens[role],
                                          raise_on_unexpected_status=True, timeout=60)

    records = [UnsignedRecord(id=f"client-{i}", msg=f"hello {i}") for i in range(25)]
    with as_role("ingest") as ingest:
        report = ingest_records.sync(client=ingest, body=records)
    assert isinstance(report, IngestReport) and report.accepted == 25, report

    with as_role("sign") as sign:
        job = start_job.sync(10, client=sign)
    assert isinstance(job, Job) and job.batches == 3, job

    with as_role("read") as read:
        deadline = time.monotonic() + 60
        while True:
            record = get_job.sync(job.id, client=read)
            assert isinstance(record, JobRecord), record
            if record.state != JobRecordState.RUNNING:
                break
            assert time.monotonic() < deadline, "job still running"
            time.sleep(0.1)
        assert record.state == JobRecordState.SUCCEEDED and record.records_signed == 25, record
        signed = get_record.sync("client-7", client=read)
    assert isinstance(signed, SignedRecord), signed
    assert (signed.id, signed.msg, signed.job_id) == ("client-7", "hello 7", job.id)
    verdict = cli.verify(text=json.dumps(signed.to_dict()) + "\n")
    assert "valid 1 invalid 0" in verdict.stdout, verdict
