"""Key sets on a running server: a config mixing keys.csv and go-ethereum keystore keys, reloads
on SIGHUP and on file changes, a job that keeps the set it started with, and a failed reload
that keeps the old set. Every job is checked by `signer verify`, independently of the server."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from helpers import (assert_exactly_once, batch_of_shard, ceil_div, metric_values,
                     parse_prometheus, random_records, shard_of_hex_id, wait_until)
from instance import make_keyring, write_ndjson

PASSWORD = "Keyst0re-Passw0rd-e2e"


def write_keystores(cli, out: Path, count: int) -> list[Path]:
    """`count` keystore files written by `signer keygen --format keystore` (light scrypt)."""
    pw = out.parent / f"{out.name}.password"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    cli.run("keygen", "--count", str(count), "--out", str(out), "--format", "keystore",
            "--scrypt-n", "4096", "--password-file", str(pw))
    files = sorted(out.glob("UTC--*"))
    assert len(files) == count, files
    return files


def write_config(path: Path, csv: Path, keystores: list[Path], password_file: Path) -> Path:
    lines = ["keys:", "  - source: csv", f"    file: {csv}"]
    for ks in keystores:
        lines += ["  - source: keystore", f"    file: {ks}", f"    password_file: {password_file}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def keys_of(server) -> dict:
    r = server.get("/keys")
    assert r.status_code == 200, r.text
    return r.json()


def signed_keys_by_job(cli, job_id: str) -> set[str]:
    return {r["key"] for r in cli.export_and_verify() if r.get("job_id") == job_id}


def test_a_mixed_set_of_csv_and_keystore_keys_signs_round_robin(signer_factory, cli, keyring,
                                                               tmp_path):
    keystores = write_keystores(cli, tmp_path / "ks", 2)
    config = write_config(tmp_path / "keys.yaml", keyring.path, keystores,
                          tmp_path / "ks.password")
    server = signer_factory.start("--key-config", str(config))

    listed = keys_of(server)
    assert listed["set_version"] == 1
    sources = [k["source"] for k in listed["keys"]]
    assert sources == ["csv"] * len(keyring) + ["keystore", "keystore"], listed
    assert [k["key"] for k in listed["keys"][:len(keyring)]] == keyring.public_keys
    all_keys = [k["key"] for k in listed["keys"]]
    assert [k["origin"] for k in listed["keys"][len(keyring):]] == [str(p) for p in keystores]

    records = random_records(3000)
    assert server.ingest(records).status_code == 200
    size = 300
    job = server.sign_ok(size)
    batches = ceil_div(len(records), size)
    assert job["batches_done"] == batches and job["keys"] == len(all_keys), job

    exported = cli.export_and_verify()
    assert_exactly_once(exported, [r["id"] for r in records])
    # Batch b signs with key b mod K, whatever the key's source.
    for r in exported:
        batch = batch_of_shard(shard_of_hex_id(r["id"]), batches)
        assert r["key"] == all_keys[batch % len(all_keys)], r["id"]
    assert {r["key"] for r in exported} == set(all_keys)


def test_a_reload_mid_job_keeps_the_jobs_keys_and_the_next_job_takes_the_new_ones(
        signer_factory, cli, keyring, signer_bin, tmp_path):
    server = signer_factory.start("--threads", "1", env={"BS_KEY_WATCH_INTERVAL_MS": "0"})
    old_keys = set(keyring.public_keys)
    first = random_records(60_000)
    cli.load_file(write_ndjson(tmp_path / "first.ndjson", first))

    r = server.sign(200, wait=False)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    # Rotate while the job runs: new keys.csv, then SIGHUP.
    rotated = make_keyring(signer_bin, tmp_path / "rotated", 2)
    keyring.path.write_text(rotated.path.read_text())
    server.send_signal(signal.SIGHUP)
    wait_until(lambda: keys_of(server)["set_version"] == 2, timeout=10, what="the reload")
    assert server.stats()["job"]["state"] == "running", "the job ended before the reload"
    assert [k["key"] for k in keys_of(server)["keys"]] == rotated.public_keys

    done = server.wait_job_done()
    assert done["id"] == job_id and done["state"] == "succeeded", done
    assert signed_keys_by_job(cli, job_id) == old_keys  # the whole job, old set only

    second = random_records(2000)
    assert server.ingest(second).status_code == 200
    job2 = server.sign_ok(500)
    assert signed_keys_by_job(cli, job2["id"]) == set(rotated.public_keys)


def test_a_failed_reload_keeps_the_old_set_and_says_why(signer_factory, cli, keyring, tmp_path):
    server = signer_factory.start(env={"BS_KEY_WATCH_INTERVAL_MS": "0"})
    good = keyring.path.read_text()
    # A key file cut short (a half-written Secret): the public half no longer parses.
    keyring.path.write_text(good[:70] + "\n")
    server.send_signal(signal.SIGHUP)

    def failed_reloads():
        return server.get("/readyz").json()["key_set"]["failed_reloads"]
    wait_until(lambda: failed_reloads() == 1, timeout=10, what="the failed reload")
    ready = server.get("/readyz")
    assert ready.status_code == 200, ready.text  # still serving with the old keys
    state = ready.json()["key_set"]
    assert state["version"] == 1 and state["keys"] == len(keyring), state
    assert "keys.csv" in state["last_reload_error"], state
    for private in keyring.private_keys:
        assert private[2:] not in ready.text and private[2:] not in server.get("/keys").text
    failed = dict((labels["outcome"], v) for labels, v in
                  metric_values(parse_prometheus(server.metrics_text().text),
                                                "signer_key_reloads_total"))
    assert failed.get("failed") == 1, failed
    assert [k["key"] for k in keys_of(server)["keys"]] == keyring.public_keys

    records = random_records(500)
    assert server.ingest(records).status_code == 200
    job = server.sign_ok(100)
    assert signed_keys_by_job(cli, job["id"]) <= set(keyring.public_keys)

    # Mended, the next reload takes.
    keyring.path.write_text(good)
    server.send_signal(signal.SIGHUP)
    wait_until(lambda: keys_of(server)["set_version"] == 2, timeout=10, what="the good reload")
    assert server.get("/readyz").json()["key_set"]["last_reload_error"] == ""


def test_a_changed_key_file_is_reloaded_without_a_signal(signer_factory, keyring, signer_bin,
                                                         tmp_path):
    server = signer_factory.start(env={"BS_KEY_WATCH_INTERVAL_MS": "100"})
    rotated = make_keyring(signer_bin, tmp_path / "rotated", 1)
    # As the kubelet updates a Secret volume: a new file renamed over the old one.
    staged = keyring.path.with_suffix(".new")
    staged.write_text(rotated.path.read_text())
    staged.chmod(0o600)
    staged.replace(keyring.path)
    wait_until(lambda: keys_of(server)["set_version"] == 2, timeout=10, what="the watcher")
    assert [k["key"] for k in keys_of(server)["keys"]] == rotated.public_keys


def test_keystore_passwords_never_reach_logs_or_responses(signer_factory, cli, keyring,
                                                          tmp_path):
    keystores = write_keystores(cli, tmp_path / "ks", 1)
    config = write_config(tmp_path / "keys.yaml", keyring.path, keystores,
                          tmp_path / "ks.password")
    server = signer_factory.start("--key-config", str(config), "--log-level", "debug")
    bodies = [server.get(p).text for p in ("/keys", "/readyz", "/metrics", "/")]
    # A failed reload (wrong password now) must not print it either.
    (tmp_path / "ks.password").write_text("Wr0ng-" + PASSWORD + "\n")
    server.send_signal(signal.SIGHUP)
    wait_until(lambda: server.get("/readyz").json()["key_set"]["failed_reloads"] == 1,
               timeout=20, what="the failed reload")
    bodies.append(server.get("/readyz").text)
    time.sleep(0.2)
    logs = "".join(p.read_text(errors="replace") for p in signer_factory.logs())
    for text in bodies + [logs]:
        assert PASSWORD not in text
    assert "ks.password" in server.get("/readyz").json()["key_set"]["last_reload_error"] or \
        "UTC--" in server.get("/readyz").json()["key_set"]["last_reload_error"]


REPO = Path(__file__).resolve().parents[2]
PIN = "73914-pin-e2e"


def softhsm_token(tmp_path: Path, token: str, labels: list[str]) -> tuple[dict, Path]:
    """A private SoftHSM2 token with one secp256k1 key per label (scripts/softhsm.sh, which
    runs pkcs11-tool). Returns the environment the signer needs (SOFTHSM2_CONF) and the PIN
    file."""
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    out = subprocess.run(["bash", str(REPO / "scripts" / "softhsm.sh"), "init",
                          str(tmp_path / "hsm"), token, str(pin_file), *labels],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    conf = next(line.split("=", 1)[1] for line in out.stdout.splitlines()
                if line.startswith("SOFTHSM2_CONF="))
    return {"SOFTHSM2_CONF": conf}, pin_file


def test_a_set_of_csv_keystore_and_pkcs11_keys_signs_and_every_record_verifies(
        signer_factory, cli, keyring, tmp_path):
    """The issue's mixed set: keys.csv, a keystore and two keys on an HSM (SoftHSM2), in one
    job; `signer verify` checks every signature against the key the record names."""
    keystores = write_keystores(cli, tmp_path / "ks", 1)
    env, pin_file = softhsm_token(tmp_path, "signer-e2e", ["hsm-a", "hsm-b"])
    module = subprocess.run(["bash", str(REPO / "scripts" / "softhsm.sh"), "module"],
                            capture_output=True, text=True, check=True).stdout.strip()
    config = write_config(tmp_path / "keys.yaml", keyring.path, keystores,
                          tmp_path / "ks.password")
    with open(config, "a") as f:
        for label in ("hsm-a", "hsm-b"):
            f.write(f"  - source: pkcs11\n    module: {module}\n    token: signer-e2e\n"
                    f"    key_label: {label}\n    pin_file: {pin_file}\n")
    server = signer_factory.start("--key-config", str(config), "--log-level", "debug", env=env)

    listed = keys_of(server)["keys"]
    assert [k["source"] for k in listed] == \
        ["csv"] * len(keyring) + ["keystore", "pkcs11", "pkcs11"], listed
    all_keys = [k["key"] for k in listed]

    records = random_records(2400)
    assert server.ingest(records).status_code == 200
    size = 200
    job = server.sign_ok(size)
    batches = ceil_div(len(records), size)
    assert job["batches_done"] == batches and job["batches_failed"] == 0, job
    exported = cli.export_and_verify()
    assert_exactly_once(exported, [r["id"] for r in records])
    for r in exported:
        batch = batch_of_shard(shard_of_hex_id(r["id"]), batches)
        assert r["key"] == all_keys[batch % len(all_keys)], r["id"]
    assert {r["key"] for r in exported} == set(all_keys)  # the HSM keys signed too

    # The PIN is nowhere the service shows.
    seen = [server.get(p).text for p in ("/keys", "/readyz", "/metrics")]
    seen.append("".join(p.read_text(errors="replace") for p in signer_factory.logs()))
    for text in seen:
        assert PIN not in text
