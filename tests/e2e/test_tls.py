"""TLS and mTLS (issue 10): the API over HTTPS; with a client CA, no certificate means no
connection; a client certificate's CN is an identity in the clients file; certificates reload on
SIGHUP without dropping the listener (and a bad reload keeps the old one); and cluster mode over
mTLS, where the coordinator reaches three pods through nginx doing TCP passthrough and each /batch
is authenticated by the coordinator's certificate alone."""
from __future__ import annotations

import shutil
import signal
import socket
import ssl
import subprocess
import time
from types import SimpleNamespace

import pytest
import requests

from helpers import random_records
from instance import SignerCli, SignerFactory, free_port, make_keyring, tail
from pki import Pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    ca = Pki(root / "ca")
    return SimpleNamespace(ca=ca, server=ca.server(), ops=ca.issue("ops-client", usage="clientAuth"),
                           stranger=ca.issue("stranger", usage="clientAuth"),
                           rogue=Pki(root / "rogue", "rogue-ca").issue("ops-client",
                                                                       usage="clientAuth"))


@pytest.fixture
def work(signer_bin, tmp_path):
    keys = make_keyring(signer_bin, tmp_path / "keys")
    store = f"sqlite:{tmp_path / 'signer.db'}"
    cli = SignerCli(signer_bin, store, keys.path, tmp_path)
    factory = SignerFactory(signer_bin, tmp_path, keys.path, store)
    yield SimpleNamespace(keys=keys, store=store, cli=cli, factory=factory, dir=tmp_path)
    problems = factory.stop_all()
    assert not problems, "\n".join(problems)


def https_instance(work, pki, *args, token=None, client_cert=None):
    inst = work.factory.create("--tls-cert", str(pki.server.cert), "--tls-key",
                               str(pki.server.key), *args, token=token)
    inst.scheme = "https"
    # REQUESTS_CA_BUNDLE in the environment would override a session's verify.
    inst._session.trust_env = False
    inst._session.verify = str(pki.ca.ca.cert)
    if client_cert is not None:
        inst._session.cert = client_cert.pair
    return inst.start()


def peer_serial(port: int, ca) -> int:
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
    cert = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=cert,
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip().split("=")[1], 16)


def test_api_over_https(work, pki):
    inst = https_instance(work, pki)
    assert inst.get("/healthz").status_code == 200
    assert inst.get("/readyz").json()["tls"] is True
    work.cli.load_random(500)
    job = inst.sign_ok(100)
    assert job["records_signed"] == 500
    # Plain HTTP to the TLS port gets no answer it could take for the API's.
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{inst.port}/stats", timeout=5).json()
    # A client that does not trust the CA refuses the server.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(inst.url("/healthz"), timeout=5)


def test_mtls_needs_a_client_certificate_and_its_cn_is_an_identity(work, pki):
    clients = work.dir / "clients.json"
    work.cli.run("client", "add", "--clients", str(clients), "--name", "ops", "--roles", "read",
                 "--cert-name", "ops-client", "--no-token")
    inst = https_instance(work, pki, "--tls-client-ca", str(pki.ca.ca.cert), "--clients",
                          str(clients), client_cert=pki.ops)
    url = inst.url("/stats")
    ca = str(pki.ca.ca.cert)
    # Identified by its certificate alone: no token.
    assert requests.get(url, verify=ca, cert=pki.ops.pair, timeout=10).status_code == 200
    # No certificate: the handshake fails.
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        requests.get(inst.url("/healthz"), verify=ca, timeout=10)
    # A certificate from another CA with the same CN: the handshake fails.
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        requests.get(url, verify=ca, cert=pki.rogue.pair, timeout=10)
    # A valid certificate that names no client: connected, but not authenticated.
    r = requests.get(url, verify=ca, cert=pki.stranger.pair, timeout=10)
    assert r.status_code == 401, r.text
    assert requests.get(inst.url("/healthz"), verify=ca, cert=pki.stranger.pair,
                        timeout=10).status_code == 200
    # The chart's exec probes under mTLS: `signer healthcheck` presents the pod's certificate.
    probe = ["healthcheck", "--url", inst.url("/readyz"), "--peer-ca", ca]
    assert work.cli.run(*probe, "--peer-cert", str(pki.ops.cert), "--peer-key",
                        str(pki.ops.key), check=False).returncode == 0
    assert work.cli.run(*probe, check=False).returncode == 1
    # The ops client has only the read role.
    r = requests.get(inst.url("/sign/10"), verify=ca, cert=pki.ops.pair, timeout=10)
    assert r.status_code == 403, r.text


def test_only_the_cn_or_a_dns_name_of_a_certificate_names_a_client(work, pki):
    """Found in review (issue 19): a certificate whose e-mail or URI SAN equalled a cert_names
    entry authenticated. Only the CN and DNS SANs name a client; a forwarded request's
    certificate (the proxy's) names nobody."""
    by_email = pki.ca.issue("mail-holder", "email:ops@example.test", usage="clientAuth")
    by_uri = pki.ca.issue("uri-holder", "URI:spiffe://example.test/ops", usage="clientAuth")
    by_dns = pki.ca.issue("dns-holder", "DNS:ops.example.test", usage="clientAuth")
    clients = work.dir / "clients.json"
    work.cli.run("client", "add", "--clients", str(clients), "--name", "ops", "--roles", "read",
                 "--cert-name", "ops@example.test,spiffe://example.test/ops,ops.example.test",
                 "--no-token")
    inst = https_instance(work, pki, "--tls-client-ca", str(pki.ca.ca.cert), "--clients",
                          str(clients), client_cert=by_dns)
    ca = str(pki.ca.ca.cert)

    def status(cert, headers=None):
        return requests.get(inst.url("/stats"), verify=ca, cert=cert.pair, headers=headers,
                            timeout=10).status_code

    assert status(by_dns) == 200
    assert status(by_email) == 401
    assert status(by_uri) == 401
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        assert status(by_dns, {header: "203.0.113.7"}) == 401, header


def test_a_proxys_certificate_names_nobody_and_may_not_name_a_client(work, pki):
    """An ingress in front presents its own certificate (docs/K8S.md): with
    --proxy-cert-name it authenticates nobody, so every request through the ingress needs its
    own token; a clients file that names that certificate is refused at start."""
    ingress = pki.ca.issue("signer-ingress", usage="clientAuth")
    clients = work.dir / "clients.json"
    token = work.cli.add_client(clients, "ops", "read")
    tls = ["--tls-client-ca", str(pki.ca.ca.cert), "--proxy-cert-name", "signer-ingress"]
    inst = https_instance(work, pki, *tls, "--clients", str(clients), client_cert=ingress)
    ca = str(pki.ca.ca.cert)
    r = requests.get(inst.url("/stats"), verify=ca, cert=ingress.pair, timeout=10)
    assert r.status_code == 401, r.text
    r = requests.get(inst.url("/stats"), verify=ca, cert=ingress.pair, timeout=10,
                     headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text

    named = work.dir / "named-clients.json"
    work.cli.run("client", "add", "--clients", str(named), "--name", "via-ingress", "--roles",
                 "read", "--cert-name", "signer-ingress", "--no-token")
    proc = subprocess.run([str(work.cli.binary), "serve", "--store", work.store, "--keys",
                           str(work.keys.path), "--port", str(free_port()), "--tls-cert",
                           str(pki.server.cert), "--tls-key", str(pki.server.key), *tls,
                           "--clients", str(named)], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "via-ingress" in proc.stderr and "signer-ingress" in proc.stderr, proc.stderr


def test_sighup_reloads_the_certificate_without_dropping_the_listener(work, pki):
    cert, key = work.dir / "tls.crt", work.dir / "tls.key"
    first = pki.ca.server(out="rotate-1")
    shutil.copy(first.cert, cert)
    shutil.copy(first.key, key)
    inst = work.factory.create("--tls-cert", str(cert), "--tls-key", str(key))
    inst.scheme = "https"
    inst._session.trust_env = False
    inst._session.verify = str(pki.ca.ca.cert)
    inst.start()
    before = peer_serial(inst.port, pki.ca.ca.cert)

    second = pki.ca.server(out="rotate-2")
    shutil.copy(second.cert, cert)
    shutil.copy(second.key, key)
    inst.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while peer_serial(inst.port, pki.ca.ca.cert) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    after = peer_serial(inst.port, pki.ca.ca.cert)
    assert after != before
    assert inst.running() and inst.get("/healthz").status_code == 200

    # A broken rotation keeps serving the last good certificate.
    cert.write_text("not a certificate\n")
    inst.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "TLS reload failed" not in tail(inst.log_path, 20) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "TLS reload failed" in tail(inst.log_path, 20)
    assert peer_serial(inst.port, pki.ca.ca.cert) == after
    metrics = inst.get("/metrics").text
    assert 'signer_tls_reloads_total{outcome="ok"} 1' in metrics
    assert 'signer_tls_reloads_total{outcome="error"} 1' in metrics


NGINX_STREAM = """
load_module {module};
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
stream {{
  upstream pods {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    proxy_pass pods;
    proxy_connect_timeout 3s;
  }}
}}
"""


@pytest.fixture
def nginx_tcp(tmp_path):
    """nginx as a TCP passthrough load balancer (the TLS session ends at the pods)."""
    module = "/usr/lib/nginx/modules/ngx_stream_module.so"
    procs = []

    def start(ports: list[int]) -> int:
        port = free_port()
        conf = tmp_path / "nginx-stream.conf"
        servers = "\n".join(f"    server 127.0.0.1:{p};" for p in ports)
        conf.write_text(NGINX_STREAM.format(module=module, dir=tmp_path, servers=servers,
                                            port=port))
        procs.append(subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path), "-g",
                                       "daemon off;"], stderr=subprocess.STDOUT,
                                      stdout=open(tmp_path / "nginx.out", "wb")))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not start: " + (tmp_path / "nginx.out").read_text())

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


def test_cluster_mode_over_mtls_through_tcp_passthrough(work, pki, nginx_tcp):
    """Three pods on one store behind nginx (TCP passthrough). Pods require client certificates;
    the coordinator presents the pods' own certificate, which is the internal identity on /batch
    (it names no client here), so /batch needs no internal token and the batches may carry the
    job's id. The people's client uses a token over the same mTLS."""
    clients = work.dir / "clients.json"
    token = work.cli.run("client", "add", "--clients", str(clients), "--name", "ops", "--roles",
                         "ingest,sign,read").stdout.strip()
    tls = ["--tls-client-ca", str(pki.ca.ca.cert), "--clients", str(clients)]
    pods = [https_instance(work, pki, *tls, token=token, client_cert=pki.server)
            for _ in range(3)]
    lb = nginx_tcp([p.port for p in pods])
    coordinator = https_instance(
        work, pki, *tls, "--peer-url", f"https://127.0.0.1:{lb}", "--peer-ca",
        str(pki.ca.ca.cert), "--peer-cert", str(pki.server.cert), "--peer-key",
        str(pki.server.key), "--concurrency", "3", token=token, client_cert=pki.server)
    records = random_records(3000, prefix="mtls-")
    assert coordinator.ingest(records).json()["accepted"] == 3000
    job = coordinator.sign_ok(100)
    assert job["records_signed"] == 3000 and job["batches"] >= 30, job
    served = [p.get("/metrics").text for p in pods]
    counts = [sum(float(line.rsplit(" ", 1)[1]) for line in m.splitlines()
                  if line.startswith("signer_batches_run_total")) for m in served]
    assert sum(1 for c in counts if c > 0) >= 2, counts  # nginx spread the batches
    assert sum(counts) >= job["batches"], counts
    # Without its client certificate the coordinator could not have reached a pod at all.
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        requests.get(f"https://127.0.0.1:{lb}/batch/0/1/0", verify=str(pki.ca.ca.cert),
                     timeout=10)
    stats = coordinator.stats()
    assert stats["signed_records"] == 3000 and stats["unsigned_records"] == 0
