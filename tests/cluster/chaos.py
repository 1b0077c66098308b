"""Chaos for a local cluster (issue 20), shared by the short test (test_cluster_chaos.py) and the
soak (bench/chaos_soak.sh): while jobs sign the store's records, a random pod is killed (kill -9)
every few seconds and started again a moment later with the same command and environment, as a
Kubernetes restart would; the database is restarted once; and toxics come and go on the pods'
links to the store and to their Service. Whenever no job runs, a live pod starts one. When every
record is signed the chaos stops, and the caller checks the invariants from outside.

Each pod the chaos restarts is its own child process, recorded in the pod's pid file, so
`cluster.sh down` stops it like the others.
"""
from __future__ import annotations

import os
import random
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import requests

from local_cluster import LocalCluster, Pod, pid_alive

# Toxics that come and go: (name, kind, attributes, seconds on).
TOXICS = [
    ("latency 250±100 ms", "latency", {"latency": 250, "jitter": 100}, 2.0),
    ("bandwidth 64 KB/s", "bandwidth", {"rate": 64}, 2.0),
    ("slicer", "slicer", {"average_size": 64, "size_variation": 32, "delay": 100}, 2.0),
    ("reset_peer", "reset_peer", {"timeout": 0}, 0.5),
]


@dataclass
class ChaosLog:
    pods_killed: int = 0
    coordinators_killed: int = 0
    database_restarts: int = 0
    toxics: int = 0
    jobs: list = field(default_factory=list)  # (pod, job id, state, records_signed, error)
    events: list = field(default_factory=list)  # (seconds, what)

    def note(self, t0: float, what: str) -> None:
        self.events.append((round(time.monotonic() - t0, 1), what))
        print(f"{time.monotonic() - t0:7.1f}s {what}", flush=True)


class PodRestarter:
    """Kills a pod with kill -9 and starts it again later, with the command line and environment
    it had (read from /proc before the kill)."""

    def __init__(self, cluster: LocalCluster):
        self.cluster = cluster
        self.down: dict[int, tuple[float, list[str], dict[str, str]]] = {}  # index -> restart

    def kill(self, pod: Pod, restart_after: float) -> None:
        pid = pod.pid
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(e.decode().split("=", 1) for e in f.read().split(b"\0") if b"=" in e)
        pod.kill9()
        self.down[pod.index] = (time.monotonic() + restart_after, argv, env)

    def restart_due(self) -> list[int]:
        started = []
        for index, (when, argv, env) in list(self.down.items()):
            if time.monotonic() < when:
                continue
            pod = self.cluster.pods[index]
            with open(pod.log_path, "ab") as log:
                proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            pod.pid_file.write_text(f"{proc.pid}\n")
            del self.down[index]
            started.append(index)
        return started

    def restart_all(self, timeout: float = 60) -> None:
        for index in list(self.down):
            self.down[index] = (0, *self.down[index][1:])
        self.restart_due()
        for pod in self.cluster.pods:
            deadline = time.monotonic() + timeout
            while not ready(pod):
                assert time.monotonic() < deadline, f"{pod.name} not ready again"
                time.sleep(0.2)


def ready(pod: Pod) -> bool:
    try:
        return pid_alive(pod.pid) and pod.get("/readyz", timeout=2).status_code == 200
    except (requests.RequestException, OSError, ValueError):
        return False


def running_job(pod: Pod):
    """The pod's job id while it runs one, else None."""
    try:
        r = pod.get("/metrics", timeout=3)
        if r.status_code != 200 or "signer_job_running 1" not in r.text:
            return None
        s = pod.get("/stats", timeout=3)
        return s.json()["job"]["id"] if s.status_code == 200 else "?"
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


def ended_job(pod: Pod):
    try:
        s = pod.get("/stats", timeout=3)
        job = s.json()["job"] if s.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None
    return job if job and job["state"] != "running" else None


def unsigned(cluster: LocalCluster):
    try:
        return cluster.db.count("records")
    except Exception:  # the database is restarting
        return None


def run_chaos(cluster: LocalCluster, batch_size: int, kill_every: float, restart_after: float,
              restart_db_at: float, toxic_every: float, seed: int, deadline_s: float,
              min_pods_killed: int = 0, min_toxics: int = 0,
              load_more: Optional[Callable[[], int]] = None) -> ChaosLog:
    """Signs everything the store holds under chaos; returns what happened. The database is
    restarted once, `restart_db_at` seconds in (0: never). A fast machine may sign everything
    before the chaos has done what was asked of it (`min_pods_killed` kills, `min_toxics` toxics,
    the database restart): then `load_more` loads another wave of records (returning how many),
    and the chaos goes on, so what the run proves does not depend on the machine's speed."""
    rng = random.Random(seed)
    log = ChaosLog()
    restarter = PodRestarter(cluster)
    t0 = time.monotonic()
    next_kill = t0 + kill_every
    next_toxic = t0 + toxic_every / 2
    db_restarted = restart_db_at <= 0
    toxic_on = None  # (proxies, name, off at)
    coordinator = None  # (pod, job id)
    while True:
        now = time.monotonic()
        assert now - t0 < deadline_s, f"chaos: not done after {deadline_s}s; {log.events[-5:]}"
        for index in restarter.restart_due():
            log.note(t0, f"pod-{index} started again")
        if toxic_on and now >= toxic_on[2]:
            for p in toxic_on[0]:
                cluster.toxiproxy.remove(p, "chaos")
            log.note(t0, f"{toxic_on[1]} removed")
            toxic_on = None
        # The job: follow it, and start one when none runs.
        if coordinator is not None:
            pod, job_id = coordinator
            if pod.index in restarter.down:
                log.note(t0, f"job {job_id} lost with its coordinator {pod.name}")
                log.jobs.append((pod.name, job_id, "lost with its pod", None, ""))
                coordinator = None
            else:
                job = ended_job(pod)
                if job is not None and job["id"] == job_id:
                    log.jobs.append((pod.name, job_id, job["state"], job["records_signed"],
                                     job["error"]))
                    log.note(t0, f"job {job_id} {job['state']}: {job['records_signed']} signed"
                             f"{', ' + job['error'] if job['error'] else ''}")
                    coordinator = None
        if coordinator is None:
            left = unsigned(cluster)
            if left == 0 and not restarter.down and toxic_on is None:
                done_enough = (log.pods_killed >= min_pods_killed and log.toxics >= min_toxics
                               and db_restarted)
                if done_enough or load_more is None:
                    log.note(t0, "every record signed")
                    return log
                log.note(t0, f"every record signed before the chaos was done: {load_more()} more "
                         "records loaded")
                continue
            if left:
                live = [p for p in cluster.pods if p.index not in restarter.down and ready(p)]
                if live:
                    pod = rng.choice(live)
                    try:
                        r = pod.sign(batch_size, wait=False, timeout=30)
                    except requests.RequestException:
                        r = None
                    if r is not None and r.status_code == 202:
                        coordinator = (pod, r.json()["id"])
                        log.note(t0, f"job {r.json()['id']} started on {pod.name}: {left} left")
        # The faults.
        if now >= next_kill:
            next_kill = now + kill_every
            live = [p for p in cluster.pods if p.index not in restarter.down]
            if len(live) > 1:
                victim = rng.choice(live)
                if coordinator is not None and coordinator[0] is victim:
                    log.coordinators_killed += 1
                restarter.kill(victim, restart_after)
                log.pods_killed += 1
                log.note(t0, f"killed {victim.name}")
        if not db_restarted and now - t0 >= restart_db_at:
            db_restarted = True
            cluster.db.restart()
            log.database_restarts += 1
            log.note(t0, "database restarted")
        if toxic_on is None and now >= next_toxic and cluster.toxiproxy is not None:
            next_toxic = now + toxic_every
            name, kind, attributes, seconds = rng.choice(TOXICS)
            proxies = rng.choice([cluster.toxiproxy.store_proxies(), ["service"]])
            for p in proxies:
                cluster.toxiproxy.add(p, kind, name="chaos", **attributes)
            where = "store links" if proxies != ["service"] else "service link"
            toxic_on = (proxies, f"{name} on the {where}", now + seconds)
            log.toxics += 1
            log.note(t0, f"{name} on the {where}")
        time.sleep(0.05)


def environment_of_pods() -> dict[str, str]:
    """What the pods of a chaos run get: the kubelet-like restarts need nginx to take a dead pod
    out for a while (endpoint removal), and a store timeout that outlasts the restart."""
    return {"CLUSTER_LB_MAX_FAILS": "1", "CLUSTER_LB_FAIL_TIMEOUT": "3",
            "BS_STORE_TIMEOUT_MS": "10000"}


def stop_cleanly(cluster: LocalCluster) -> None:
    """No toxics left, every proxy enabled."""
    if cluster.toxiproxy is not None:
        cluster.toxiproxy.reset()
    os.sync()
