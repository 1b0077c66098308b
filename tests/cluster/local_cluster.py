"""A local cluster for the tests: `scripts/cluster.sh up N` (FerretDB, N `signer serve` pods,
nginx as the k8s Service) in a private state dir with private ports, and helpers to talk to its
pods, its database and the CLI. The tests never start those processes themselves; they ask the
script, and `down` is always called at teardown."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pymongo
import requests

from instance import SignerCli, free_port, read_ndjson, signer_binary, tail  # tests/e2e/instance.py
from helpers import assert_exactly_once, metric_values, parse_prometheus, wait_for_job_end  # tests/e2e/helpers.py

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "scripts" / "cluster.sh"
FERRETDB_SH = REPO / "scripts" / "ferretdb.sh"
DB = "msg-signer"
HTTP_TIMEOUT_S = 30.0
JOB_TIMEOUT_S = 240.0
SCRIPT_TIMEOUT_S = 120.0
# SIGNER_CLUSTER_SCALE shrinks every data set and batch size by the same factor, for a quick
# development run (0.02: 1000 records instead of 50k, same number of batches). The suite's
# contract is the default, 1.
SCALE = float(os.environ.get("SIGNER_CLUSTER_SCALE", "1"))


def scaled(n: int) -> int:
    return max(1, round(n * SCALE))


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# ---- processes ---------------------------------------------------------------------------------
def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_pid_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


# ---- data --------------------------------------------------------------------------------------
def original_docs(n: int) -> list[dict]:
    """Documents as the original's generator writes them: no `shard`, empty sign and key."""
    return [{"id": uuid.uuid4().hex, "msg": "m-" + secrets.token_hex(12), "sign": "", "key": ""}
            for _ in range(n)]


# ---- pods --------------------------------------------------------------------------------------
@dataclass
class Pod:
    index: int
    port: int
    pid_file: Path
    log_path: Path
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def name(self) -> str:
        return f"pod-{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def get(self, path: str, timeout: float = HTTP_TIMEOUT_S, **kw) -> requests.Response:
        return self.session.get(self.url + path, timeout=timeout, **kw)

    def stats(self) -> dict:
        r = self.get("/stats")
        assert r.status_code == 200, f"{self.name} /stats -> {r.status_code} {r.text}"
        return r.json()

    def metrics(self):
        r = self.get("/metrics")
        assert r.status_code == 200, f"{self.name} /metrics -> {r.status_code}"
        return parse_prometheus(r.text)

    def batches_ok(self) -> float:
        """signer_batches_run_total{pod=<this pod>, outcome="ok"}."""
        values = metric_values(self.metrics(), "signer_batches_run_total", pod=self.name,
                               outcome="ok")
        return sum(v for _, v in values)

    def sign(self, size, wait: bool = True, timeout: float = JOB_TIMEOUT_S) -> requests.Response:
        # Own connection, closed after the answer: it may run alongside other calls.
        return requests.get(f"{self.url}/sign/{size}" + ("?wait=true" if wait else ""),
                            timeout=timeout, headers={"Connection": "close"})

    def wait_job_done(self, timeout: float = JOB_TIMEOUT_S) -> dict:
        return wait_for_job_end(self.stats, timeout, interval=0.1, who=self.name)

    def kill9(self) -> int:
        """kill -9: the pod vanishes mid-request, like a node losing power."""
        pid = self.pid
        self.session.close()
        os.kill(pid, signal.SIGKILL)
        assert wait_pid_gone(pid, 10), f"{self.name} (pid {pid}) survived SIGKILL"
        return pid


# ---- the cluster -------------------------------------------------------------------------------
class LocalCluster:
    def __init__(self, workdir: Path, pods: int = 3, env: Optional[dict] = None):
        self.workdir = workdir
        self.dir = workdir / "cluster"
        self.n = pods
        taken: set[int] = set()
        self.base_port = free_port(pods, taken)
        taken.update(range(self.base_port, self.base_port + pods))
        self.lb_port = free_port(1, taken)
        taken.add(self.lb_port)
        self.mongo_port = free_port(1, taken)
        self.binary = signer_binary()
        # Settings of the caller's own cluster (or MongoDB) must not leak into the test's.
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(("CLUSTER_", "BS_"))}
        self.env = {
            **inherited,
            "CLUSTER_DIR": str(self.dir),
            "CLUSTER_BASE_PORT": str(self.base_port),
            "CLUSTER_LB_PORT": str(self.lb_port),
            "CLUSTER_MONGO_PORT": str(self.mongo_port),
            "CLUSTER_KEY_COUNT": "3",
            "SIGNER_BIN": str(self.binary),
            **(env or {}),
        }
        self.mongo_url = f"mongodb://127.0.0.1:{self.mongo_port}/"
        self.lb_url = f"http://127.0.0.1:{self.lb_port}"
        self.pods = [Pod(i, self.base_port + i, self.dir / "pids" / f"pod-{i}.pid",
                         self.dir / f"pod-{i}.log") for i in range(pods)]
        self._mongo: Optional[pymongo.MongoClient] = None
        self.up_output = ""

    # ---- script ------------------------------------------------------------------------------
    def script(self, *args: str, check: bool = True,
               timeout: float = SCRIPT_TIMEOUT_S) -> subprocess.CompletedProcess:
        proc = subprocess.run(["bash", str(CLUSTER_SH), *args], env=self.env, text=True,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check:
            assert proc.returncode == 0, (f"cluster.sh {' '.join(args)} -> {proc.returncode}\n"
                                          f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def up(self) -> "LocalCluster":
        proc = self.script("up", str(self.n))
        self.up_output = proc.stdout
        assert f"LB_URL={self.lb_url}" in proc.stdout, proc.stdout
        assert f"MONGO_URL={self.mongo_url}" in proc.stdout, proc.stdout
        return self

    def down(self) -> subprocess.CompletedProcess:
        if self._mongo is not None:
            self._mongo.close()
            self._mongo = None
        for pod in self.pods:
            pod.session.close()
        return self.script("down", check=False)

    def status(self) -> subprocess.CompletedProcess:
        return self.script("status", check=False)

    @property
    def token(self) -> str:
        return (self.dir / "token").read_text().strip()

    @property
    def keys_file(self) -> Path:
        return self.dir / "keys" / "keys.csv"

    def public_keys(self) -> list[str]:
        return [line.split(",")[0] for line in self.keys_file.read_text().splitlines() if line]

    def pid_file(self, name: str) -> Path:
        return self.dir / "pids" / f"{name}.pid"

    def logs(self) -> list[Path]:
        paths = [p.log_path for p in self.pods]
        paths += [self.dir / "nginx" / "logs" / "error.log",
                  self.dir / "ferretdb" / "ferretdb.log"]
        return [p for p in paths if p.exists()]

    def dump_logs(self, lines: int = 40) -> None:
        for path in self.logs():
            print(f"----- {path} (tail) -----\n{tail(path, lines)}")

    # ---- FerretDB ------------------------------------------------------------------------------
    def ferretdb(self, action: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(["bash", str(FERRETDB_SH), action, str(self.mongo_port),
                               str(self.dir / "ferretdb")], env=self.env, text=True,
                              capture_output=True, timeout=60)
        if action in ("start", "stop"):
            assert proc.returncode == 0, f"ferretdb.sh {action}: {proc.stdout}{proc.stderr}"
        return proc

    def kill_ferretdb(self) -> None:
        """kill -9 FerretDB: the database vanishes at once, mid-operation. (A SIGTERM lets it
        drain its open connections first, which can take as long as the job.) SQLite keeps
        what was committed, and `ferretdb("start")` brings it back on the same data."""
        pid = int((self.dir / "ferretdb" / "ferretdb.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        assert wait_pid_gone(pid, 10), f"ferretdb (pid {pid}) survived SIGKILL"

    def mongo(self) -> pymongo.MongoClient:
        if self._mongo is None:
            self._mongo = pymongo.MongoClient(self.mongo_url, serverSelectionTimeoutMS=10000,
                                              connectTimeoutMS=5000, socketTimeoutMS=120000)
        return self._mongo

    def insert_original_docs(self, n: int, chunk: int = 5000) -> dict[str, str]:
        """Inserts n documents the original's way, straight into msg-signer.records; returns
        {id: msg}."""
        docs = original_docs(n)
        col = self.mongo()[DB]["records"]
        for i in range(0, n, chunk):
            col.insert_many([dict(d) for d in docs[i:i + chunk]], ordered=False)
        return {d["id"]: d["msg"] for d in docs}

    def ids_in(self, collection: str) -> list[str]:
        return [d["id"] for d in
                self.mongo()[DB][collection].find({}, {"id": 1, "_id": 0}, batch_size=10000)]

    # ---- CLI -----------------------------------------------------------------------------------
    def cli(self) -> SignerCli:
        return SignerCli(self.binary, self.mongo_url, self.keys_file, self.workdir)

    def export_and_verify(self, expected: dict[str, str]) -> list[dict]:
        """`signer export` then `signer verify`: every expected id exactly once, with its msg,
        signed by one of the cluster's keys, and all signatures valid."""
        cli = self.cli()
        path = cli.export(self.workdir / f"export-{time.monotonic_ns()}.ndjson")
        records = read_ndjson(path)
        result = cli.verify(path)
        assert result.returncode == 0, str(result)
        assert result.stdout.strip().splitlines()[-1] == f"valid {len(records)} invalid 0", \
            str(result)
        assert_exactly_once(records, expected.keys())
        wrong_msg = [r["id"] for r in records if r["msg"] != expected[r["id"]]]
        assert not wrong_msg, f"{len(wrong_msg)} records changed msg, e.g. {wrong_msg[:3]}"
        keys = set(self.public_keys())
        foreign = [r["id"] for r in records if r["key"] not in keys]
        assert not foreign, f"{len(foreign)} records signed with an unknown key"
        return records
