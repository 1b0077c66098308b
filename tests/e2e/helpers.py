"""Data and assertions shared by the scenarios: records to ingest, the shard/batch/key plan of
DESIGN.md §3, and the checks that every record was signed exactly once."""
from __future__ import annotations

import re
import secrets
import time
import uuid
from collections import Counter
from typing import Callable, Iterable

SIGN_RE = re.compile(r"^0x[0-9a-f]{128}0[01]$")  # R||S||V with V in {0,1}
SALT_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
PUBKEY_RE = re.compile(r"^0x04[0-9a-f]{128}$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
HEX8_RE = re.compile(r"^[0-9a-fA-F]{8}")


def random_records(n: int, prefix: str = "") -> list[dict]:
    """n records like the original generator's (32-hex UUID ids), with a msg that differs from
    the id so that a mixed-up msg shows."""
    out = []
    for _ in range(n):
        rid = prefix + uuid.uuid4().hex
        out.append({"id": rid, "msg": "m-" + secrets.token_hex(12)})
    return out


def shard_of_hex_id(record_id: str) -> int:
    """DESIGN.md §3 for ids that start with 8 hex digits (the Keccak fallback is not needed by the
    tests that use this)."""
    assert HEX8_RE.match(record_id), record_id
    return int(record_id[:8], 16)


def batch_of_shard(shard: int, batches: int) -> int:
    """The b with floor(b*2^32/B) <= shard < floor((b+1)*2^32/B)."""
    b = (shard * batches) >> 32
    while ((b + 1) << 32) // batches <= shard:
        b += 1
    while (b << 32) // batches > shard:
        b -= 1
    return b


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def assert_signed_shape(record: dict, public_keys: Iterable[str]) -> None:
    assert set(record) >= {"id", "msg", "salt", "sign", "key"}, record
    assert SIGN_RE.match(record["sign"]), f"bad sign for {record['id']}: {record['sign']}"
    assert SALT_RE.match(record["salt"]), f"bad salt for {record['id']}: {record['salt']}"
    assert record["key"] in set(public_keys), f"unknown key for {record['id']}: {record['key']}"


def assert_exactly_once(exported: list[dict], expected_ids: Iterable[str]) -> None:
    """Every expected id is exported once, and nothing else is."""
    counts = Counter(r["id"] for r in exported)
    twice = [i for i, c in counts.items() if c > 1]
    assert not twice, f"{len(twice)} ids exported more than once, e.g. {twice[:5]}"
    expected = set(expected_ids)
    got = set(counts)
    missing = expected - got
    extra = got - expected
    assert not missing, f"{len(missing)} ingested ids never signed, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} signed ids never ingested, e.g. {sorted(extra)[:5]}"


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.01,
               what: str = "condition"):
    """Polls predicate until it returns something truthy; returns that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_job_end(stats: Callable[[], dict], timeout: float, interval: float = 0.05,
                     who: str = "server") -> dict:
    """Polls stats() (a /stats body) until its job has left the running state; returns the job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = stats()["job"]
        if job is not None and job["state"] != "running":
            return job
        time.sleep(interval)
    raise AssertionError(f"{who}: job still running after {timeout}s")


def parse_prometheus(text: str) -> list[tuple[str, dict, float]]:
    """(name, labels, value) for each sample line of Prometheus text format."""
    samples = []
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = dict(label_re.findall(m.group(3) or ""))
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


def metric_values(samples, name: str, **labels) -> list[tuple[dict, float]]:
    return [(l, v) for n, l, v in samples
            if n == name and all(l.get(k) == str(val) for k, val in labels.items())]
