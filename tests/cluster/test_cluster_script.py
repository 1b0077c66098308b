"""scripts/cluster.sh itself: up/status/down, idempotence, what it generates, that `down` stops
only what `up` started, and the internal token on /batch."""
from __future__ import annotations

import os
import stat
import subprocess
import time

import requests

from local_cluster import pid_alive, wait_pid_gone


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_up_status_down(cluster_factory, tmp_path):
    c = cluster_factory(2)
    assert f"LB_URL={c.lb_url}" in c.up_output and f"MONGO_URL={c.mongo_url}" in c.up_output

    st = c.status()
    assert st.returncode == 0, st.stdout + st.stderr
    for name, url in [("ferretdb", c.mongo_url), ("pod-0", c.pods[0].url),
                      ("pod-1", c.pods[1].url), ("nginx", c.lb_url)]:
        line = next((l for l in st.stdout.splitlines() if l.startswith(name)), "")
        assert "running" in line and url in line, st.stdout

    # Generated once, private: keys and the /batch token.
    assert mode(c.keys_file) == 0o600 and mode(c.dir / "token") == 0o600
    assert len(c.public_keys()) == 3 and len(c.token) >= 32

    # Every pod runs in cluster mode behind the load balancer, which answers for them.
    assert requests.get(c.lb_url + "/readyz", timeout=10).status_code == 200
    for pod in c.pods:
        assert pod.get("/readyz").status_code == 200
        assert f"as pod {pod.name} (cluster mode, batches to {c.lb_url};" in \
            pod.log_path.read_text()

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
        ferret_pid = int((c.dir / "ferretdb" / "ferretdb.pid").read_text())
        down = c.down()
        assert down.returncode == 0, down.stdout + down.stderr
        for pid in pids + [nginx_pid, ferret_pid]:
            assert wait_pid_gone(pid, 5), f"pid {pid} still running after down"
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

    # And up again on the same state dir: same keys, same token.
    keys, token = c.keys_file.read_text(), c.token
    c.up()
    assert c.keys_file.read_text() == keys and c.token == token


def test_batch_requires_the_internal_token(cluster):
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
