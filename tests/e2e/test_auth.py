"""Who may sign what (issue 10): every route without a credential, with a wrong token and with the
wrong role; a client limited to one key; browser-safety refusals (foreign Origin, foreign Host,
text/plain uploads); and the refusal to listen beyond loopback without authentication. Each test
fails if its protection is removed."""
from __future__ import annotations

import json
import subprocess
import time
from types import SimpleNamespace

import pytest
import requests

from helpers import random_records
from instance import SignerCli, SignerFactory, free_port, make_keyring, tail

ROLES = {
    "reader": "read",
    "ingester": "ingest",
    "signer": "sign",
    "operator": "ingest,sign,read",
}
# (method, path, role it needs)
PROTECTED = [
    ("GET", "/stats", "read"),
    ("GET", "/keys", "read"),
    ("GET", "/records/someid", "read"),
    ("GET", "/jobs", "read"),
    ("POST", "/jobs/j-000000000000-0000000000000000/verify", "read"),
    ("GET", "/audit", "read"),
    ("GET", "/sign/100", "sign"),
    ("POST", "/records", "ingest"),
    ("GET", "/batch/0/1/0", "sign"),
]


@pytest.fixture(scope="module")
def env(signer_bin, tmp_path_factory):
    work = tmp_path_factory.mktemp("auth")
    keys = make_keyring(signer_bin, work / "keys")
    store = f"sqlite:{work / 'signer.db'}"
    cli = SignerCli(signer_bin, store, keys.path, work)
    clients = work / "clients.json"
    tokens = {name: cli.add_client(clients, name, roles) for name, roles in ROLES.items()}
    tokens["key1-only"] = cli.add_client(clients, "key1-only", "sign,ingest,read", "--keys", "1")
    factory = SignerFactory(signer_bin, work, keys.path, store)
    server = factory.start("--clients", str(clients), token=tokens["operator"])
    yield SimpleNamespace(server=server, tokens=tokens, clients=clients, keys=keys, cli=cli,
                          factory=factory, work=work)
    problems = factory.stop_all()
    assert not problems, "\n".join(problems)


def call(server, method, path, token=None, **kw):
    headers = dict(kw.pop("headers", {}))
    headers["Authorization"] = f"Bearer {token}" if token else ""
    if method == "POST":
        headers.setdefault("Content-Type", "application/x-ndjson")
        kw.setdefault("data", b'{"id":"auth-probe","msg":"x"}\n')
    # A fresh connection each time: a refusal closes its connection.
    return requests.request(method, server.url(path), headers=headers, timeout=30, **kw)


def assert_json_error(resp, status):
    assert resp.status_code == status, f"{resp.status_code} {resp.text}"
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.json()["error"]


@pytest.mark.parametrize("method,path,role", PROTECTED)
def test_route_without_credential_is_401(env, method, path, role):
    resp = call(env.server, method, path, token=None)
    assert_json_error(resp, 401)
    assert resp.headers.get("WWW-Authenticate") == "Bearer"


@pytest.mark.parametrize("method,path,role", PROTECTED)
def test_route_with_wrong_token_is_401(env, method, path, role):
    assert_json_error(call(env.server, method, path, token="mst_" + "0" * 64), 401)
    # The stored hash is not a credential either.
    stored = env.clients.read_text()
    a_hash = json.loads(stored)["clients"][0]["token_sha256"]
    assert_json_error(call(env.server, method, path, token=a_hash), 401)


@pytest.mark.parametrize("method,path,role", PROTECTED)
def test_route_with_the_wrong_role_is_403(env, method, path, role):
    wrong = next(name for name, roles in ROLES.items() if role not in roles.split(","))
    resp = call(env.server, method, path, token=env.tokens[wrong])
    assert_json_error(resp, 403)
    assert wrong in resp.json()["error"] and role in resp.json()["error"]


def test_each_role_reaches_its_routes(env):
    assert call(env.server, "GET", "/stats", env.tokens["reader"]).status_code == 200
    assert call(env.server, "GET", "/keys", env.tokens["reader"]).status_code == 200
    r = call(env.server, "POST", "/records", env.tokens["ingester"],
             data=b'{"id":"role-ok-1","msg":"m"}\n')
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    r = call(env.server, "GET", "/sign/10?wait=true", env.tokens["signer"])
    assert r.status_code == 200 and r.json()["state"] == "succeeded", r.text


def test_probes_stay_open_and_refusals_are_counted_and_audited(env):
    for path in ("/", "/healthz", "/readyz", "/metrics"):
        assert call(env.server, "GET", path).status_code == 200, path
    call(env.server, "GET", "/stats")
    call(env.server, "GET", "/sign/5", env.tokens["reader"])
    metrics = call(env.server, "GET", "/metrics").text
    assert 'signer_auth_refusals_total{route="/stats",reason="unauthenticated"}' in metrics
    events = call(env.server, "GET", "/audit?limit=200", env.tokens["reader"]).json()["events"]
    refusals = [e for e in events if e["outcome"].startswith("refused:")]
    assert any(e["outcome"] == "refused:401" and e["route"] == "/stats" for e in refusals), events
    assert any(e["outcome"] == "refused:403" and e["client"] == "reader" and e["route"] == "/sign"
               for e in refusals), refusals
    assert all(e["remote_addr"] == "127.0.0.1" for e in refusals)


def test_jobs_and_audit_record_the_authenticated_client(env):
    r = call(env.server, "GET", "/sign/1000?wait=true", env.tokens["signer"])
    assert r.status_code == 200, r.text
    job_id = r.json()["id"]
    job = call(env.server, "GET", f"/jobs/{job_id}", env.tokens["reader"]).json()
    assert job["started_by"] == "signer", job
    events = call(env.server, "GET", f"/audit?job={job_id}", env.tokens["reader"]).json()["events"]
    assert any(e["route"] == "/sign" and e["client"] == "signer" for e in events), events


def test_a_client_limited_to_key_1_signs_only_with_key_1(env):
    records = random_records(300, prefix="k1-")
    r = env.server.ingest(records)
    assert r.status_code == 200 and r.json()["accepted"] == 300, r.text
    r = call(env.server, "GET", "/sign/50?wait=true", env.tokens["key1-only"])
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["state"] == "succeeded" and job["batches"] >= 6, job
    used = set()
    for rec in records:
        got = call(env.server, "GET", f"/records/{rec['id']}", env.tokens["reader"])
        assert got.status_code == 200, got.text
        used.add(got.json()["key"])
    assert used == {env.keys.public_keys[1]}


def test_foreign_origin_is_refused(env):
    resp = call(env.server, "POST", "/records", env.tokens["operator"],
                headers={"Origin": "https://evil.example"},
                data=b'{"id":"evil-origin","msg":"I authorize"}\n')
    assert_json_error(resp, 403)
    assert "Origin" in resp.json()["error"]
    assert call(env.server, "GET", "/records/evil-origin", env.tokens["reader"]).status_code == 404


def test_cross_site_get_without_origin_is_refused(env):
    """An <img src=".../sign/1"> on another site sends no Origin, only Sec-Fetch-Site."""
    before = env.server.stats()["job"]
    resp = call(env.server, "GET", "/sign/1", env.tokens["operator"],
                headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"})
    assert_json_error(resp, 403)
    assert env.server.stats()["job"] == before


def test_foreign_host_is_refused_on_a_loopback_bind(env):
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    resp = call(env.server, "GET", "/stats", env.tokens["reader"],
                headers={"Host": f"evil.example:{env.server.port}"})
    assert_json_error(resp, 403)
    assert "Host" in resp.json()["error"]
    ok = call(env.server, "GET", "/stats", env.tokens["reader"],
              headers={"Host": f"localhost:{env.server.port}"})
    assert ok.status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_upload_that_is_not_json_is_415(env, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    req = requests.Request("POST", env.server.url("/records"),
                           headers={"Authorization": f"Bearer {env.tokens['operator']}",
                                    **headers},
                           data=b'{"id":"plain-1","msg":"x"}\n').prepare()
    if content_type is None:
        req.headers.pop("Content-Type", None)
    resp = requests.Session().send(req, timeout=30)
    assert_json_error(resp, 415)
    assert "curl -H 'Content-Type: application/x-ndjson'" in resp.json()["error"]


def test_tokens_never_appear_in_logs_metrics_or_responses(env):
    seen = []
    for path in ("/stats", "/metrics", "/readyz", "/keys", "/jobs"):
        r = call(env.server, "GET", path, env.tokens["operator"])
        seen.append(str(dict(r.headers)) + r.text)
    seen.append(tail(env.server.log_path, 100_000))
    text = "\n".join(seen)
    for token in env.tokens.values():
        assert token not in text
        assert token.removeprefix("mst_") not in text


def test_client_add_prints_the_token_once_and_stores_only_its_hash(env):
    clients = env.work / "other-clients.json"
    token = env.cli.add_client(clients, "once", "read")
    text = clients.read_text()
    assert token not in text and token.removeprefix("mst_") not in text
    assert oct(clients.stat().st_mode & 0o777) == "0o600"
    dup = env.cli.run("client", "add", "--clients", str(clients), "--name", "once",
                      "--roles", "read", check=False)
    assert dup.returncode != 0 and "already taken" in dup.stderr
    bad = env.cli.run("client", "add", "--clients", str(clients), "--name", "x",
                      "--roles", "write", check=False)
    assert bad.returncode != 0 and "unknown role" in bad.stderr
    listed = env.cli.run("client", "list", "--clients", str(clients))
    assert "once\troles=read" in listed.stdout


def test_unknown_key_in_clients_file_refuses_to_start(env):
    clients = env.work / "bad-key-clients.json"
    env.cli.add_client(clients, "nokey", "sign", "--keys", "0x" + "ab" * 20)
    proc = subprocess.run([str(env.cli.binary), "serve", "--clients", str(clients), "--host",
                           "127.0.0.1", "--port", str(free_port()), "--keys", str(env.keys.path),
                           "--store", env.cli.store],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "nokey" in proc.stderr and "0xabab" in proc.stderr


def serve_briefly(env, *args, timeout=30):
    return subprocess.run([str(env.cli.binary), "serve", "--keys", str(env.keys.path),
                           "--store", env.cli.store, "--port", str(free_port()), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_non_loopback_bind_without_auth_refuses_to_start(env):
    proc = serve_briefly(env, "--host", "0.0.0.0")
    assert proc.returncode == 2, proc
    assert "--insecure-no-auth" in proc.stderr and "--clients" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_insecure_no_auth_starts_loudly(env):
    inst = env.factory.create("--insecure-no-auth")
    inst.host = "0.0.0.0"  # binds every address; the test still talks to 127.0.0.1 only
    inst.start()
    ready = inst.get("/readyz").json()
    assert ready["insecure_no_auth"] is True and ready["auth"] == "none"
    assert "signer_insecure_no_auth 1" in inst.get("/metrics").text
    assert "INSECURE" in tail(inst.log_path, 50)
    assert inst.stop() == 0


def test_default_bind_without_clients_is_loopback(env):
    """No --host and no clients file: 127.0.0.1 only, and open to loopback callers."""
    port = free_port()
    proc = subprocess.Popen([str(env.cli.binary), "serve", "--keys", str(env.keys.path),
                             "--store", env.cli.store, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(200):
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.05)
        ss = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
        assert f"127.0.0.1:{port}" in ss.stdout, ss.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=30)
