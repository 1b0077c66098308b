"""A pod pointed at a bad store must say so clearly, by exiting non-zero at start-up or by answering
/readyz with 503 and the reason, within the store timeout (5 s by default): never hang, never pose
as ready, never log a password. MongoDB (FerretDB with authentication): malformed URL,
unreachable server, wrong credentials. PostgreSQL (scripts/postgres.sh): unparsable URL, wrong
credentials (in the URL, BS_PG_PASSWORD or BS_PG_PASSWORD_FILE), unknown user or database, no
password, a refused port, and a server that accepts the connection and never answers.

All cases start at once (module fixture), so the suite waits for the slowest one only."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import psycopg
import pytest
import requests

from instance import free_port, make_keyring, signer_binary, tail

REPO = Path(__file__).resolve().parents[2]
FERRETDB_BIN = Path(os.environ.get("FERRETDB_BIN", REPO / ".tools/bin/ferretdb"))
POSTGRES_SH = REPO / "scripts" / "postgres.sh"
DEADLINE_S = 15.0  # "never hangs": the store timeout is 5 s; allow for a loaded machine
USER = "signer"
PASSWORD = "right-" + secrets.token_hex(8)
WRONG = "wrong-" + secrets.token_hex(8)
PG_PASSWORD = "pgright-" + secrets.token_hex(8)
PG_WRONG = "pgwrong-" + secrets.token_hex(8)
SECRETS = (PASSWORD, WRONG, PG_PASSWORD, PG_WRONG)


@dataclass
class Outcome:
    case: str
    exit_code: Optional[int]   # None: still running at the deadline
    readyz: Optional[int]      # last /readyz status while it ran
    readyz_body: str
    seconds: float             # until it exited or first answered /readyz
    log: str


class AuthFerretDB:
    """FerretDB with authentication on (its `--test-enable-new-auth`), one user, own port and
    data dir. Started directly: scripts/ferretdb.sh runs it without authentication."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.dir = workdir
        (workdir / "data").mkdir(parents=True)
        (workdir / "state").mkdir()
        self.log = workdir / "ferretdb.log"
        cmd = [str(FERRETDB_BIN), "--handler=sqlite", f"--sqlite-url=file:{workdir}/data/",
               f"--state-dir={workdir}/state", f"--listen-addr=127.0.0.1:{self.port}",
               "--debug-addr=-", "--telemetry=disable", "--log-level=ERROR",
               "--test-enable-new-auth", "--setup-database=admin",
               f"--setup-username={USER}", f"--setup-password={PASSWORD}"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         env={**os.environ, "DO_NOT_TRACK": "1"})
        import pymongo
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, f"ferretdb exited:\n{tail(self.log)}"
            try:
                c = pymongo.MongoClient(self.url, username=USER, password=PASSWORD,
                                        serverSelectionTimeoutMS=1000)
                c.admin.command("ping")
                c.close()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ScratchPostgres:
    """PostgreSQL 15 from scripts/postgres.sh, its `signer` user's password set to PG_PASSWORD.
    In a /tmp dir of its own: as root the server runs as `postgres`, who cannot enter pytest's
    private tmp dirs."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="signer-bad-store-pg."))
        self._script("start")
        initial = (self.dir / "password").read_text().strip()
        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname="signer",
                             password=initial, connect_timeout=10, autocommit=True) as conn:
            conn.execute(f"ALTER USER {USER} PASSWORD '{PG_PASSWORD}'")

    def _script(self, action: str) -> None:
        proc = subprocess.run(["bash", str(POSTGRES_SH), action, str(self.port), str(self.dir)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"postgres.sh {action}: {proc.stderr}"

    def url(self, user: str = USER, password: str = "", db: str = "signer",
            port: Optional[int] = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{port or self.port}/{db}"

    def stop(self) -> None:
        try:
            self._script("stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never says a word: a database that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                continue

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()


def closed_port() -> int:
    return free_port()  # nothing listens there


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    work = tmp_path_factory.mktemp("bad-store")
    if not FERRETDB_BIN.is_file():
        pytest.fail(f"{FERRETDB_BIN} missing: run scripts/install-tools.sh ferretdb",
                    pytrace=False)
    with ThreadPoolExecutor(2) as pool:
        mongo = pool.submit(AuthFerretDB, work / "ferretdb")
        pg = pool.submit(ScratchPostgres)
        servers = [f.result() for f in (mongo, pg) if f.exception() is None]
        errors = [f.exception() for f in (mongo, pg) if f.exception() is not None]
    silent = SilentServer()
    try:
        if errors:
            raise errors[0]
        return _run_cases(mongo.result(), pg.result(), silent.port, work)
    finally:
        silent.stop()
        for server in servers:
            server.stop()


def _run_cases(db: AuthFerretDB, pg: ScratchPostgres, silent_port: int,
               work: Path) -> dict[str, Outcome]:
    keys = make_keyring(signer_binary(), work / "keys", count=1)
    right_file, wrong_file = work / "pg-right", work / "pg-wrong"
    right_file.write_text(PG_PASSWORD + "\n")
    wrong_file.write_text(PG_WRONG + "\n")
    right_file.chmod(0o600)
    wrong_file.chmod(0o600)
    cases = {
        "unreachable": {"BS_MONGO_URL": f"mongodb://127.0.0.1:{closed_port()}/"},
        "not-a-url": {"BS_MONGO_URL": "notaurl"},
        "malformed-port": {"BS_MONGO_URL": "mongodb://127.0.0.1:notaport/"},
        "unknown-host": {"BS_MONGO_URL": "mongodb://no-such-host.invalid:27017/"},
        "wrong-password": {"BS_MONGO_URL": db.url, "BS_MONGO_USER": USER,
                           "BS_MONGO_PWD": WRONG},
        "wrong-password-in-url": {"BS_MONGO_URL": f"mongodb://{USER}:{WRONG}@127.0.0.1:"
                                                  f"{db.port}/"},
        "unknown-user": {"BS_MONGO_URL": db.url, "BS_MONGO_USER": "nobody",
                         "BS_MONGO_PWD": WRONG},
        "no-credentials": {"BS_MONGO_URL": db.url},
        # The control: right credentials make a ready pod.
        "right-credentials": {"BS_MONGO_URL": db.url, "BS_MONGO_USER": USER,
                              "BS_MONGO_PWD": PASSWORD},
        # PostgreSQL. The password in the URL where it could leak through a parse error.
        "pg-unparsable-url": {"BS_STORE": f"postgresql://{USER}:{PG_PASSWORD}@[127.0.0.1:"
                                          f"{pg.port}/signer"},
        "pg-malformed-port": {"BS_STORE": f"postgresql://{USER}:{PG_PASSWORD}@127.0.0.1:"
                                          f"notaport/signer"},
        "pg-bad-parameter": {"BS_STORE": pg.url() + "?sslmode=sometimes",
                             "BS_PG_PASSWORD_FILE": str(right_file)},
        "pg-unreachable": {"BS_STORE": pg.url(port=closed_port()),
                           "BS_PG_PASSWORD_FILE": str(right_file)},
        "pg-silent-server": {"BS_STORE": pg.url(port=silent_port),
                             "BS_PG_PASSWORD_FILE": str(right_file)},
        "pg-wrong-password-file": {"BS_STORE": pg.url(), "BS_PG_PASSWORD_FILE": str(wrong_file)},
        "pg-wrong-password-env": {"BS_STORE": pg.url(), "BS_PG_PASSWORD": PG_WRONG},
        "pg-wrong-password-in-url": {"BS_STORE": pg.url(password=PG_WRONG)},
        "pg-unknown-user": {"BS_STORE": pg.url(user="nobody"),
                            "BS_PG_PASSWORD_FILE": str(right_file)},
        "pg-no-password": {"BS_STORE": pg.url()},
        "pg-unknown-database": {"BS_STORE": pg.url(db="nosuchdb"),
                                "BS_PG_PASSWORD_FILE": str(right_file)},
        "pg-missing-password-file": {"BS_STORE": pg.url(),
                                     "BS_PG_PASSWORD_FILE": str(work / "no-such-file")},
        # The control: the right password (from a file, as in the cluster) makes a ready pod.
        "pg-right-credentials": {"BS_STORE": pg.url(), "BS_PG_PASSWORD_FILE": str(right_file)},
    }
    # Nothing from the caller's environment may help or hinder: no BS_* or CLUSTER_* settings, no
    # libpq PG* variables, and no ~/.pgpass.
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("BS_", "CLUSTER_", "PG"))}
    base_env["PGPASSFILE"] = str(work / "no-pgpass")
    with ThreadPoolExecutor(len(cases)) as pool:
        futures = {case: pool.submit(_watch, case, {**base_env, **env}, keys.path, work)
                   for case, env in cases.items()}
        results = {case: f.result() for case, f in futures.items()}
    for o in results.values():
        print(f"{o.case}: exit {o.exit_code} readyz {o.readyz} after {o.seconds:.1f}s "
              f"{o.readyz_body[:160]} | {error_text(o.log)[:300]}")
    return results


def error_text(log: str) -> str:
    """The error a failed start ends with: from its last line starting with "error:" (libpq's
    messages span lines) to the end; else the log's last line."""
    lines = log.strip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("error:"):
            return "\n".join(lines[i:])
    return lines[-1] if lines else ""


def _watch(case: str, env: dict, keys: Path, work: Path) -> Outcome:
    """Starts `signer serve` with env; returns how it reacted: its exit, or its first /readyz
    answer, or nothing by the deadline. Stops it afterwards."""
    port = free_port()
    log = work / f"{case}.log"
    cwd = work / case
    cwd.mkdir()
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [str(signer_binary()), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--keys", str(keys), "--pod-name", case],
            stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    started = time.monotonic()
    outcome = Outcome(case, None, None, "", 0.0, "")
    try:
        with requests.Session() as session:
            while time.monotonic() - started < DEADLINE_S + 5:
                code = proc.poll()
                if code is not None:
                    outcome.exit_code = code
                    break
                try:
                    r = session.get(f"http://127.0.0.1:{port}/readyz", timeout=DEADLINE_S + 5)
                except requests.RequestException:
                    time.sleep(0.05)
                    continue
                outcome.readyz, outcome.readyz_body = r.status_code, r.text
                break
        outcome.seconds = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        outcome.log = log.read_text(errors="replace")
    return outcome


BAD = ["unreachable", "not-a-url", "malformed-port", "unknown-host", "wrong-password",
       "wrong-password-in-url", "unknown-user", "no-credentials"]
PG_BAD = ["pg-unparsable-url", "pg-malformed-port", "pg-bad-parameter", "pg-unreachable",
          "pg-silent-server", "pg-wrong-password-file", "pg-wrong-password-env",
          "pg-wrong-password-in-url", "pg-unknown-user", "pg-no-password", "pg-unknown-database",
          "pg-missing-password-file"]
# How the message names the store it is about.
NAMES_STORE = {**{case: r"store|mongo" for case in BAD},
               **{case: r"store|postgres" for case in PG_BAD},
               "pg-missing-password-file": r"BS_PG_PASSWORD_FILE"}
REASON = {
    "unreachable": r"reach|connect|unavailable|server",
    "not-a-url": r"url|uri|invalid|mongodb",
    "malformed-port": r"url|uri|invalid|port",
    "unknown-host": r"reach|resolve|host|unavailable|server",
    "wrong-password": r"auth",
    "wrong-password-in-url": r"auth",
    "unknown-user": r"auth",
    "no-credentials": r"auth|unauthori",
    "pg-unparsable-url": r"bad PostgreSQL URL postgresql://signer:\*\*\*@.*matching \"]\"",
    "pg-malformed-port": r"invalid integer value \"notaport\" for connection option \"port\"",
    "pg-bad-parameter": r"invalid sslmode value: \"sometimes\"",
    "pg-unreachable": r"cannot connect to postgresql://signer@127\.0\.0\.1:\d+/signer: .*"
                      r"Connection refused",
    "pg-silent-server": r"cannot connect to .*timeout expired",
    "pg-wrong-password-file": r"password authentication failed for user \"signer\"",
    "pg-wrong-password-env": r"password authentication failed for user \"signer\"",
    "pg-wrong-password-in-url": r"password authentication failed for user \"signer\"",
    "pg-unknown-user": r"password authentication failed for user \"nobody\"",
    "pg-no-password": r"no password supplied",
    "pg-unknown-database": r"database \"nosuchdb\" does not exist",
    "pg-missing-password-file": r"cannot read BS_PG_PASSWORD_FILE .*no-such-file",
}


@pytest.mark.parametrize("case", BAD + PG_BAD)
def test_bad_store_fails_clearly_and_quickly(outcomes, case):
    o = outcomes[case]
    assert o.exit_code is not None or o.readyz is not None, \
        f"{case}: neither exited nor answered /readyz within {DEADLINE_S}s (hang)\n{o.log[-2000:]}"
    assert o.seconds <= DEADLINE_S, f"{case}: took {o.seconds:.1f}s to fail"
    if o.exit_code is not None:
        assert o.exit_code != 0, f"{case}: exited 0\n{o.log[-2000:]}"
        message = error_text(o.log)
        assert re.search(NAMES_STORE[case], message, re.I), \
            f"{case}: unclear error: {o.log[-2000:]}"
    else:
        assert o.readyz == 503, f"{case}: /readyz {o.readyz} {o.readyz_body}\n{o.log[-2000:]}"
        message = o.readyz_body
        assert re.search(NAMES_STORE[case], message, re.I), f"{case}: unclear /readyz: {message}"
    assert re.search(REASON[case], message, re.I | re.S), \
        f"{case}: the reason is missing: {message}"
    # Credentials never reach the logs or the answers.
    for secret in SECRETS:
        assert secret not in o.log and secret not in o.readyz_body, f"{case}: password leaked"


@pytest.mark.parametrize("case", ["right-credentials", "pg-right-credentials"])
def test_right_credentials_make_a_ready_pod(outcomes, case):
    o = outcomes[case]
    assert o.exit_code is None and o.readyz == 200, \
        f"exit {o.exit_code} readyz {o.readyz} {o.readyz_body}\n{o.log[-2000:]}"
    for secret in SECRETS:
        assert secret not in o.log and secret not in o.readyz_body, f"{case}: password leaked"
