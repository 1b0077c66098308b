"""Request smuggling and strict framing (issue 19), on raw sockets, straight to the server and
through nginx with upstream keep-alive (as ingress-nginx and the cluster emulation run it).

Every payload below hides a request where a lax parser would read it as the next request: in a
body that a route never reads, behind a framing trick, or pipelined after a refusal. Straight to
the server it is a whole /sign request with a valid token (SMUGGLED); through nginx it is the
head of a /sign request without a token (PREFIX), which the next user's request would complete
with their own credentials if the server ever took it for the start of a request. The rules that stop them (RFC 9112):
a request whose body is not read is never followed on its connection; Content-Length together
with Transfer-Encoding, a repeated or malformed Content-Length, a repeated Transfer-Encoding,
obs-fold, whitespace before a colon, control characters in a field, a malformed chunk size and
a chunk longer than its size are all refused, with `Connection: close`; header values are never
percent-decoded; `Expect: 100-continue` is answered only after the gate.

The invariant each case checks from outside: exactly one answer on the connection, the store's
counts unchanged, and no job ever started. Through nginx the proxy may refuse some payloads
itself; the invariant is the same, plus the next user's own request gets its own answer."""
from __future__ import annotations

import json
import socket
import time
from types import SimpleNamespace

import pytest

from http_wire import NginxProxy, exchange, request_bytes
from instance import SignerCli, SignerFactory, make_keyring

UNSIGNED = 500
RECORD = b'{"id":"smuggled-record","msg":"m"}\n'


@pytest.fixture(scope="module")
def env(signer_bin, tmp_path_factory):
    work = tmp_path_factory.mktemp("smuggling")
    keys = make_keyring(signer_bin, work / "keys")
    store = f"sqlite:{work / 'signer.db'}"
    cli = SignerCli(signer_bin, store, keys.path, work)
    clients = work / "clients.json"
    token = cli.add_client(clients, "ops", "ingest,sign,read")
    cli.load_random(UNSIGNED)
    factory = SignerFactory(signer_bin, work, keys.path, store)
    server = factory.start("--clients", str(clients), token=token)
    proxy = NginxProxy(work / "nginx", [server.port])
    smuggled = request_bytes("GET", "/sign/7", {"Authorization": f"Bearer {token}"},
                             host="localhost")
    # expected_unsigned: what the store must hold; only the 100-continue test adds a record.
    yield SimpleNamespace(server=server, proxy=proxy, token=token, smuggled=smuggled,
                          expected_unsigned=UNSIGNED)
    proxy.stop()
    problems = factory.stop_all()
    assert not problems, "\n".join(problems)


def assert_nothing_ran(env, exact: bool = True):
    """No job ever started and nothing was signed. With `exact`, nothing was stored either;
    through nginx a payload that nginx itself parses as a valid upload (it accepts bare LF, for
    one) may store its own record, which is then the new baseline."""
    stats = env.server.stats()
    if exact:
        assert stats["unsigned_records"] == env.expected_unsigned, stats
    else:
        assert stats["unsigned_records"] - env.expected_unsigned in (0, 1), stats
        env.expected_unsigned = stats["unsigned_records"]
    assert stats["signed_records"] == 0, stats
    assert stats["job"] is None, f"a smuggled request started a job: {stats['job']}"
    jobs = env.server.get("/jobs").json()["jobs"]
    assert jobs == [], jobs


def chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


# The head of a /sign request without its last header and without a token: on a connection that
# a proxy shares between users, the next user's request line and headers would complete it,
# Authorization included, if the server ever took it for the start of a request.
PREFIX = b"GET /sign/7 HTTP/1.1\r\nHost: localhost\r\nX-Ignore: "


def cases(env, s: bytes) -> dict[str, tuple[int, bytes]]:
    """name -> (the status the server answers directly, the payload). `s`, the hidden request,
    is inside or right behind every payload."""
    auth = f"Bearer {env.token}"
    up = {"Authorization": auth, "Content-Type": "application/x-ndjson"}
    n = len(RECORD)

    def post(headers: dict, body: bytes, raw_headers: str = "") -> bytes:
        head = request_bytes("POST", "/records", headers).rstrip(b"\r\n") + b"\r\n"
        return head + raw_headers.encode("latin-1") + b"\r\n" + body

    return {
        # 1. A body on a route that reads none.
        "get-with-length": (400, request_bytes("GET", "/healthz", {"Content-Length": len(s)}, s)),
        "get-stats-with-length": (400, request_bytes(
            "GET", "/stats", {"Authorization": auth, "Content-Length": len(s)}, s)),
        "head-with-length": (400, request_bytes("HEAD", "/healthz", {"Content-Length": len(s)},
                                                s)),
        "options-with-length": (400, request_bytes("OPTIONS", "/healthz",
                                                   {"Content-Length": len(s)}, s)),
        # 4. Lax framing.
        "length-and-chunked": (400, post({**up, "Content-Length": n,
                                          "Transfer-Encoding": "chunked"}, RECORD + s)),
        "chunked-and-length": (400, post({**up, "Transfer-Encoding": "chunked",
                                          "Content-Length": 5}, chunked(RECORD) + s)),
        "two-content-lengths": (400, post(up, RECORD + s,
                                          f"Content-Length: {n}\r\nContent-Length: {n}\r\n")),
        "content-length-list": (400, post({**up, "Content-Length": f"{n}, {n}"}, RECORD + s)),
        "content-length-plus": (400, post({**up, "Content-Length": f"+{n}"}, RECORD + s)),
        "content-length-suffix": (400, post({**up, "Content-Length": f"{n}abc"}, RECORD + s)),
        "percent-encoded-chunked": (411, post({**up, "Transfer-Encoding": "%63hunked"},
                                              chunked(RECORD) + s)),
        "two-transfer-encodings": (400, post(up, chunked(RECORD) + s,
                                             "Transfer-Encoding: chunked\r\n"
                                             "Transfer-Encoding: chunked\r\n")),
        "identity-then-chunked": (400, post(up, chunked(RECORD) + s,
                                            "Transfer-Encoding: identity\r\n"
                                            "Transfer-Encoding: chunked\r\n")),
        "obs-fold": (400, post({**up, "Content-Length": n}, RECORD + s, "X-Note: a\r\n folded\r\n")),
        "obs-fold-transfer-encoding": (400, post(up, chunked(RECORD) + s,
                                                 "Transfer-Encoding:\r\n chunked\r\n")),
        "space-before-colon": (400, post(up, RECORD + s, f"Content-Length : {n}\r\n")),
        "chunk-size-0x": (400, post({**up, "Transfer-Encoding": "chunked"},
                                    b"0x%x\r\n%s\r\n0\r\n\r\n" % (n, RECORD) + s)),
        "chunk-size-plus": (400, post({**up, "Transfer-Encoding": "chunked"},
                                      b"+%x\r\n%s\r\n0\r\n\r\n" % (n, RECORD) + s)),
        "chunk-size-negative": (400, post({**up, "Transfer-Encoding": "chunked"},
                                          b"-2\r\n" + RECORD + b"\r\n0\r\n\r\n" + s)),
        "chunk-longer-than-its-size": (400, post({**up, "Transfer-Encoding": "chunked"},
                                                 b"%x\r\n%s%s\r\n0\r\n\r\n" % (n, RECORD, s))),
        "nul-in-a-header": (400, post({**up, "Content-Length": n}, RECORD + s,
                                      "X-Note: a\x00b\r\n")),
        "bare-lf-line-ends": (400, (b"POST /records HTTP/1.1\nHost: 127.0.0.1\nAuthorization: "
                                    + auth.encode() + b"\nContent-Type: application/x-ndjson\n"
                                    + b"Content-Length: %d\n\n" % n + RECORD + s)),
        "percent-encoded-nul-in-token": (401, post({"Authorization": auth + "%00junk",
                                                    "Content-Type": "application/x-ndjson",
                                                    "Content-Length": n}, RECORD + s)),
        "too-many-headers": (431, post({**up, "Content-Length": n}, RECORD + s,
                                       "".join(f"X-H{i}: v\r\n" for i in range(200)))),
    }


CASE_NAMES = list(cases(SimpleNamespace(token="t"), b"").keys())


@pytest.mark.parametrize("case", CASE_NAMES)
def test_direct_refused_with_one_answer_and_nothing_behind_it(env, case):
    status, payload = cases(env, env.smuggled)[case]
    result = exchange(env.server.port, payload + env.smuggled)
    data = result.data
    assert data.startswith(f"HTTP/1.1 {status} ".encode()), (case, data[:400])
    assert data.count(b"HTTP/1.1 ") == 1, f"{case}: more than one answer: {data!r}"
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower(), head
    if not payload.startswith(b"HEAD "):
        assert "error" in json.loads(body), body
    assert result.end in ("closed", "reset"), f"{case}: connection left {result.end}"
    assert_nothing_ran(env)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_through_nginx_the_next_user_gets_their_own_answer(env, case):
    _, payload = cases(env, PREFIX)[case]
    attacker = exchange(env.proxy.port, payload, timeout=5, quiet_after=1.0)
    assert b"HTTP/1.1 202" not in attacker.data, (case, attacker.data[:400])
    # Another user, on another client connection that nginx may put on the same upstream one.
    for _ in range(3):
        victim = exchange(env.proxy.port, request_bytes(
            "GET", "/stats", {"Authorization": f"Bearer {env.token}", "Connection": "close"}),
            timeout=10)
        assert victim.statuses == [200], (case, victim.data[:400])
        assert "signed_records" in json.loads(victim.responses[0].body)
    assert_nothing_ran(env, exact=False)


def test_the_reported_two_user_attack_through_nginx(env):
    """The review's case: an attacker without a token sends a GET whose declared body is the head
    of a /sign request missing its last header; the next user's GET /stats with their own token
    must get /stats, not complete the attacker's request."""
    attack = request_bytes("GET", "/healthz", {"Content-Length": len(PREFIX)}, PREFIX,
                           host="localhost")
    for _ in range(5):
        exchange(env.proxy.port, attack, timeout=5, quiet_after=0.5)
        r = exchange(env.proxy.port, request_bytes(
            "GET", "/stats", {"Authorization": f"Bearer {env.token}"}, host="localhost"),
            timeout=5, quiet_after=1.0)
        assert r.statuses and r.statuses[0] == 200, r.data[:400]
        assert "signed_records" in json.loads(r.responses[0].body)
    assert_nothing_ran(env)


def test_expect_100_continue_is_answered_after_the_gate(env):
    """An unauthenticated upload that asks for 100-continue is refused before the client is
    invited to send its body; an authenticated one is invited, then stored."""
    head = request_bytes("POST", "/records", {"Content-Type": "application/x-ndjson",
                                              "Content-Length": len(RECORD),
                                              "Expect": "100-continue"})
    with socket.create_connection(("127.0.0.1", env.server.port), timeout=10) as s:
        s.sendall(head)
        first = s.recv(4096)
    assert first.startswith(b"HTTP/1.1 401 "), first
    assert b"100 Continue" not in first

    body = b'{"id":"expect-ok","msg":"m"}\n'
    head = request_bytes("POST", "/records", {"Authorization": f"Bearer {env.token}",
                                              "Content-Type": "application/x-ndjson",
                                              "Content-Length": len(body),
                                              "Expect": "100-continue"})
    with socket.create_connection(("127.0.0.1", env.server.port), timeout=10) as s:
        s.sendall(head)
        interim = s.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        s.sendall(body)
        data = b""
        deadline = time.monotonic() + 10
        while b"accepted" not in data and time.monotonic() < deadline:
            data += s.recv(4096)
    assert b"HTTP/1.1 200 " in data and b'"accepted":1' in data, data
    env.expected_unsigned += 1
    assert_nothing_ran(env)


def test_a_good_pipelined_pair_still_shares_one_connection(env):
    """Strict is not broken: two valid requests pipelined on one connection get two answers."""
    one = request_bytes("GET", "/healthz")
    result = exchange(env.server.port, one + one, timeout=5, quiet_after=1.0)
    assert result.statuses == [200, 200], result.data
