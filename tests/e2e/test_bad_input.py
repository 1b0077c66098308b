"""Every bad input gets its documented status and a JSON {"error": ...}, and changes nothing in the
store. One server (with --max-body-bytes 1024) serves the whole module: its store holds signed and
unsigned records, so a request that wrongly signed or ingested anything would move the counts."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from http_wire import exchange, request_bytes
from instance import SignerCli, SignerFactory, make_keyring

MAX_BODY = 1024
SIGNED, UNSIGNED = 2_000, 1_000
ZERO_PUBKEY = "0x04" + "0" * 128


@pytest.fixture(scope="module")
def env(signer_bin, tmp_path_factory):
    work = tmp_path_factory.mktemp("bad_input")
    keys = make_keyring(signer_bin, work / "keys")
    store = f"sqlite:{work / 'signer.db'}"
    cli = SignerCli(signer_bin, store, keys.path, work)
    cli.load_random(SIGNED)
    cli.sign("--batch-size", "500", "--progress", "never")
    cli.load_random(UNSIGNED)
    factory = SignerFactory(signer_bin, work, keys.path, store)
    server = factory.start("--max-body-bytes", str(MAX_BODY))
    assert snapshot(server)[:2] == (SIGNED, UNSIGNED)
    yield SimpleNamespace(server=server, keys=keys, cli=cli)
    problems = factory.stop_all()
    assert not problems, "\n".join(problems)


def snapshot(server) -> tuple:
    s = server.stats()
    return s["signed_records"], s["unsigned_records"], json.dumps(s["job"], sort_keys=True)


def check_rejected(server, method: str, path: str, status: int, **kw) -> dict:
    """Sends the request; asserts status, a JSON error body, and an unchanged store."""
    before = snapshot(server)
    resp = server.request(method, path, **kw)
    assert resp.status_code == status, f"{method} {path}: {resp.status_code} {resp.text[:500]}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and body["error"].strip(), body
    after = snapshot(server)
    assert after == before, f"{method} {path} changed the store: {before} -> {after}"
    return body


@pytest.mark.parametrize("path", [
    "/sign/0",
    "/sign/-1",
    "/sign/abc",
    "/sign/1.5",
    "/sign/1e3",
    "/sign/%20",
    "/sign/18446744073709551616",        # 2^64
    "/sign/99999999999999999999999",
    "/sign/5?wait=maybe",
    "/sign/5?wait=",                      # Schemathesis, seed 2: it started a job (202)
])
def test_bad_sign_size_is_400(env, path):
    check_rejected(env.server, "GET", path, 400)


@pytest.mark.parametrize("path,status", [
    ("/batch/2/2/0", 400),                   # batchId == batchCount
    ("/batch/3/2/0", 400),                   # batchId > batchCount
    ("/batch/0/0/0", 400),                   # batchCount 0
    ("/batch/x/2/0", 400),
    ("/batch/0/x/0", 400),
    ("/batch/-1/2/0", 400),
    ("/batch/0/18446744073709551616/0", 400),
    ("/batch/0/2/99", 404),                  # no such key index
    ("/batch/0/2/3", 404),                   # index == K
    ("/batch/0/2/-1", 404),
    ("/batch/0/2/" + ZERO_PUBKEY, 404),      # well-formed but not a loaded public key
    ("/batch/0/2/0x04abc", 404),
])
def test_bad_batch_parameters(env, path, status):
    check_rejected(env.server, "GET", path, status)


def test_batch_refuses_a_private_key_as_the_key(env):
    """A private key never travels, so it must not select (or worse, be) a signing key."""
    for priv in (env.keys.private_keys[0], env.keys.private_keys[0][2:]):
        check_rejected(env.server, "GET", f"/batch/0/2/{priv}", 404)


@pytest.mark.parametrize("body", [
    pytest.param(b'[{"id":', id="malformed-array"),
    pytest.param(b'[{"id":"a1","msg":"x"},', id="unterminated-array"),
    pytest.param(b"hello\nworld\n", id="non-json-lines"),
    pytest.param(b'{"id":"a1"}\n', id="missing-msg"),
    pytest.param(b'{"msg":"x"}\n', id="missing-id"),
    pytest.param(b'{"id":"a\\nb","msg":"x"}\n', id="id-with-newline"),
    pytest.param(b'{"id":"a\\u007fb","msg":"x"}\n', id="id-with-del"),
    pytest.param(b'{"id":"a\\u0085b","msg":"x"}\n', id="id-with-c1-control"),
    pytest.param(b'{"id":"a\xffb","msg":"x"}\n', id="id-not-utf8"),
    pytest.param(b'{"id":"","msg":"x"}\n', id="empty-id"),
    pytest.param(b'{"id":5,"msg":"x"}\n', id="numeric-id"),
    pytest.param(b'[{"id":"' + b"a" * 513 + b'","msg":"x"}]', id="id-of-513-bytes-in-array"),
    pytest.param(b"", id="empty-body"),
    pytest.param(b"[]", id="empty-array"),
])
def test_bad_records_body_is_400(env, body):
    check_rejected(env.server, "POST", "/records", 400, data=body)


def test_rejected_records_are_reported_by_index_and_reason(env):
    body = check_rejected(env.server, "POST", "/records", 400,
                          data=b'{"id":"ok-but-no-msg"}\n{"id":"t\\tab","msg":"m"}\nnot json\n')
    assert body["accepted"] == 0 and body["rejected"] == 3
    assert [e["index"] for e in body["errors"]] == [0, 1, 2]
    assert body["errors"][0]["id"] == "ok-but-no-msg" and "msg" in body["errors"][0]["reason"]
    assert body["errors"][1]["id"] == "t\tab" and "control" in body["errors"][1]["reason"]
    assert all(e["reason"] for e in body["errors"])


def oversized_body(prefix: str) -> bytes:
    body = b"".join(json.dumps({"id": f"{prefix}{i:05d}", "msg": "x" * 40}).encode() + b"\n"
                    for i in range(60))
    assert len(body) > MAX_BODY
    return body


def test_body_over_the_limit_is_413(env):
    check_rejected(env.server, "POST", "/records", 413, data=oversized_body("big"))


def test_chunked_body_over_the_limit_is_413(env):
    # cpp-httplib 0.11 does not bound chunked bodies; the upload's own reader counts the bytes
    # as they arrive and stops at --max-body-bytes.
    body = oversized_body("chunked")
    chunks = (body[i:i + 256] for i in range(0, len(body), 256))  # requests sends it chunked
    check_rejected(env.server, "POST", "/records", 413, data=chunks)


def test_chunked_body_within_the_limit_is_read(env):
    body = b'{"id":"chunked-ok-1","msg":"m"}\n'
    before = env.server.stats()["unsigned_records"]
    r = env.server.post("/records", data=(body[i:i + 7] for i in range(0, len(body), 7)))
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    assert env.server.stats()["unsigned_records"] == before + 1


@pytest.mark.parametrize("encoding", ["gzip, chunked", "identity", "chunked, chunked"])
def test_other_transfer_encodings_are_411(env, encoding):
    """Only plain `chunked` frames an upload. (With a Content-Length beside it, any
    Transfer-Encoding is a framing conflict: 400, in test_smuggling.py.)"""
    before = snapshot(env.server)
    body = b'{"id":"te-1","msg":"m"}\n'
    payload = request_bytes("POST", "/records", {"Transfer-Encoding": encoding,
                                                 "Content-Type": "application/x-ndjson"},
                            b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    result = exchange(env.server.port, payload)
    assert result.statuses == [411], result.data
    assert "error" in json.loads(result.responses[0].body)
    assert snapshot(env.server) == before


def test_unknown_signed_record_is_404_naming_the_id(env):
    body = check_rejected(env.server, "GET", "/records/nonexistent", 404)
    assert "nonexistent" in body["error"]


@pytest.mark.parametrize("path", [
    pytest.param("/records/", id="empty"),
    pytest.param("/records/" + "a" * 513, id="513-bytes"),
    pytest.param("/records/a%0Ab", id="newline"),
    pytest.param("/records/a%00b", id="nul"),
    pytest.param("/records/a%7Fb", id="del"),
    pytest.param("/records/a%C2%85b", id="c1-control"),
    pytest.param("/records/%FF", id="not-utf8"),
    pytest.param("/records/%C0%AF", id="overlong-utf8"),
])
def test_invalid_record_id_is_400(env, path):
    check_rejected(env.server, "GET", path, 400)


@pytest.mark.parametrize("path", ["/records/a%20b", "/records/a%22b", "/records/order%2F42"])
def test_unusual_but_valid_record_id_is_404_not_400(env, path):
    check_rejected(env.server, "GET", path, 404)


@pytest.mark.parametrize("method,path", [
    ("GET", "/nope"),
    ("GET", "/sign"),
    ("GET", "/batch/0/2"),
    ("GET", "/stats/extra"),
    ("DELETE", "/stats"),
])
def test_unknown_route_is_404(env, method, path):
    check_rejected(env.server, method, path, 404)
