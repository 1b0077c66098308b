"""No caller without a token can make the server hold memory (issue 19): a 1 GiB gzip bomb, 512 MiB
of body without a length, a 512 MiB header line and 512 MiB of 8 KB header lines, each sent to an
open route. Measured on main before the fix: peak RSS 24 MB -> 1.07 GB (bomb), 582 MB (no length),
610 MB (one line), 868 MB (many lines). The server decodes no content, reads no body a route does
not take, and bounds the head by bytes and field count, so its peak RSS (the kernel's VmHWM)
grows by less than 32 MB and it keeps answering."""
from __future__ import annotations

import select
import socket
import time
import zlib

import pytest

from http_wire import exchange, peak_rss_mb, request_bytes

GROWTH_BOUND_MB = 32
BIG = 512 << 20
SEND_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """1 GiB of zeros, gzip-compressed (about 1 MB): 64 gzip members of 16 MiB each, which a
    gzip reader inflates one after the other (RFC 1952 allows members to be concatenated)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = comp.compress(bytes(16 << 20)) + comp.flush()
    bomb = member * 64
    assert len(zlib.decompressobj(31).decompress(member)) == 16 << 20
    return bomb


@pytest.fixture
def server(signer_factory, cli, tmp_path):
    clients = tmp_path / "clients.json"
    token = cli.add_client(clients, "ops", "ingest,sign,read")
    inst = signer_factory.start("--clients", str(clients), token=token)
    for path in ("/", "/healthz", "/readyz", "/metrics", "/stats"):
        assert inst.get(path).status_code == 200
    return inst


def stream(port: int, head: bytes, filler: bytes, total: int) -> bytes:
    """Sends `head`, then `filler` repeatedly until `total` bytes, until the server answers, or
    until it stops taking them (it closed or reset); returns what the server answered."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=SEND_TIMEOUT_S) as s:
        sent = 0
        try:
            s.sendall(head)
            while sent < total:
                s.sendall(filler)
                sent += len(filler)
                if select.select([s], [], [], 0)[0]:
                    break  # the server answered (or closed): stop sending, read it
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        s.settimeout(10)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return data


def check_bounded(server, before: float, answer: bytes, statuses: tuple[int, ...]):
    growth = peak_rss_mb(server.pid) - before
    assert growth < GROWTH_BOUND_MB, f"peak RSS grew {growth:.0f} MB"
    assert any(answer.startswith(f"HTTP/1.1 {s} ".encode()) for s in statuses), answer[:300]
    assert server.get("/healthz").status_code == 200
    assert server.stats()["unsigned_records"] == 0


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz", "/metrics"])
def test_a_gzip_bomb_to_an_open_route_is_not_inflated(server, gzip_bomb, path):
    before = peak_rss_mb(server.pid)
    head = request_bytes("POST", path, {"Content-Encoding": "gzip",
                                        "Content-Type": "application/json",
                                        "Content-Length": len(gzip_bomb)})
    answer = exchange(server.port, head + gzip_bomb, timeout=30).data
    check_bounded(server, before, answer, (400, 404, 405, 415))


def test_a_gzip_upload_is_refused_not_decoded(server, gzip_bomb):
    """Even an authenticated upload is never inflated: Content-Encoding is refused (415)."""
    before = peak_rss_mb(server.pid)
    head = request_bytes("POST", "/records", {"Authorization": f"Bearer {server.token}",
                                              "Content-Encoding": "gzip",
                                              "Content-Type": "application/x-ndjson",
                                              "Content-Length": len(gzip_bomb)})
    answer = exchange(server.port, head + gzip_bomb, timeout=30).data
    check_bounded(server, before, answer, (415,))
    assert b"Content-Encoding" in answer


def test_512_mib_without_a_length_is_not_read(server):
    before = peak_rss_mb(server.pid)
    head = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\r\n"
    answer = stream(server.port, head, b"x" * (1 << 20), BIG)
    check_bounded(server, before, answer, (400, 404, 405, 411))


def test_a_512_mib_header_line_is_cut_at_the_head_limit(server):
    before = peak_rss_mb(server.pid)
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
    started = time.monotonic()
    answer = stream(server.port, head, b"a" * (1 << 20), BIG)
    check_bounded(server, before, answer, (431,))
    assert time.monotonic() - started < SEND_TIMEOUT_S


def test_512_mib_of_8_kb_header_lines_is_cut_at_the_head_limit(server):
    before = peak_rss_mb(server.pid)
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    line = b"X-Line: " + b"b" * (8 << 10) + b"\r\n"
    answer = stream(server.port, head, line * 128, BIG)
    check_bounded(server, before, answer, (431,))
