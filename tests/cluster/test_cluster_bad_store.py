"""A pod pointed at a bad MongoDB (malformed URL, unreachable server, wrong credentials) must say so
clearly, by exiting non-zero at start-up or by answering /readyz with 503 and the reason, within
the store timeout (5 s by default): never hang, never pose as ready, never log a password.

All cases start at once (module fixture), so the suite waits for the slowest one only."""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
import requests

from instance import free_port, make_keyring, signer_binary, tail

FERRETDB_BIN = Path(os.environ.get("FERRETDB_BIN",
                                   Path(__file__).resolve().parents[2] / ".tools/bin/ferretdb"))
DEADLINE_S = 15.0  # "never hangs": the store timeout is 5 s; allow for a loaded machine
USER = "signer"
PASSWORD = "right-" + secrets.token_hex(8)
WRONG = "wrong-" + secrets.token_hex(8)


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


def closed_port() -> int:
    return free_port()  # nothing listens there


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    work = tmp_path_factory.mktemp("bad-store")
    if not FERRETDB_BIN.is_file():
        pytest.fail(f"{FERRETDB_BIN} missing: run scripts/install-tools.sh ferretdb",
                    pytrace=False)
    db = AuthFerretDB(work / "ferretdb")
    try:
        return _run_cases(db, work)
    finally:
        db.stop()


def _run_cases(db: AuthFerretDB, work: Path) -> dict[str, Outcome]:
    keys = make_keyring(signer_binary(), work / "keys", count=1)
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
    }
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("BS_", "CLUSTER_"))}
    with ThreadPoolExecutor(len(cases)) as pool:
        futures = {case: pool.submit(_watch, case, {**base_env, **env}, keys.path, work)
                   for case, env in cases.items()}
        results = {case: f.result() for case, f in futures.items()}
    for o in results.values():
        print(f"{o.case}: exit {o.exit_code} readyz {o.readyz} after {o.seconds:.1f}s "
              f"{o.readyz_body[:160]} | {o.log.strip().splitlines()[-1:] if o.log else ''}")
    return results


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
REASON = {
    "unreachable": r"reach|connect|unavailable|server",
    "not-a-url": r"url|uri|invalid|mongodb",
    "malformed-port": r"url|uri|invalid|port",
    "unknown-host": r"reach|resolve|host|unavailable|server",
    "wrong-password": r"auth",
    "wrong-password-in-url": r"auth",
    "unknown-user": r"auth",
    "no-credentials": r"auth|unauthori",
}


@pytest.mark.parametrize("case", BAD)
def test_bad_store_fails_clearly_and_quickly(outcomes, case):
    o = outcomes[case]
    assert o.exit_code is not None or o.readyz is not None, \
        f"{case}: neither exited nor answered /readyz within {DEADLINE_S}s (hang)\n{o.log[-2000:]}"
    assert o.seconds <= DEADLINE_S, f"{case}: took {o.seconds:.1f}s to fail"
    if o.exit_code is not None:
        assert o.exit_code != 0, f"{case}: exited 0\n{o.log[-2000:]}"
        message = o.log.strip().splitlines()[-1] if o.log.strip() else ""
        assert re.search(r"store|mongo", message, re.I), f"{case}: unclear error: {o.log[-2000:]}"
    else:
        assert o.readyz == 503, f"{case}: /readyz {o.readyz} {o.readyz_body}\n{o.log[-2000:]}"
        message = o.readyz_body
        assert re.search(r"store|mongo", message, re.I), f"{case}: unclear /readyz: {message}"
    assert re.search(REASON[case], message, re.I), f"{case}: the reason is missing: {message}"
    # Credentials never reach the logs or the answers.
    for secret in (PASSWORD, WRONG):
        assert secret not in o.log and secret not in o.readyz_body, f"{case}: password leaked"


def test_right_credentials_make_a_ready_pod(outcomes):
    o = outcomes["right-credentials"]
    assert o.exit_code is None and o.readyz == 200, \
        f"exit {o.exit_code} readyz {o.readyz} {o.readyz_body}\n{o.log[-2000:]}"
    assert PASSWORD not in o.log and PASSWORD not in o.readyz_body
