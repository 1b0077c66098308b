"""The OpenAPI document (docs/openapi.json) and a server to test from it, for the test_openapi_*
files: a `signer serve` with a clients file holding one client per role, an internal token and
an internal port; and `Conformance`, which checks an answer against the document (status, media
type, body schema) and counts the operations it saw answer with success."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import requests
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from instance import SignerInstance, free_port

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
ROLES = ("ingest", "sign", "read")
INTERNAL_TOKEN = "openapi-internal-token-0123456789abcdef"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_ROOT = "urn:signer:openapi"


def load_document() -> dict:
    return json.loads(DOCUMENT_PATH.read_text())


def operations(doc: dict, listener: str | None = None) -> list[tuple[str, str, dict]]:
    """(METHOD, path template, operation) of every operation, or of those `listener` serves."""
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS and (listener is None or listener in op.get("x-listeners", [])):
                out.append((method.upper(), path, op))
    return out


@dataclass
class ApiServer:
    """A running server with a token per role and the internal identity."""
    inst: SignerInstance
    internal_port: int
    tokens: dict[str, str]

    def url(self, path: str, internal: bool = False) -> str:
        return f"http://127.0.0.1:{self.internal_port if internal else self.inst.port}{path}"

    def auth(self, role: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def start_api_server(signer_factory, cli, tmp_path: Path, *args: str) -> ApiServer:
    clients = tmp_path / "clients.json"
    tokens = {role: cli.add_client(clients, f"{role}-client", role) for role in ROLES}
    internal = free_port()
    inst = signer_factory.start("--clients", str(clients), "--internal-port", str(internal),
                                *args, env={"BS_INTERNAL_TOKEN": INTERNAL_TOKEN})
    return ApiServer(inst, internal, tokens)


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass
class Conformance:
    """Checks answers against the document and remembers which operations answered 2xx."""
    doc: dict = field(default_factory=load_document)
    succeeded: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self):
        self._registry = Registry().with_resource(
            _ROOT, Resource.from_contents(self.doc, default_specification=DRAFT202012))

    def _resolve(self, node: dict, where: tuple[str, ...]) -> tuple[dict, tuple[str, ...]]:
        while "$ref" in node:
            where = tuple(node["$ref"].removeprefix("#/").split("/"))
            node = self.doc
            for part in where:
                node = node[part]
        return node, where

    def check(self, method: str, template: str, response: requests.Response) -> requests.Response:
        """Asserts that `response` to METHOD template is an answer the document describes: a
        documented status, a documented media type, and a body that validates against its
        schema. Returns the response."""
        op = self.doc["paths"][template][method.lower()]
        status = str(response.status_code)
        label = f"{method} {template} -> {status}"
        assert status in op["responses"], f"{label}: status not in the document ({response.text[:200]})"
        spec, where = self._resolve(op["responses"][status],
                                    ("paths", template, method.lower(), "responses", status))
        media = response.headers.get("Content-Type", "").split(";")[0].strip()
        assert media in spec.get("content", {}), (
            f"{label}: Content-Type {media!r} not among {list(spec.get('content', {}))}")
        if media == "application/json":
            validator = Draft202012Validator(
                {"$ref": _ROOT + _pointer(*where, "content", media, "schema")},
                registry=self._registry)
            errors = sorted(validator.iter_errors(response.json()), key=lambda e: list(e.path))
            assert not errors, f"{label}: body does not match the document:\n" + "\n".join(
                f"  at /{'/'.join(map(str, e.path))}: {e.message[:300]}" for e in errors[:10])
        for name, header in spec.get("headers", {}).items():
            if name in response.headers and "const" in header.get("schema", {}):
                assert response.headers[name] == header["schema"]["const"], f"{label}: {name}"
        if 200 <= response.status_code < 300:
            self.succeeded.add((method, template))
        return response

    def not_succeeded(self, listener: str | None = None) -> list[str]:
        """The operations of the document (of `listener`) never seen answering 2xx."""
        return [f"{m} {p}" for m, p, _ in operations(self.doc, listener)
                if (m, p) not in self.succeeded]
