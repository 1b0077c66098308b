"""Schemathesis hooks for the signer (loaded through SCHEMATHESIS_HOOKS by
tests/e2e/test_openapi_schemathesis.py): POST /records takes NDJSON, which Schemathesis has no
serializer for. The document describes an NDJSON body as an array whose elements are the lines,
so a generated array is sent one element a line; any other generated value (negative data) is
sent as one line."""
import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value) -> bytes:
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode()
