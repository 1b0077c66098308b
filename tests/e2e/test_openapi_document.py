"""The OpenAPI document (docs/openapi.json) is valid OpenAPI 3.1, served as it is on both ports
without a credential, and describes what the server answers: one scenario makes every operation
of the document answer with success (and the usual refusals), and each answer is checked against
the document: a documented status, a documented media type and a body that matches its schema,
whose objects admit no field the document does not name. A route whose answer changes shape
without the document fails here, and so does one whose roles differ from its security
requirement. (Schemathesis then tests the server from the document with
generated data: test_openapi_schemathesis.py; the route table against the document:
tests/unit/openapi_test.cpp.)"""
from __future__ import annotations

import json
import time

import pytest
import requests
from openapi_spec_validator import validate

from openapi_support import (DOCUMENT_PATH, INTERNAL_TOKEN, ROLES, Conformance, load_document,
                             operations, start_api_server)


def test_document_is_valid_openapi_3_1():
    doc = load_document()
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema and its rules
    # The validator catches what a hand edit can break: a reference to nothing, a path
    # parameter without its declaration.
    for path, breaks in (("/components/schemas/Job", lambda d: d["components"]["schemas"].pop("Job")),
                         ("/jobs/{id}", lambda d: d["paths"]["/jobs/{id}"]["get"].pop("parameters"))):
        broken = json.loads(json.dumps(doc))
        breaks(broken)
        with pytest.raises(Exception):
            validate(broken)


def test_document_is_served_on_both_ports_without_a_credential(signer_factory, cli, tmp_path):
    api = start_api_server(signer_factory, cli, tmp_path)
    for internal in (False, True):
        r = requests.get(api.url("/openapi.json", internal), timeout=10)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == "application/json"
        assert r.content == DOCUMENT_PATH.read_bytes()
    # The internal port serves nothing else of the public port's.
    r = requests.get(api.url("/stats", internal=True), headers=api.auth("read"), timeout=10)
    assert r.status_code == 404, r.text


def test_every_operation_answers_as_the_document_says(signer_factory, cli, tmp_path):
    api = start_api_server(signer_factory, cli, tmp_path)
    c = Conformance()
    read, ingest, sign = api.auth("read"), api.auth("ingest"), api.auth("sign")
    internal = {"X-Internal-Token": INTERNAL_TOKEN}

    def get(path, headers=None, internal_port=False, template=None, **kw):
        r = requests.get(api.url(path, internal_port), headers=headers or {}, timeout=60, **kw)
        return c.check("GET", template or path.split("?")[0], r)

    def post(path, template, headers, data=b"", **kw):
        r = requests.post(api.url(path), headers=headers, data=data, timeout=60, **kw)
        return c.check("POST", template, r)

    # Probes, metrics and the document, on both ports.
    get("/", template="/")
    page = get("/", headers={"Accept": "text/html"}, template="/")
    assert page.headers["Content-Type"].startswith("text/html")
    for port in (False, True):
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
            get(path, internal_port=port)

    # Ingest as NDJSON and as a JSON array; a duplicate, a conflict, a rejection.
    records = [{"id": f"{i:08x}-openapi-{i}", "msg": f"message {i}"} for i in range(40)]
    body = "".join(json.dumps(r) + "\n" for r in records[:30]).encode()
    r = post("/records", "/records", {**ingest, "Content-Type": "application/x-ndjson"}, body)
    assert r.status_code == 200 and r.json()["accepted"] == 30, r.text
    r = post("/records", "/records", {**ingest, "Content-Type": "application/json"},
             json.dumps(records[29:] + [{"id": 7, "msg": "x"}]).encode())
    assert r.json()["accepted"] == 10 and r.json()["duplicates"] == 1, r.text
    r = post("/records", "/records", {**ingest, "Content-Type": "application/json"},
             json.dumps([{"id": records[0]["id"], "msg": "another"}]).encode())
    assert r.status_code == 409, r.text
    r = post("/records", "/records", {**ingest, "Content-Type": "application/json"}, b"[]")
    assert r.status_code == 400, r.text

    # A job, waited for; its record, a signed record, the verification and the trail.
    job = get("/sign/16?wait=true", headers=sign, template="/sign/{size}").json()
    assert job["state"] == "succeeded", job
    get("/stats", headers=read)
    get(f"/jobs/{job['id']}", headers=read, template="/jobs/{id}")
    get("/jobs?limit=5", headers=read)
    get(f"/records/{records[3]['id']}", headers=read, template="/records/{id}")
    get("/records/no-such-record", headers=read, template="/records/{id}")
    post(f"/jobs/{job['id']}/verify", "/jobs/{id}/verify", read)
    get(f"/jobs/{job['id']}", headers=read, template="/jobs/{id}")  # now verified
    get(f"/audit?job={job['id']}&limit=50", headers=read, template="/audit")
    get("/audit", headers=read)
    get("/keys", headers=read)

    # A job answered at once (202), seen running in /stats, then its end.
    post("/records", "/records", {**ingest, "Content-Type": "application/x-ndjson"},
         "".join(json.dumps({"id": f"late-{i}", "msg": "m"}) + "\n" for i in range(20)).encode())
    started = get("/sign/5", headers=sign, template="/sign/{size}")
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 60
    while get("/stats", headers=read).json()["job"]["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    # A batch, from the pods (the internal token), on both ports.
    for port in (False, True):
        get("/batch/0/1/0", headers=internal, internal_port=port,
            template="/batch/{batchId}/{batchCount}/{key}")

    # The usual refusals.
    get("/stats")                                              # 401
    get("/stats", headers=ingest)                              # 403
    get("/sign/0", headers=sign, template="/sign/{size}")      # 400
    get("/jobs/j-000000000000-0000000000000000", headers=read, template="/jobs/{id}")  # 404
    get("/batch/0/1/0", headers=sign, template="/batch/{batchId}/{batchCount}/{key}")  # 401
    r = post("/records", "/records", {**ingest, "Content-Type": "text/plain"}, b"x")   # 415
    assert r.status_code == 415

    missing = c.not_succeeded()
    assert not missing, f"operations of the document never seen answering 2xx: {missing}"


# A value for each path parameter of the document, so that every operation can be called.
PATH_VALUES = {"size": "1", "id": "j-000000000000-0000000000000000", "batchId": "0",
               "batchCount": "1", "key": "0"}


def test_every_operation_admits_exactly_the_roles_its_security_names(signer_factory, cli,
                                                                     tmp_path):
    """Each operation's security requirement is what the gate enforces: an open operation answers
    without a credential; one that names bearerAuth roles answers each of those roles, refuses
    the other roles with 403 and no credential with 401; /batch (an internal token is set) admits
    the internal token alone."""
    api = start_api_server(signer_factory, cli, tmp_path)
    doc = load_document()
    checked = 0
    for method, template, op in operations(doc, "public"):
        path = template
        for name, value in PATH_VALUES.items():
            path = path.replace("{" + name + "}", value)
        security = op.get("security", doc.get("security", []))
        is_open = security == [] or {} in security
        roles = {role for req in security for role in req.get("bearerAuth", [])}
        internal_only = any("internalToken" in req for req in security)
        body = {}
        if method == "POST" and template == "/records":
            body = {"data": b'{"id":"roles-1","msg":"m"}\n',
                    "headers": {"Content-Type": "application/x-ndjson"}}
        credentials = {"none": {}, **{role: api.auth(role) for role in ROLES},
                       "internal": {"X-Internal-Token": INTERNAL_TOKEN}}
        for who, headers in credentials.items():
            r = requests.request(method, api.url(path),
                                 headers={**headers, **body.get("headers", {})},
                                 data=body.get("data"), timeout=60)
            # X-Internal-Token names nobody outside /batch.
            admitted = who == "internal" if internal_only else is_open or who in roles
            label = f"{method} {template} as {who}: {r.status_code} {r.text[:200]}"
            if admitted:
                assert r.status_code not in (401, 403), label
            else:
                expected = 401 if who in ("none", "internal") or internal_only else 403
                assert r.status_code == expected, label
            checked += 1
    assert checked >= 14 * 5
