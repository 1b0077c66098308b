"""HTTP/1.1 on raw sockets, for the tests that must see exactly what crosses the wire: how many
responses a payload produced, their statuses and headers, and whether the server closed the
connection. Also nginx as a reverse proxy with upstream keep-alive, as ingress-nginx runs by
default, so that a request smuggled to the server would land on another user's connection."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from instance import free_port


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lowercased names; a repeated header keeps its last value
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class Exchange:
    """What one connection returned: every byte, the responses parsed from them, and how the
    connection ended ("closed": the server closed it; "open": it was still open when we stopped
    reading; "reset": the server reset it)."""
    data: bytes
    end: str
    responses: list[Response] = field(default_factory=list)

    @property
    def statuses(self) -> list[int]:
        return [r.status for r in self.responses]


def parse_responses(data: bytes) -> list[Response]:
    """Splits a byte stream into responses framed by Content-Length (what the signer and nginx
    send for every answer here). A trailing fragment that is not a whole response is kept as one
    with status 0, so a caller counting responses still sees that something came."""
    out: list[Response] = []
    rest = data
    while rest:
        head_end = rest.find(b"\r\n\r\n")
        if head_end < 0 or not rest.startswith(b"HTTP/1."):
            out.append(Response(0, {}, rest))
            break
        lines = rest[:head_end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        body_start = head_end + 4
        if status == 100:  # an interim response has no body
            length = 0
        out.append(Response(status, headers, rest[body_start:body_start + length]))
        rest = rest[body_start + length:]
    return out


def exchange(port: int, payload: bytes, timeout: float = 10.0, host: str = "127.0.0.1",
             quiet_after: Optional[float] = None, wrap=None) -> Exchange:
    """Sends `payload` on a new connection and reads until the server closes it or `timeout`
    passes. With `quiet_after`, stops once that many seconds pass without a byte (for exchanges
    where a kept-open connection is the expected outcome). `wrap` may wrap the socket (TLS)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    if wrap is not None:
        sock = wrap(sock)
    data = b""
    end = "open"
    try:
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused and closed before taking it all; read what it said
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wait = deadline - time.monotonic()
            if quiet_after is not None:
                wait = min(wait, quiet_after)
            sock.settimeout(max(wait, 0.01))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                if quiet_after is not None:
                    break
                continue
            except ConnectionResetError:
                end = "reset"
                break
            if not chunk:
                end = "closed"
                break
            data += chunk
    finally:
        sock.close()
    return Exchange(data, end, parse_responses(data))


def request_bytes(method: str, path: str, headers: Optional[dict] = None, body: bytes = b"",
                  host: str = "127.0.0.1") -> bytes:
    """One request, headers in the given order, Host first; no header is added for the body."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything `sock` receives until the server closes it (a reset ends it too)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def memory_kb(pid: int, field: str) -> int:
    """One memory figure of /proc/PID/status (VmRSS, VmHWM, RssAnon, ...), in kB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise AssertionError(f"no {field}")


def peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of the process's resident memory (VmHWM), in MB."""
    return memory_kb(pid, "VmHWM") / 1024


class NginxProxy:
    """nginx as an HTTP reverse proxy on 127.0.0.1 in front of `upstreams`, keeping idle
    upstream connections open and reusing them for the next client's request (`keepalive`,
    `proxy_http_version 1.1`), as ingress-nginx and the cluster emulation do. With one worker
    and few kept connections, two clients' requests follow each other on one upstream
    connection."""

    def __init__(self, workdir: Path, upstreams: list[int], keepalive: int = 4):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        self.port = free_port()
        user = ""
        if os.geteuid() == 0:
            import grp
            import pwd
            user = (f"user {pwd.getpwuid(os.getuid()).pw_name} "
                    f"{grp.getgrgid(os.getgid()).gr_name};")
        servers = "\n".join(f"    server 127.0.0.1:{p};" for p in upstreams)
        conf = f"""
{user}
worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/logs/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log {self.dir}/logs/access.log;
  client_body_temp_path {self.dir}/client_body;
  proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fastcgi;
  uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  upstream signer {{
{servers}
    keepalive {keepalive};
  }}
  server {{
    listen 127.0.0.1:{self.port};
    location / {{
      proxy_pass http://signer;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }}
  }}
}}
"""
        (self.dir / "nginx.conf").write_text(conf)
        self.log = open(self.dir / "nginx.out", "wb")
        self.proc = subprocess.Popen(["nginx", "-c", str(self.dir / "nginx.conf"), "-p",
                                      str(self.dir)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise AssertionError("nginx did not start: " + (self.dir / "nginx.out").read_text() +
                             (self.dir / "logs" / "error.log").read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
