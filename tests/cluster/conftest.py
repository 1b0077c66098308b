"""Fixtures for the cluster suite: a factory of local clusters (scripts/cluster.sh up/down) with
private state dirs and ports, torn down after every test."""
from __future__ import annotations


import pytest

from fixtures import pytest_runtest_makereport, signer_bin  # noqa: F401 (registered here)
from local_cluster import LocalCluster, pid_alive


@pytest.fixture
def cluster_factory(request, tmp_path, signer_bin):
    """make(pods=3, env=None) -> a LocalCluster that is up. Every cluster is brought down at
    teardown, and the test fails if `down` left one of its processes running."""
    clusters: list[tuple[LocalCluster, list[int]]] = []

    def make(pods: int = 3, env: dict | None = None) -> LocalCluster:
        c = LocalCluster(tmp_path / f"c{len(clusters)}", pods=pods, env=env)
        entry = (c, [])
        clusters.append(entry)
        c.up()
        entry[1].extend(read_pids(c))
        return c

    yield make

    problems = []
    call = getattr(request.node, "rep_call", None)
    for c, pids in clusters:
        if call is not None and call.failed:
            c.dump_logs()
        pids = sorted(set(pids) | set(read_pids(c)))
        proc = c.down()
        if proc.returncode != 0:
            problems.append(f"cluster.sh down -> {proc.returncode}: {proc.stdout}{proc.stderr}")
        left = [p for p in pids if pid_alive(p)]
        if left:
            problems.append(f"processes still running after down: {left}")
    assert not problems, "\n".join(problems)


def read_pids(c: LocalCluster) -> list[int]:
    files = [pod.pid_file for pod in c.pods] + [c.pid_file("nginx"),
                                                c.dir / "ferretdb" / "ferretdb.pid"]
    return [int(f.read_text().strip()) for f in files if f.exists()]


@pytest.fixture
def cluster(cluster_factory) -> LocalCluster:
    """3 pods + nginx + FerretDB, as `scripts/cluster.sh up 3` starts them."""
    return cluster_factory(3)
