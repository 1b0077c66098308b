"""Secrets hygiene: a full run (keygen, client add, load, serve with clients, sign, every route,
good and bad requests and credentials, export, verify, SIGTERM) must never show a private key or a
bearer token in any log line, response body, header, metric or CLI output."""
from __future__ import annotations

import json

from helpers import random_records
from instance import write_ndjson


def test_no_secret_in_any_output_of_a_full_run(signer_factory, cli, keyring, tmp_path):
    outputs: list[str] = [keyring.keygen_output]
    records = random_records(3000)
    outputs.append(json.dumps(cli.load_file(write_ndjson(tmp_path / "r.ndjson", records))))
    clients = tmp_path / "clients.json"
    added = [cli.run("client", "add", "--clients", str(clients), "--name", name, "--roles", roles)
             for name, roles in (("ops", "ingest,sign,read"), ("viewer", "read"))]
    tokens = [r.stdout.strip() for r in added]
    outputs += [r.stderr for r in added]
    outputs.append(cli.run("client", "list", "--clients", str(clients)).stdout)
    server = signer_factory.start("--clients", str(clients), token=tokens[0])
    # Wrong, partial and other clients' tokens, in every place a token can be sent.
    for bad in (tokens[1], tokens[0][:-1], "Bearer " + tokens[0]):
        r = server.get("/sign/1", headers={"Authorization": f"Bearer {bad}"})
        outputs.append(str(dict(r.headers)) + r.text)
    r = server.get("/batch/0/1/0", headers={"X-Internal-Token": tokens[0]})
    outputs.append(str(dict(r.headers)) + r.text)
    pub0 = keyring.public_keys[0]
    paths = ["/", "/healthz", "/readyz", "/stats", "/keys", "/metrics", "/sign/0", "/sign/abc",
             "/batch/0/1/0", f"/batch/0/2/{pub0}", "/batch/0/2/99", "/batch/5/2/0",
             "/records/nope", f"/records/{records[0]['id']}", "/nowhere", "/sign/700?wait=true",
             "/stats", "/metrics", f"/records/{records[1]['id']}"]
    for path in paths:
        r = server.get(path)
        outputs.append(path + " " + str(dict(r.headers)) + " " + r.text)
    for body in ["[{\"id\":", "{\"id\":\"a b\",\"msg\":1}\n", json.dumps(records[:5])]:
        r = server.post("/records", data=body)
        outputs.append(r.text)
    outputs.append(server.get("/sign/1?wait=true").text)
    outputs.append(cli.sign("--batch-size", "100", "--progress", "plain").stdout)
    exported = cli.export()
    outputs.append(exported.read_text())
    outputs.append(str(cli.verify(exported)))
    outputs.append(str(cli.run("sign-message", "--keys", str(keyring.path), "--key-index", "1",
                               "--msg", "hello")))
    assert server.stop() == 0
    for log in signer_factory.logs():
        outputs.append(log.read_text(errors="replace"))

    everything = "\n".join(outputs).lower()
    assert len(everything) > 100_000, "the run produced suspiciously little output"
    for token in tokens:
        assert token.lower().removeprefix("mst_") not in everything, "a bearer token appeared"
        assert token[:-1].lower().removeprefix("mst_") not in everything
    for priv in keyring.private_keys:
        bare = priv.lower().removeprefix("0x")
        assert len(bare) == 64
        assert bare not in everything, "a private key appeared in an output"
    # The public keys do appear (so the search above looks at the right text).
    assert pub0.lower() in everything
