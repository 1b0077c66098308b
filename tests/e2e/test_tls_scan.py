"""The HTTPS port scanned from outside by sslyze (issue 22). Measured on main before: sslyze 6.3.1
with --mozilla_config=intermediate reported "not compliant": four CBC suites
(TLS_ECDHE_ECDSA_WITH_AES_{128,256}_CBC_SHA{,256,384}) and the curves X448 and secp521r1 were
accepted. Now the default profile passes Mozilla's intermediate configuration and
`--tls-profile modern` (TLS 1.3 only) passes the modern one, with the test CA as trust store."""
from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from instance import SignerFactory, make_keyring
from pki import Pki

SCAN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def env(signer_bin, tmp_path_factory):
    work = tmp_path_factory.mktemp("tls_scan")
    keys = make_keyring(signer_bin, work / "keys")
    ca = Pki(work / "ca")
    factory = SignerFactory(signer_bin, work, keys.path, f"sqlite:{work / 'signer.db'}")
    yield SimpleNamespace(work=work, ca=ca, server=ca.server(), factory=factory)
    problems = factory.stop_all()
    assert not problems, "\n".join(problems)


def scan(env, port: int, profile: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sslyze", f"--mozilla_config={profile}",
                           f"--certinfo_ca_file={env.ca.ca.cert}", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=SCAN_TIMEOUT_S)


@pytest.mark.parametrize("profile", ["intermediate", "modern"])
def test_the_https_port_passes_mozillas_profile(env, profile):
    args = ["--tls-cert", str(env.server.cert), "--tls-key", str(env.server.key)]
    if profile == "modern":
        args += ["--tls-profile", "modern"]
    inst = env.factory.create(*args)
    inst.scheme = "https"
    inst._session.trust_env = False
    inst._session.verify = str(env.ca.ca.cert)
    inst.start()
    result = scan(env, inst.port, profile)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-4000:]
    assert f'Checking results against Mozilla\'s "{profile}" configuration' in report, \
        report[-4000:]
    assert f"127.0.0.1:{inst.port}: OK - Compliant." in report, report[-4000:]
    assert inst.get("/healthz").status_code == 200
