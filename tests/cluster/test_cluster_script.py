"""scripts/cluster.sh itself: up/status/down, idempotence, what it generates, that `down` stops
only what `up` started, that the PostgreSQL password never shows (URLs, ps, state, output, logs),
an external PostgreSQL (CLUSTER_PG_URL), and the internal token on /batch."""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
import requests

from local_cluster import POSTGRES_SH, LocalCluster, pid_alive, process_start, wait_pid_gone


# A line of the pods' structured log (spdlog): time, level, message.
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d "
                      r"(trace|debug|info|warning|error|critical) \S")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def proc_strings(pid: int, name: str) -> list[str]:
    """/proc/PID/cmdline (the arguments) or environ (NAME=value): what `ps` and `ps e` show."""
    return Path(f"/proc/{pid}/{name}").read_bytes().decode(errors="replace").split("\0")


def assert_password_hidden(c: LocalCluster, password: str, outputs: list[str]) -> None:
    """The PostgreSQL password is in no pod's command line or environment (only the path of its
    file, BS_PG_PASSWORD_FILE), in no URL or output of the script, and in no file of the state
    dir but the password file itself."""
    assert len(password) >= 8
    for pod in c.pods:
        cmdline, environ = proc_strings(pod.pid, "cmdline"), proc_strings(pod.pid, "environ")
        assert not [a for a in cmdline + environ if password in a], f"{pod.name}: password in ps"
        assert f"BS_STORE={c.store_url}" in environ, environ
        assert f"BS_PG_PASSWORD_FILE={c.db.password_file}" in environ, environ
        assert not [e for e in environ if e.startswith(("BS_PG_PASSWORD=", "BS_MONGO_URL="))]
    for text in outputs:
        assert password not in text, f"password in the script's output:\n{text}"
    server_dir = c.dir / "postgres"  # the server's own (data, its password file)
    for path in c.dir.rglob("*"):
        if (path.is_file() and not path.is_symlink() and path != c.db.password_file
                and server_dir not in path.parents):
            assert password.encode() not in path.read_bytes(), f"password in {path}"


@pytest.mark.stores("postgres", "ferretdb")
def test_up_status_down(cluster_factory, tmp_path, store):
    c = cluster_factory(2)
    assert f"LB_URL={c.lb_url}" in c.up_output and f"STORE_URL={c.store_url}" in c.up_output

    st = c.status()
    assert st.returncode == 0, st.stdout + st.stderr
    for name, url in [(store, c.store_url), ("pod-0", c.pods[0].url),
                      ("pod-1", c.pods[1].url), ("nginx", c.lb_url)]:
        line = next((l for l in st.stdout.splitlines() if l.startswith(name)), "")
        assert "running" in line and url in line, st.stdout
    if store == "postgres":
        password = c.db.password()
        assert mode(c.db.password_file) == 0o600
        assert_password_hidden(c, password, [c.up_output, st.stdout, st.stderr])
        # Data that must outlive `down` and come back with the next `up`.
        kept = c.insert_original_docs(3)

    # Generated once, private: keys and the /batch token.
    assert mode(c.keys_file) == 0o600 and mode(c.dir / "token") == 0o600
    assert len(c.public_keys()) == 3 and len(c.token) >= 32

    # Every pod runs in cluster mode behind the load balancer, which answers for them, and logs
    # nothing but structured lines (no driver or server chatter on stderr).
    assert requests.get(c.lb_url + "/readyz", timeout=10).status_code == 200
    for pod in c.pods:
        assert pod.get("/readyz").status_code == 200
        log = pod.log_path.read_text()
        assert f"as pod {pod.name} (cluster mode, batches to {c.lb_url};" in log
        stray = [line for line in log.splitlines() if not LOG_LINE.match(line)]
        assert not stray, f"{pod.name}: unstructured log lines {stray[:3]}"

    # `up` again: already up, nothing started; with another size: refused.
    pids = [p.pid for p in c.pods]
    again = c.script("up", "2")
    assert "already up" in again.stdout, again.stdout
    assert [p.pid for p in c.pods] == pids
    other = c.script("up", "3", check=False)
    assert other.returncode != 0 and "already up with 2" in other.stderr, other.stderr

    # An unrelated process must survive `down`, even one whose pid lands in a pid file.
    decoy = subprocess.Popen(["sleep", "300"])
    try:
        nginx_pid = int(c.pid_file("nginx").read_text())
        db_pid = int(c.db.pid_files()[0].read_text().splitlines()[0])
        started = {pid: process_start(pid) for pid in pids + [nginx_pid, db_pid]}
        down = c.down()
        assert down.returncode == 0, down.stdout + down.stderr
        for pid, start in started.items():
            assert wait_pid_gone(pid, 5, start), f"pid {pid} still running after down"
        st = c.status()
        assert st.returncode == 3, st.stdout

        c.pods[0].pid_file.write_text(f"{decoy.pid}\n")
        c.pid_file("nginx").write_text(f"{decoy.pid}\n")
        assert c.down().returncode == 0
        time.sleep(0.2)
        assert decoy.poll() is None and pid_alive(decoy.pid), "down killed a process it did not start"
    finally:
        decoy.kill()
        decoy.wait()

    # And up again on the same state dir: same keys, same token, same data.
    keys, token = c.keys_file.read_text(), c.token
    c.up()
    assert c.keys_file.read_text() == keys and c.token == token
    if store == "postgres":
        assert c.db.password() == password
        assert set(kept) <= set(c.ids_in("records"))
        assert_password_hidden(c, password, [c.up_output])


@pytest.mark.stores("postgres")
def test_external_postgres_url(tmp_path, signer_bin, store):
    """CLUSTER_PG_URL: the pods use that server; the password in the URL (percent-encoded, as
    libpq reads it) goes into CLUSTER_DIR/pg-password and nowhere else; `down` leaves the
    server running, as `up` did not start it."""
    c = LocalCluster(tmp_path / "c0", pods=2, store="postgres")
    server_dir = Path(tempfile.mkdtemp(prefix="signer-external-pg."))
    password = "ext:p@ss/w%rd " + os.urandom(4).hex()

    def postgres(action: str) -> None:
        proc = subprocess.run(["bash", str(POSTGRES_SH), action, str(c.db.port), str(server_dir)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr

    postgres("start")
    try:
        initial = (server_dir / "password").read_text().strip()
        with psycopg.connect(host="127.0.0.1", port=c.db.port, user="signer", dbname="signer",
                             password=initial, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER USER signer PASSWORD {}").format(sql.Literal(password)))
        c.env["CLUSTER_PG_URL"] = (f"postgresql://signer:{quote(password, safe='')}"
                                   f"@127.0.0.1:{c.db.port}/signer")
        del c.env["CLUSTER_STORE"]  # implied by CLUSTER_PG_URL
        try:
            c.up()
            assert c.db.password_file == c.dir / "pg-password"
            assert c.db.password() == password and mode(c.db.password_file) == 0o600
            st = c.status()
            assert st.returncode == 0, st.stdout
            assert f"postgres   external" in st.stdout and c.store_url in st.stdout, st.stdout
            assert_password_hidden(c, password, [c.up_output, st.stdout, st.stderr])
            # The pods really use it: a small job, exactly once.
            expected = c.insert_original_docs(500)
            r = c.pods[0].sign(100)
            assert r.status_code == 200 and r.json()["state"] == "succeeded", r.text
            c.export_and_verify(expected)
            server_pid = int((server_dir / "data" / "postmaster.pid").read_text().split()[0])
        finally:
            down = c.down()
        assert down.returncode == 0, down.stdout + down.stderr
        assert pid_alive(server_pid), "down stopped a PostgreSQL it did not start"
        assert c.status().returncode == 3
    finally:
        postgres("stop")
        shutil.rmtree(server_dir, ignore_errors=True)


@pytest.mark.stores("ferretdb")
def test_batch_requires_the_internal_token(cluster, store):
    """BS_INTERNAL_TOKEN is set on every pod: /batch without it (or with a wrong one) is 401 with
    a JSON error, directly and through the load balancer; with it, the batch runs."""
    key = cluster.public_keys()[0]
    path = f"/batch/0/1/{key}"
    for base in [cluster.pods[1].url, cluster.lb_url]:
        for headers in ({}, {"X-Internal-Token": "wrong"}, {"X-Internal-Token": ""}):
            r = requests.get(base + path, headers=headers, timeout=30)
            assert r.status_code == 401, f"{base} {headers}: {r.status_code} {r.text}"
            assert r.headers["Content-Type"].startswith("application/json")
            assert "token" in r.json()["error"].lower(), r.text
        r = requests.get(base + path, headers={"X-Internal-Token": cluster.token}, timeout=30)
        assert r.status_code == 200, f"{base}: {r.status_code} {r.text}"
        body = r.json()
        assert (body["batch"], body["batches"], body["key"]) == (0, 1, key), body
    # The token is a secret: not in any log.
    for path in cluster.logs():
        assert cluster.token not in path.read_text(errors="replace"), f"token in {path}"
