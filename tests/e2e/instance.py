"""Process ownership for the end-to-end suite: `signer serve` instances and CLI runs.

Tests never spawn processes themselves. They ask a `SignerFactory` for servers and a `SignerCli`
for subcommands, so each test reads as a scenario and every process is stopped at teardown.
"""
from __future__ import annotations

import csv
import json
import os
import random
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import requests

from helpers import wait_for_job_end

DEFAULT_BIN = str(Path(__file__).resolve().parents[2] / "build" / "release" / "signer")
KEY_COUNT = 3
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
HTTP_TIMEOUT_S = 30.0
JOB_TIMEOUT_S = 180.0
CLI_TIMEOUT_S = 180.0


def signer_binary() -> Path:
    """The binary under test: $SIGNER_BIN, else the release build."""
    return Path(os.environ.get("SIGNER_BIN", DEFAULT_BIN))


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out as the source port of outgoing connections."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port(count: int = 1, taken: Iterable[int] = ()) -> int:
    """The first of `count` consecutive ports that were free on 127.0.0.1 a moment ago, none of
    them in `taken`. Picked below the ephemeral range: an outgoing connection of some process (a
    pod's to FerretDB, nginx's to a pod) takes its source port from that range and could take a
    port a server is about to listen on. Servers still retry if their port is taken."""
    taken = set(taken)
    high = _ephemeral_low() - count
    for _ in range(200):
        base = random.randrange(10000, high) if high > 10000 else random.randrange(1024, 65000)
        block = range(base, base + count)
        if base + count < 65000 and not taken.intersection(block) and all(map(_port_free, block)):
            return base
    raise RuntimeError(f"no block of {count} free ports found")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


class ServerStartError(RuntimeError):
    pass


@dataclass
class SignerInstance:
    """One `signer serve` process on 127.0.0.1, its log captured to a file."""

    binary: Path
    store: str
    keys: Path
    log_path: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    token: Optional[str] = None  # sent as a bearer token on every request when set
    scheme: str = "http"         # "https" with --tls-cert; set _session.verify/cert to match
    host: str = "127.0.0.1"      # listen address; tests only ever talk to 127.0.0.1
    port: int = 0
    proc: Optional[subprocess.Popen] = None
    killed: bool = False
    exit_code: Optional[int] = None
    _session: requests.Session = field(default_factory=requests.Session)

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self, ready_timeout: float = READY_TIMEOUT_S, attempts: int = 3) -> "SignerInstance":
        """Starts the server on a free port and waits for /readyz; retries if the port was taken."""
        for _ in range(attempts):
            self.port = free_port()
            cmd = [str(self.binary), "serve", "--store", self.store, "--keys", str(self.keys),
                   "--host", self.host, "--port", str(self.port), *self.args]
            with open(self.log_path, "ab") as log:
                log.write(f"### {' '.join(cmd)}\n".encode())
                log.flush()
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL,
                                             env={**os.environ, **self.env})
            self.killed = False
            self.exit_code = None
            if self._wait_ready(ready_timeout):
                return self
            if self.proc.poll() == 4 and "cannot listen" in tail(self.log_path, 5):
                continue  # lost the port race; try another one
            break
        self._force_stop()
        raise ServerStartError(f"signer serve did not become ready on port {self.port} within "
                               f"{ready_timeout}s (exit {self.proc.poll() if self.proc else None})"
                               f"; log tail:\n{tail(self.log_path)}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if self._session.get(self.url("/readyz"), timeout=1).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close_connections(self) -> None:
        """Drops this client's idle keep-alive connections, as a polite client does before a stop.
        (urllib3 2.x's PoolManager.clear() leaves pooled sockets open, so close each pool.)"""
        for adapter in self._session.adapters.values():
            pools = adapter.poolmanager.pools
            for key in list(pools.keys()):
                pool = pools.get(key)
                if pool is not None:
                    pool.close()
        self._session.close()

    def send_signal(self, sig: int) -> None:
        self.close_connections()
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        """Waits for the process to exit; raises subprocess.TimeoutExpired if it does not."""
        self.exit_code = self.proc.wait(timeout=timeout)
        return self.exit_code

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> Optional[int]:
        """SIGTERM, then SIGKILL if it has not exited after `timeout`. Returns the exit code of a
        graceful stop, or None when it had to be killed."""
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self.exit_code = self.proc.returncode
            return self.exit_code
        self.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
            return self.exit_code
        except subprocess.TimeoutExpired:
            self._force_stop()
            return None

    def kill(self) -> None:
        """kill -9: no chance to clean up, like a node losing power."""
        self.killed = True
        self._force_stop()

    def _force_stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        if self.proc is not None:
            self.exit_code = self.proc.returncode

    def restart(self) -> "SignerInstance":
        if self.running():
            self.stop()
        return self.start()

    # ---- HTTP ----------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def _headers(self, method: str, path: str, kw: dict) -> dict:
        """The caller's headers, plus this instance's bearer token and, for an upload to
        /records that names no type, the NDJSON content type."""
        headers = dict(kw.pop("headers", None) or {})
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        if method == "POST" and path == "/records" and "Content-Type" not in headers:
            headers["Content-Type"] = "application/x-ndjson"
        return headers

    def get(self, path: str, timeout: float = HTTP_TIMEOUT_S, **kw) -> requests.Response:
        return self.request("GET", path, timeout=timeout, **kw)

    def post(self, path: str, data=None, timeout: float = HTTP_TIMEOUT_S,
             **kw) -> requests.Response:
        return self.request("POST", path, timeout=timeout, data=data, **kw)

    def request(self, method: str, path: str, timeout: float = HTTP_TIMEOUT_S,
                **kw) -> requests.Response:
        headers = self._headers(method, path, kw)
        return self._session.request(method, self.url(path), timeout=timeout, headers=headers,
                                     **kw)

    def stats(self) -> dict:
        r = self.get("/stats")
        assert r.status_code == 200, r.text
        return r.json()

    def sign(self, size, wait: bool = True, timeout: float = JOB_TIMEOUT_S) -> requests.Response:
        """GET /sign/:size, waiting for the job by default."""
        path = f"/sign/{size}" + ("?wait=true" if wait else "")
        # Its own connection, closed after the answer: /sign?wait may run concurrently with other
        # calls on this instance, and must not leave an idle keep-alive connection behind.
        return requests.get(self.url(path), timeout=timeout, verify=self._session.verify,
                            cert=self._session.cert,
                            headers=self._headers("GET", path, {"headers": {"Connection": "close"}}))

    def sign_ok(self, size, timeout: float = JOB_TIMEOUT_S) -> dict:
        r = self.sign(size, wait=True, timeout=timeout)
        assert r.status_code == 200, f"/sign/{size}?wait=true -> {r.status_code} {r.text}"
        job = r.json()
        assert job["state"] == "succeeded", job
        return job

    def wait_job_done(self, timeout: float = JOB_TIMEOUT_S) -> dict:
        """Polls /stats until the current job has left the running state."""
        return wait_for_job_end(self.stats, timeout)

    def ingest(self, records: Iterable[dict], as_array: bool = False) -> requests.Response:
        return self.post("/records", data=encode_records(records, as_array),
                         headers={"Content-Type": "application/json" if as_array
                                  else "application/x-ndjson"})

    def metrics_text(self) -> requests.Response:
        return self.get("/metrics")


class SignerFactory:
    """Creates servers for one test and stops all of them at teardown (Dragonfly's df_factory)."""

    def __init__(self, binary: Path, workdir: Path, keys: Path, store: str):
        self.binary = binary
        self.workdir = workdir
        self.default_keys = keys
        self.default_store = store
        self.instances: list[SignerInstance] = []

    def create(self, *args: str, store: Optional[str] = None, keys: Optional[Path] = None,
               env: Optional[dict] = None, token: Optional[str] = None) -> SignerInstance:
        n = len(self.instances)
        inst = SignerInstance(binary=self.binary, store=store or self.default_store,
                              keys=keys or self.default_keys,
                              log_path=self.workdir / f"signer-serve-{n}.log", args=list(args),
                              env=env or {}, token=token)
        self.instances.append(inst)
        return inst

    def start(self, *args: str, **kw) -> SignerInstance:
        return self.create(*args, **kw).start()

    def stop_all(self) -> list[str]:
        """Stops every instance; returns complaints about ones that did not stop cleanly."""
        problems = []
        for inst in self.instances:
            if inst.proc is None:
                continue
            was_running = inst.running()
            code = inst.stop()
            if was_running and code != 0:
                problems.append(f"{inst.log_path.name}: SIGTERM stop gave exit {code}"
                                f" (None = had to SIGKILL); log tail:\n{tail(inst.log_path)}")
        return problems

    def logs(self) -> list[Path]:
        return [i.log_path for i in self.instances if i.log_path.exists()]


# ---- CLI ---------------------------------------------------------------------------------------
@dataclass
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (f"signer {' '.join(self.args)} -> exit {self.returncode}\n"
                f"stdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-2000:]}")


class SignerCli:
    """Runs `signer <subcommand>` against one store and key file. `env` is added to the
    inherited environment of every run (e.g. BS_PG_PASSWORD_FILE for a PostgreSQL store)."""

    def __init__(self, binary: Path, store: str, keys: Path, workdir: Path,
                 env: Optional[dict[str, str]] = None):
        self.binary = binary
        self.store = store
        self.keys = keys
        self.workdir = workdir
        self.env = {**os.environ, **env} if env else None

    def run(self, *args: str, input: Optional[str] = None, stdin=None, check: bool = True,
            timeout: float = CLI_TIMEOUT_S) -> CliResult:
        proc = subprocess.run([str(self.binary), *args], input=input,
                              stdin=stdin if input is None else None, capture_output=True,
                              text=True, timeout=timeout, cwd=self.workdir, env=self.env)
        result = CliResult(list(args), proc.returncode, proc.stdout, proc.stderr)
        if check:
            assert proc.returncode == 0, str(result)
        return result

    def keygen(self, count: int, out: Path, *extra: str) -> CliResult:
        return self.run("keygen", "--count", str(count), "--out", str(out), *extra)

    def add_client(self, clients: Path, name: str, roles: str, *extra: str) -> str:
        """`signer client add`: adds a client to the clients file; returns its token."""
        token = self.run("client", "add", "--clients", str(clients), "--name", name, "--roles",
                         roles, *extra).stdout.strip()
        assert token.startswith("mst_") and len(token) == 68, token[:4]
        return token

    def load_random(self, count: int) -> dict:
        return self.run("load", "--count", str(count), "--store", self.store).json()

    def load_file(self, path: Path) -> dict:
        return self.run("load", "--input", str(path), "--store", self.store).json()

    def stats(self) -> dict:
        return self.run("stats", "--store", self.store).json()

    def sign(self, *args: str, check: bool = True) -> CliResult:
        return self.run("sign", "--store", self.store, "--keys", str(self.keys), *args,
                        check=check)

    def export(self, out: Optional[Path] = None) -> Path:
        """`signer export` into a file (what `| signer verify` would read)."""
        out = out or self.workdir / "export.ndjson"
        with open(out, "w") as f:
            proc = subprocess.run([str(self.binary), "export", "--store", self.store], stdout=f,
                                  stderr=subprocess.PIPE, text=True, timeout=CLI_TIMEOUT_S,
                                  env=self.env)
        assert proc.returncode == 0, f"signer export -> {proc.returncode}: {proc.stderr}"
        return out

    def verify(self, path: Optional[Path] = None, text: Optional[str] = None) -> CliResult:
        """`signer verify --input -` fed from a file or a string; never raises on exit code."""
        if text is not None:
            return self.run("verify", "--input", "-", input=text, check=False)
        with open(path) as f:
            return self.run("verify", "--input", "-", stdin=f, check=False)

    def export_and_verify(self) -> list[dict]:
        """`signer export | signer verify --input -`: asserts all valid, returns the records."""
        path = self.export()
        result = self.verify(path)
        records = read_ndjson(path)
        assert result.returncode == 0, str(result)
        assert result.stdout.strip().splitlines()[-1] == f"valid {len(records)} invalid 0", \
            str(result)
        return records


# ---- data --------------------------------------------------------------------------------------
def encode_records(records: Iterable[dict], as_array: bool = False) -> bytes:
    records = list(records)
    if as_array:
        return json.dumps(records).encode()
    return ("\n".join(json.dumps(r) for r in records) + "\n").encode()


def read_ndjson(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_ndjson(path: Path, records: Iterable[dict]) -> Path:
    with open(path, "w") as f:
        for r in records:
            f.write(json.dumps(r))
            f.write("\n")
    return path


# ---- keys ------------------------------------------------------------------------------------
@dataclass
class KeyRing:
    path: Path            # keys.csv
    public_keys: list     # 0x04..., in keys.csv order
    private_keys: list    # 0x..., in keys.csv order
    keygen_output: str    # what `signer keygen` printed (index, address, public key per line)

    def __len__(self) -> int:
        return len(self.public_keys)


def make_keyring(signer_bin: Path, out: Path, count: int = KEY_COUNT) -> KeyRing:
    cli = SignerCli(signer_bin, store="", keys=out / "keys.csv", workdir=out.parent)
    result = cli.keygen(count, out)
    path = out / "keys.csv"
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    assert len(rows) == count, rows
    return KeyRing(path, [r[0] for r in rows], [r[1] for r in rows], result.stdout)
