"""Fixtures for the cluster suite: a factory of local clusters (scripts/cluster.sh up/down) with
private state dirs and ports, torn down after every test.

Every test that starts a cluster says which stores it runs on, with
`@pytest.mark.stores("postgres", "ferretdb")`; it then runs once per store, as test[postgres] and
test[ferretdb] (`-k postgres` selects one). The `store` fixture is that parameter."""
from __future__ import annotations


import pytest

from fixtures import pytest_runtest_makereport, signer_bin  # noqa: F401 (registered here)
from local_cluster import STORES, LocalCluster, process_start


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"stores(*names): the stores a cluster test runs on, any of {STORES}")


def pytest_generate_tests(metafunc):
    if "store" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("stores")
    if marker is None or not marker.args:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: starts a cluster but does not "
                                f"say on which stores; add @pytest.mark.stores(...)")
    unknown = [s for s in marker.args if s not in STORES]
    if unknown:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: unknown stores {unknown}")
    metafunc.parametrize("store", marker.args)


@pytest.fixture
def cluster_factory(request, tmp_path, signer_bin, store):
    """make(pods=3, env=None, toxiproxy=False, database=None) -> a LocalCluster on `store` that
    is up (with Toxiproxy between its pods and the rest when asked; on the store `database`
    makes, e.g. FailoverPostgres.started, when given). Every cluster is brought down at
    teardown, and the test fails if `down` left one of its processes running."""
    clusters: list[tuple[LocalCluster, set[tuple[int, int]]]] = []

    def make(pods: int = 3, env: dict | None = None, toxiproxy: bool = False,
             database=None) -> LocalCluster:
        c = LocalCluster(tmp_path / f"c{len(clusters)}", pods=pods, env=env, store=store,
                         toxiproxy=toxiproxy, database=database)
        entry = (c, set())
        clusters.append(entry)
        c.up()
        entry[1].update(read_processes(c))
        return c

    yield make

    problems = []
    call = getattr(request.node, "rep_call", None)
    for c, processes in clusters:
        if call is not None and call.failed:
            c.dump_logs()
        processes = processes | read_processes(c)
        proc = c.down()
        if proc.returncode != 0:
            problems.append(f"cluster.sh down -> {proc.returncode}: {proc.stdout}{proc.stderr}")
        left = sorted(pid for pid, start in processes if process_start(pid) == start)
        if left:
            problems.append(f"processes still running after down: {left}: "
                            f"{[command_line(pid) for pid in left]}")
        c.db.cleanup()
    assert not problems, "\n".join(problems)


def command_line(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


def read_processes(c: LocalCluster) -> set[tuple[int, int]]:
    """(pid, start time) of each process the cluster's pid files name that runs now."""
    files = [pod.pid_file for pod in c.pods] + [c.pid_file("nginx"), c.pid_file("toxiproxy"),
                                                 *c.db.pid_files()]
    processes = set()
    for f in files:
        try:
            pid = int(f.read_text().splitlines()[0].strip())
        except (OSError, IndexError, ValueError):
            continue
        start = process_start(pid)
        if start is not None:
            processes.add((pid, start))
    return processes


@pytest.fixture
def cluster(cluster_factory) -> LocalCluster:
    """3 pods + nginx + the store, as `scripts/cluster.sh up 3` starts them."""
    return cluster_factory(3)
