"""Pytest pieces both process suites share (tests/e2e and tests/cluster import them into their
conftest.py): the per-phase report on each test item, and the binary under test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from instance import signer_binary


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the item (item.rep_call, …) so fixtures can see at teardown
    whether the test failed, and print logs only then."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


@pytest.fixture(scope="session")
def signer_bin() -> Path:
    path = signer_binary()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"signer binary not found or not executable at {path}: build it with "
                    f"`scripts/build.sh release`, or point SIGNER_BIN at it", pytrace=False)
    return path
