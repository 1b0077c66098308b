"""Who may run GET /batch/:b/:B/:key (issue 19). Found in review: a client limited to key 1 signed
with key 0 and key 2 through /batch; with an internal token configured a bearer token alone still
passed; and `?job=` of another client's finished job stamped new records with that job's id, so
its audit verification turned from ok to mismatch. Now:
  - a client caller is held to the same key list on /batch as on /sign, by index or public key;
  - with BS_INTERNAL_TOKEN set, /batch needs it (a bearer token alone is 401);
  - only the internal identity may name a job, and only a job that is running (409 otherwise),
    so no caller can add records to a job's trail after it ended."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests

from instance import SignerCli, SignerFactory, make_keyring

INTERNAL_TOKEN = "internal-" + "7" * 40


@pytest.fixture(scope="module")
def env(signer_bin, tmp_path_factory):
    work = tmp_path_factory.mktemp("batch_access")
    keys = make_keyring(signer_bin, work / "keys")
    factory = SignerFactory(signer_bin, work, keys.path, f"sqlite:{work / 'plain.db'}")

    def server(name, *args, env=None):
        store = f"sqlite:{work / (name + '.db')}"
        cli = SignerCli(signer_bin, store, keys.path, work)
        clients = work / f"{name}-clients.json"
        tokens = {"ops": cli.add_client(clients, "ops", "ingest,sign,read"),
                  "key1": cli.add_client(clients, "key1", "sign,read", "--keys", "1")}
        inst = factory.start("--clients", str(clients), *args, store=store, env=env,
                             token=tokens["ops"])
        return SimpleNamespace(inst=inst, cli=cli, tokens=tokens)

    plain = server("plain")
    internal = server("internal", env={"BS_INTERNAL_TOKEN": INTERNAL_TOKEN})
    yield SimpleNamespace(keys=keys, plain=plain, internal=internal)
    problems = factory.stop_all()
    assert not problems, "\n".join(problems)


def get(inst, path, token=None, internal=None):
    headers = {"Connection": "close"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if internal:
        headers["X-Internal-Token"] = internal
    return requests.get(inst.url(path), headers=headers, timeout=60)


def load(srv, n=30):
    srv.cli.load_random(n)
    return srv.inst.stats()["unsigned_records"]


def test_a_client_limited_to_key_1_cannot_sign_with_another_key_through_batch(env):
    srv = env.plain
    load(srv)
    pub = env.keys.public_keys
    for selector in ("0", "2", pub[0], pub[2]):
        r = get(srv.inst, f"/batch/0/1/{selector}", srv.tokens["key1"])
        assert r.status_code == 403, (selector, r.status_code, r.text)
        assert "key1" in r.json()["error"], r.text
    assert srv.inst.stats()["signed_records"] == 0
    r = get(srv.inst, f"/batch/0/1/{pub[1]}", srv.tokens["key1"])
    assert r.status_code == 200 and r.json()["key_index"] == 1, r.text
    assert srv.inst.stats()["unsigned_records"] == 0


def test_a_client_cannot_stamp_records_with_a_job_id(env):
    srv = env.plain
    load(srv, 20)
    job = srv.inst.sign_ok(10)
    verified = srv.inst.post(f"/jobs/{job['id']}/verify")
    assert verified.status_code == 200 and verified.json()["ok"], verified.text
    load(srv, 5)
    r = get(srv.inst, f"/batch/0/1/2?job={job['id']}", srv.tokens["ops"])
    assert r.status_code == 403, r.text
    assert "job" in r.json()["error"]
    assert srv.inst.stats()["unsigned_records"] == 5
    again = srv.inst.post(f"/jobs/{job['id']}/verify")
    assert again.status_code == 200 and again.json()["ok"], again.text


def test_with_an_internal_token_batch_needs_it(env):
    srv = env.internal
    load(srv, 10)
    r = get(srv.inst, "/batch/0/1/0", srv.tokens["ops"])
    assert r.status_code == 401, r.text
    r = get(srv.inst, "/batch/0/1/0", srv.tokens["ops"], internal="wrong")
    assert r.status_code == 401, r.text
    assert srv.inst.stats()["signed_records"] == 0
    r = get(srv.inst, "/batch/0/1/0", internal=INTERNAL_TOKEN)
    assert r.status_code == 200 and r.json()["signed"] == 10, r.text
    # The other routes are the clients': the internal token is no credential there.
    assert get(srv.inst, "/stats", internal=INTERNAL_TOKEN).status_code == 401


def test_the_internal_identity_may_name_only_a_running_job(env):
    srv = env.internal
    load(srv, 10)
    job = srv.inst.sign_ok(10)
    load(srv, 5)
    r = get(srv.inst, f"/batch/0/1/0?job={job['id']}", internal=INTERNAL_TOKEN)
    assert r.status_code == 409, r.text
    assert "not running" in r.json()["error"]
    r = get(srv.inst, "/batch/0/1/0?job=j-000000000000-0000000000000000", internal=INTERNAL_TOKEN)
    assert r.status_code == 404, r.text
    assert srv.inst.stats()["unsigned_records"] == 5
    verified = srv.inst.post(f"/jobs/{job['id']}/verify")
    assert verified.status_code == 200 and verified.json()["ok"], verified.text
