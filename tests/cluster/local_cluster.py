"""A local cluster for the tests: `scripts/cluster.sh up N` (a shared store, N `signer serve`
pods, nginx as the k8s Service) in a private state dir with private ports, and helpers to talk to
its pods, its database and the CLI. The store is FerretDB (MongoDB wire protocol) or PostgreSQL;
`LocalCluster.db` hides which, so a test reads the same on both. The tests never start those
processes themselves; they ask the scripts, and `down` is always called at teardown."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import psycopg
import pymongo
import requests

from instance import SignerCli, free_port, read_ndjson, signer_binary, tail  # tests/e2e/instance.py
from helpers import assert_exactly_once, metric_values, parse_prometheus, wait_for_job_end  # tests/e2e/helpers.py

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "scripts" / "cluster.sh"
FERRETDB_SH = REPO / "scripts" / "ferretdb.sh"
POSTGRES_SH = REPO / "scripts" / "postgres.sh"
DB = "msg-signer"
# The stores scripts/cluster.sh can run the pods on (CLUSTER_STORE).
STORES = ("postgres", "ferretdb")
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


def process_start(pid: int) -> Optional[int]:
    """When `pid` started (clock ticks since boot), or None when it does not run. With the pid,
    it names one process: pids are reused, quickly on a busy machine (pid_max is often 32768)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


def wait_pid_gone(pid: int, timeout: float, start: Optional[int] = None) -> bool:
    """Waits until `pid` is gone; with `start` (process_start(pid) taken while it ran), a new
    process that got the same pid meanwhile counts as gone too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = process_start(pid)
        if now is None or (start is not None and now != start):
            return True
        time.sleep(0.05)
    return False


def postgres_shared_memory(data_dir: Path) -> set[str]:
    """The shared memory of the PostgreSQL server running on `data_dir`: the POSIX segments its
    processes map (/dev/shm/PostgreSQL.*) and its System V segment ("sysv:ID", from the seventh
    line of postmaster.pid)."""
    lines = (data_dir / "postmaster.pid").read_text().splitlines()
    postmaster = int(lines[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                              text=True).stdout.split()
    segments = {f"sysv:{lines[6].split()[1]}"}
    for pid in [postmaster, *map(int, children)]:
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        segments.update(re.findall(r"/dev/shm/PostgreSQL\.\d+", maps))
    return segments


def shared_memory_left(segments: set[str]) -> set[str]:
    """Those of `segments` (postgres_shared_memory) that still exist."""
    sysv_ids = {line.split()[1] for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]}
    return {s for s in segments
            if (s.removeprefix("sysv:") in sysv_ids if s.startswith("sysv:") else Path(s).exists())}


# ---- data --------------------------------------------------------------------------------------
def original_docs(n: int) -> list[dict]:
    """Documents as the original's generator writes them: no `shard`, empty sign and key."""
    return [{"id": uuid.uuid4().hex, "msg": "m-" + secrets.token_hex(12), "sign": "", "key": ""}
            for _ in range(n)]


# ---- the shared store --------------------------------------------------------------------------
class Database:
    """The store the pods share, seen from outside the signer: playing "another tool" that
    writes records the original's way, an operator who reads both tables, and a crash."""

    name = ""
    # A move is one transaction (PostgreSQL), so no id is ever in both tables; with MongoDB's
    # two steps (insert signed, then delete unsigned) an id may sit in both until the next run.
    moves_are_atomic = False
    # What an error caused by this store names.
    error_pattern = re.compile(r"store", re.I)

    def __init__(self, cluster: "LocalCluster"):
        self.cluster = cluster
        self.port = 0
        self.url = ""  # the store URL the pods and the CLI get; never with a password

    def cluster_env(self) -> dict[str, str]:
        """What scripts/cluster.sh needs to start this store."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Before `cluster.sh up`: starts what the script does not start itself."""

    def check_up_output(self, stdout: str) -> None:
        """Asserts `cluster.sh up` announced this store (and never its password)."""
        raise NotImplementedError

    def cli_env(self) -> dict[str, str]:
        """Environment the signer CLI needs to reach the store (beyond the URL)."""
        return {}

    def pid_files(self) -> list[Path]:
        """Files whose first line is the pid of the store's server process, where it runs."""
        return []

    def log_paths(self) -> list[Path]:
        return []

    def insert_original_docs(self, docs: list[dict]) -> None:
        raise NotImplementedError

    def ids_in(self, table: str) -> list[str]:
        raise NotImplementedError

    def count_with_shard(self) -> int:
        """Unsigned records that already carry a shard."""
        raise NotImplementedError

    def count(self, table: str) -> int:
        """Rows of `table` (records or signedrecords), counted by the database itself."""
        raise NotImplementedError

    def count_of_job(self, job_id: str) -> int:
        """Signed records stamped with `job_id`."""
        raise NotImplementedError

    def kill(self) -> None:
        """The database vanishes at once, mid-operation (kill -9 of its server)."""
        raise NotImplementedError

    def start(self) -> None:
        """Starts the killed or stopped server again, on the same data."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def cleanup(self) -> None:
        """After `down`: removes what the store left outside the cluster's state dir."""


class FerretDatabase(Database):
    """FerretDB (scripts/ferretdb.sh, SQLite backend) as MongoDB: database msg-signer."""

    name = "ferretdb"
    error_pattern = re.compile(r"store|mongo", re.I)

    def __init__(self, cluster: "LocalCluster", port: int):
        super().__init__(cluster)
        self.port = port
        self.url = f"mongodb://127.0.0.1:{port}/"
        self.dir = cluster.dir / "ferretdb"
        self._client: Optional[pymongo.MongoClient] = None

    def cluster_env(self) -> dict[str, str]:
        return {"CLUSTER_STORE": "ferretdb", "CLUSTER_MONGO_PORT": str(self.port)}

    def check_up_output(self, stdout: str) -> None:
        assert f"MONGO_URL={self.url}" in stdout, stdout
        assert f"STORE_URL={self.url}" in stdout, stdout

    def pid_files(self) -> list[Path]:
        return [self.dir / "ferretdb.pid"]

    def log_paths(self) -> list[Path]:
        return [self.dir / "ferretdb.log"]

    def client(self) -> pymongo.MongoClient:
        if self._client is None:
            self._client = pymongo.MongoClient(self.url, serverSelectionTimeoutMS=10000,
                                               connectTimeoutMS=5000, socketTimeoutMS=120000)
        return self._client

    def insert_original_docs(self, docs: list[dict], chunk: int = 5000) -> None:
        col = self.client()[DB]["records"]
        for i in range(0, len(docs), chunk):
            col.insert_many([dict(d) for d in docs[i:i + chunk]], ordered=False)

    def ids_in(self, table: str) -> list[str]:
        return [d["id"] for d in
                self.client()[DB][table].find({}, {"id": 1, "_id": 0}, batch_size=10000)]

    def count_with_shard(self) -> int:
        return self.client()[DB]["records"].count_documents({"shard": {"$exists": True}})

    def count(self, table: str) -> int:
        assert table in ("records", "signedrecords"), table
        return self.client()[DB][table].count_documents({})

    def count_of_job(self, job_id: str) -> int:
        return self.client()[DB]["signedrecords"].count_documents({"job_id": job_id})

    def _script(self, action: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(["bash", str(FERRETDB_SH), action, str(self.port), str(self.dir)],
                              env=self.cluster.env, text=True, capture_output=True, timeout=60)
        assert proc.returncode == 0, f"ferretdb.sh {action}: {proc.stdout}{proc.stderr}"
        return proc

    def kill(self) -> None:
        """kill -9 FerretDB. (A SIGTERM lets it drain its open connections first, which can take
        as long as the job.) SQLite keeps what was committed."""
        pid = int((self.dir / "ferretdb.pid").read_text().strip())
        start = process_start(pid)
        os.kill(pid, signal.SIGKILL)
        assert wait_pid_gone(pid, 10, start), f"ferretdb (pid {pid}) survived SIGKILL"

    def start(self) -> None:
        self._script("start")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class PostgresDatabase(Database):
    """PostgreSQL 15 (scripts/postgres.sh: user and database `signer`) in the cluster's state
    dir, or where CLUSTER_DIR/postgres links to when the server runs as another user. Tables
    records, signedrecords, ... exist once the first pod has started (it creates them)."""

    name = "postgres"
    moves_are_atomic = True
    error_pattern = re.compile(r"store|postgres", re.I)

    def __init__(self, cluster: "LocalCluster", port: int):
        super().__init__(cluster)
        self.port = port
        self.url = f"postgresql://signer@127.0.0.1:{port}/signer"
        self.password_file: Optional[Path] = None  # from `up`'s PG_PASSWORD_FILE= line

    @property
    def dir(self) -> Path:
        """The server's dir (data/, password, server.log), the link resolved."""
        return (self.cluster.dir / "postgres").resolve()

    def cluster_env(self) -> dict[str, str]:
        return {"CLUSTER_STORE": "postgres", "CLUSTER_PG_PORT": str(self.port)}

    def check_up_output(self, stdout: str) -> None:
        assert f"PG_URL={self.url}" in stdout, stdout
        assert f"STORE_URL={self.url}" in stdout, stdout
        line = next(l for l in stdout.splitlines() if l.startswith("PG_PASSWORD_FILE="))
        self.password_file = Path(line.split("=", 1)[1])
        assert self.password_file.is_file(), stdout
        assert self.password() not in stdout, "cluster.sh up printed the PostgreSQL password"

    def password(self) -> str:
        return self.password_file.read_text().strip()

    def cli_env(self) -> dict[str, str]:
        return {"BS_PG_PASSWORD_FILE": str(self.password_file)}

    def pid_files(self) -> list[Path]:
        return [self.dir / "data" / "postmaster.pid"]

    def log_paths(self) -> list[Path]:
        return [self.dir / "server.log"]

    def connect(self) -> psycopg.Connection:
        # A new connection per helper call: the server may have been killed since the last one.
        return psycopg.connect(host="127.0.0.1", port=self.port, user="signer", dbname="signer",
                               password=self.password(), connect_timeout=10, autocommit=True)

    def insert_original_docs(self, docs: list[dict]) -> None:
        """Rows as another tool writes them: no shard (NULL; the signer backfills it)."""
        with self.connect() as conn, conn.cursor() as cur:
            with cur.copy("COPY records (id, msg, sign, key) FROM STDIN") as copy:
                for d in docs:
                    copy.write_row((d["id"], d["msg"], d["sign"], d["key"]))

    def ids_in(self, table: str) -> list[str]:
        assert table in ("records", "signedrecords"), table
        with self.connect() as conn:
            return [row[0] for row in conn.execute(f"SELECT id FROM {table}")]

    def count_with_shard(self) -> int:
        with self.connect() as conn:
            return conn.execute("SELECT count(*) FROM records WHERE shard IS NOT NULL"
                                ).fetchone()[0]

    def count(self, table: str) -> int:
        assert table in ("records", "signedrecords"), table
        with self.connect() as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def count_of_job(self, job_id: str) -> int:
        with self.connect() as conn:
            return conn.execute("SELECT count(*) FROM signedrecords WHERE job_id = %s",
                                (job_id,)).fetchone()[0]

    def _script(self, action: str) -> subprocess.CompletedProcess:
        # `start` prints the URL with the password: kept out of the test output.
        proc = subprocess.run(["bash", str(POSTGRES_SH), action, str(self.port), str(self.dir)],
                              env=self.cluster.env, text=True, capture_output=True, timeout=120)
        assert proc.returncode == 0, f"postgres.sh {action} -> {proc.returncode}: {proc.stderr}"
        return proc

    def postmaster_pid(self) -> int:
        return int((self.dir / "data" / "postmaster.pid").read_text().splitlines()[0])

    def kill(self) -> None:
        """kill -9 of the postmaster and every backend (scripts/postgres.sh kill): a crash; the
        next start runs crash recovery from the WAL."""
        pid = self.postmaster_pid()
        start = process_start(pid)
        segments = postgres_shared_memory(self.dir / "data")
        self._script("kill")
        assert wait_pid_gone(pid, 10, start), f"postgres (pid {pid}) survived SIGKILL"
        # As a crash of the machine would: a server not started again must not leave them.
        assert not shared_memory_left(segments), shared_memory_left(segments)

    def start(self) -> None:
        self._script("start")

    def restart(self) -> None:
        """A fast shutdown (open sessions are terminated, as a failover or an operator's
        restart does) and a start on the same data."""
        self._script("restart")

    def cleanup(self) -> None:
        """Removes the server's /tmp dir, unless the server still runs (a failed `down`): its
        data then stays for a look, and the test has failed."""
        target = self.dir
        if not ((self.cluster.dir / "postgres").is_symlink() and target.is_dir()):
            return
        try:
            if process_start(self.postmaster_pid()) is not None:
                return
        except (OSError, IndexError, ValueError):
            pass
        shutil.rmtree(target, ignore_errors=True)


class FailoverPostgres(PostgresDatabase):
    """A PostgreSQL primary with a synchronous hot standby (scripts/postgres.sh start, then
    standby: pg_basebackup and synchronous_standby_names), which the test starts and stops
    itself; the pods get it as an external store (CLUSTER_PG_URL) through a multi-host URL with
    target_session_attrs=read-write, as a CloudNativePG or Patroni cluster gives, so they follow
    the primary wherever it is."""

    def __init__(self, cluster: "LocalCluster", primary_port: int):
        super().__init__(cluster, primary_port)
        self.primary_port = primary_port
        self.standby_port = free_port(1, {primary_port, cluster.base_port, cluster.lb_port})
        self.primary_dir = Path(tempfile.mkdtemp(prefix="signer-failover-primary."))
        self.standby_dir = Path(tempfile.mkdtemp(prefix="signer-failover-standby."))
        self.url = (f"postgresql://signer@127.0.0.1:{primary_port},127.0.0.1:{self.standby_port}"
                    f"/signer?target_session_attrs=read-write")
        self.password_file = self.primary_dir / "password"

    def prepare(self) -> None:
        self._run("start", self.primary_port, self.primary_dir)
        self._run("standby", self.standby_port, self.standby_dir, str(self.primary_port),
                  str(self.primary_dir))

    @property
    def dir(self) -> Path:
        return self.primary_dir

    def _run(self, action: str, port: int, directory: Path, *extra: str) -> None:
        # `start` and `standby` print URLs with the password: kept out of the test output.
        proc = subprocess.run(["bash", str(POSTGRES_SH), action, str(port), str(directory), *extra],
                              env=self.cluster.env, text=True, capture_output=True, timeout=120)
        assert proc.returncode == 0, f"postgres.sh {action} {port} -> {proc.returncode}: {proc.stderr}"

    def cluster_env(self) -> dict[str, str]:
        return {"CLUSTER_STORE": "postgres", "CLUSTER_PG_URL": self.url,
                "BS_PG_PASSWORD_FILE": str(self.password_file)}

    def check_up_output(self, stdout: str) -> None:
        assert f"PG_URL={self.url}" in stdout, stdout
        assert f"STORE_URL={self.url}" in stdout, stdout
        assert self.password() not in stdout, "cluster.sh up printed the PostgreSQL password"

    def pid_files(self) -> list[Path]:
        return []  # not started by cluster.sh, so not stopped by it: see cleanup()

    def log_paths(self) -> list[Path]:
        return [self.primary_dir / "server.log", self.standby_dir / "server.log"]

    def connect(self) -> psycopg.Connection:
        """To the primary, whichever server that is now."""
        return psycopg.connect(self.url.replace("signer@", f"signer:{self.password()}@", 1),
                               connect_timeout=10, autocommit=True)

    def kill_primary(self) -> None:
        """kill -9 of the primary's postmaster and every backend: it is gone at once, and so is
        its shared memory (it is not started again)."""
        segments = postgres_shared_memory(self.primary_dir / "data")
        self._run("kill", self.primary_port, self.primary_dir)
        assert not shared_memory_left(segments), shared_memory_left(segments)

    def promote_standby(self) -> None:
        self._run("promote", self.standby_port, self.standby_dir)

    def cleanup(self) -> None:
        for port, directory in ((self.primary_port, self.primary_dir),
                                (self.standby_port, self.standby_dir)):
            subprocess.run(["bash", str(POSTGRES_SH), "stop", str(port), str(directory)],
                           env=self.cluster.env, capture_output=True, timeout=120)
            shutil.rmtree(directory, ignore_errors=True)


# ---- the network, through Toxiproxy -------------------------------------------------------------
class Toxiproxy:
    """The API of the Toxiproxy server `cluster.sh up` starts with CLUSTER_TOXIPROXY=1. Proxies:
    store-pod-I (pod I and the store) and service (every pod and nginx). A fault is a toxic on a
    proxy, or a proxy disabled; `reset()` takes every fault away."""

    TOXICS = ("latency", "bandwidth", "reset_peer", "timeout", "slicer")

    def __init__(self, url: str, pods: int):
        self.url = url
        self.pods = pods
        self.session = requests.Session()

    def store_proxies(self) -> list[str]:
        return [f"store-pod-{i}" for i in range(self.pods)]

    def _check(self, r: requests.Response, what: str) -> dict:
        assert r.status_code < 300, f"toxiproxy {what} -> {r.status_code} {r.text}"
        return r.json() if r.text else {}

    def proxies(self) -> dict:
        return self._check(self.session.get(f"{self.url}/proxies", timeout=5), "list")

    def add(self, proxy: str, kind: str, stream: str = "downstream", name: Optional[str] = None,
            **attributes) -> str:
        """Adds toxic `kind` (one of TOXICS) with `attributes` to `proxy`; returns its name."""
        assert kind in self.TOXICS, kind
        name = name or f"{kind}_{stream}"
        body = {"name": name, "type": kind, "stream": stream, "toxicity": 1.0,
                "attributes": attributes}
        self._check(self.session.post(f"{self.url}/proxies/{proxy}/toxics", json=body, timeout=5),
                    f"add {kind} to {proxy}")
        return name

    def remove(self, proxy: str, name: str) -> None:
        self._check(self.session.delete(f"{self.url}/proxies/{proxy}/toxics/{name}", timeout=5),
                    f"remove {name} from {proxy}")

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """A disabled proxy closes its connections and refuses new ones: the link is down."""
        self._check(self.session.post(f"{self.url}/proxies/{proxy}", json={"enabled": enabled},
                                      timeout=5), f"{'enable' if enabled else 'disable'} {proxy}")

    def reset(self) -> None:
        """Every proxy enabled, every toxic removed."""
        self._check(self.session.post(f"{self.url}/reset", timeout=5), "reset")


# ---- pods --------------------------------------------------------------------------------------
# Routes whose GET only reads: Pod.get may send one again after a reset connection.
READ_ONLY_ROUTES = ("/stats", "/metrics", "/jobs", "/readyz", "/healthz", "/records/", "/keys",
                    "/audit")


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
        try:
            return self.session.get(self.url + path, timeout=timeout, **kw)
        except requests.ConnectionError:
            # The pod closes a kept-alive connection after 5 s idle (and after 100 requests). A
            # request sent on it as it closes is reset: the race every HTTP/1.1 client meets, in
            # which it may send an idempotent request again on a new connection (RFC 9112,
            # 9.3.1). Only the read-only routes are sent again: GET /sign and GET /batch act.
            if not path.startswith(READ_ONLY_ROUTES):
                raise
            return self.session.get(self.url + path, timeout=timeout, **kw)

    def post(self, path: str, timeout: float = HTTP_TIMEOUT_S, **kw) -> requests.Response:
        return self.session.post(self.url + path, timeout=timeout, **kw)

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
        start = process_start(pid)
        self.session.close()
        os.kill(pid, signal.SIGKILL)
        assert wait_pid_gone(pid, 10, start), f"{self.name} (pid {pid}) survived SIGKILL"
        return pid


# ---- the cluster -------------------------------------------------------------------------------
class LocalCluster:
    def __init__(self, workdir: Path, pods: int = 3, env: Optional[dict] = None,
                 store: str = "ferretdb", toxiproxy: bool = False,
                 database: Optional[Callable[["LocalCluster", int], "Database"]] = None):
        assert store in STORES, store
        self.workdir = workdir
        self.dir = workdir / "cluster"
        self.n = pods
        taken: set[int] = set()
        self.base_port = free_port(pods, taken)
        taken.update(range(self.base_port, self.base_port + pods))
        self.lb_port = free_port(1, taken)
        taken.add(self.lb_port)
        db_port = free_port(1, taken)
        taken.add(db_port)
        toxiproxy_env: dict[str, str] = {}
        self.toxiproxy: Optional[Toxiproxy] = None
        if toxiproxy:
            api_port = free_port(1, taken)
            taken.add(api_port)
            proxy_base = free_port(pods + 1, taken)
            taken.update(range(proxy_base, proxy_base + pods + 1))
            toxiproxy_env = {"CLUSTER_TOXIPROXY": "1", "CLUSTER_TOXIPROXY_PORT": str(api_port),
                             "CLUSTER_TOXIPROXY_BASE_PORT": str(proxy_base)}
            self.toxiproxy = Toxiproxy(f"http://127.0.0.1:{api_port}", pods)
        if database is not None:
            self.db: Database = database(self, db_port)
        elif store == "postgres":
            self.db = PostgresDatabase(self, db_port)
        else:
            self.db = FerretDatabase(self, db_port)
        self.binary = signer_binary()
        # Settings of the caller's own cluster (or MongoDB) must not leak into the test's.
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(("CLUSTER_", "BS_"))}
        self.env = {
            **inherited,
            "CLUSTER_DIR": str(self.dir),
            "CLUSTER_BASE_PORT": str(self.base_port),
            "CLUSTER_LB_PORT": str(self.lb_port),
            **self.db.cluster_env(),
            "CLUSTER_KEY_COUNT": "3",
            "SIGNER_BIN": str(self.binary),
            **toxiproxy_env,
            **(env or {}),
        }
        self.lb_url = f"http://127.0.0.1:{self.lb_port}"
        self.pods = [Pod(i, self.base_port + i, self.dir / "pids" / f"pod-{i}.pid",
                         self.dir / f"pod-{i}.log") for i in range(pods)]
        self.up_output = ""

    @property
    def store(self) -> str:
        return self.db.name

    @property
    def store_url(self) -> str:
        return self.db.url

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
        self.db.prepare()
        proc = self.script("up", str(self.n))
        self.up_output = proc.stdout
        assert f"LB_URL={self.lb_url}" in proc.stdout, proc.stdout
        self.db.check_up_output(proc.stdout)
        if self.toxiproxy:
            assert f"TOXIPROXY_URL={self.toxiproxy.url}" in proc.stdout, proc.stdout
            assert set(self.toxiproxy.proxies()) == {*self.toxiproxy.store_proxies(), "service"}
        return self

    def down(self) -> subprocess.CompletedProcess:
        self.db.close()
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
        paths += [self.dir / "nginx" / "logs" / "error.log", *self.db.log_paths(),
                  self.dir / "toxiproxy.log"]
        return [p for p in paths if p.exists()]

    def dump_logs(self, lines: int = 40) -> None:
        for path in self.logs():
            print(f"----- {path} (tail) -----\n{tail(path, lines)}")

    # ---- the store --------------------------------------------------------------------------
    def load_records(self, n: int) -> dict[str, str]:
        """Loads n new records through `signer load` (with their shards, as the signer ingests
        them); returns {id: msg}."""
        path = self.workdir / f"load-{time.monotonic_ns()}.ndjson"
        records = {uuid.uuid4().hex: "m-" + secrets.token_hex(12) for _ in range(n)}
        with open(path, "w") as f:
            for i, m in records.items():
                f.write('{"id":"%s","msg":"%s"}\n' % (i, m))
        report = self.cli().load_file(path)
        assert report["accepted"] == n, report
        path.unlink()
        return records

    def insert_original_docs(self, n: int) -> dict[str, str]:
        """Inserts n records the original's way (no shard, empty sign and key) straight into the
        store's `records`, as another tool would; returns {id: msg}."""
        docs = original_docs(n)
        self.db.insert_original_docs(docs)
        return {d["id"]: d["msg"] for d in docs}

    def ids_in(self, table: str) -> list[str]:
        return self.db.ids_in(table)

    # ---- CLI -----------------------------------------------------------------------------------
    def cli(self) -> SignerCli:
        return SignerCli(self.binary, self.store_url, self.keys_file, self.workdir,
                         env=self.db.cli_env())

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
