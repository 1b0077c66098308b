"""Fixtures for the end-to-end suite: the binary, a key ring, a SQLite store in tmp_path, the CLI,
and a factory of `signer serve` processes that are always stopped at teardown."""
from __future__ import annotations


import pytest

from fixtures import pytest_runtest_makereport, signer_bin  # noqa: F401 (registered here)
from instance import KeyRing, SignerFactory, SignerCli, make_keyring, tail


@pytest.fixture
def keyring(signer_bin, tmp_path) -> KeyRing:
    """KEY_COUNT fresh keys in tmp_path/keys/keys.csv."""
    return make_keyring(signer_bin, tmp_path / "keys")


@pytest.fixture
def store_url(tmp_path) -> str:
    return f"sqlite:{tmp_path / 'signer.db'}"


@pytest.fixture
def cli(signer_bin, store_url, keyring, tmp_path) -> SignerCli:
    return SignerCli(signer_bin, store_url, keyring.path, tmp_path)


@pytest.fixture
def signer_factory(request, signer_bin, tmp_path, keyring, store_url):
    """Creates `signer serve` processes on the test's store; stops them all afterwards and
    fails the test if one that was still running did not exit 0 on SIGTERM."""
    factory = SignerFactory(signer_bin, tmp_path, keyring.path, store_url)
    yield factory
    problems = factory.stop_all()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for log in factory.logs():
            print(f"----- {log} (tail) -----\n{tail(log, 60)}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def signer(signer_factory):
    """One running server on the test's store."""
    return signer_factory.start()
