// The OpenAPI 3.1 document of the HTTP API: docs/openapi.json, compiled into the binary by
// cmake/embed_assets.cmake and served at GET /openapi.json (open, like /healthz) on both ports.
// It is the one machine-readable description of every route: client generators, gateways and
// Schemathesis read it, and the tests hold the server to it (tests/unit/openapi_test.cpp compares
// it with the route table; tests/e2e/test_openapi*.py test the server from it).
#pragma once

#include <string_view>

namespace signer::http {
namespace embedded {
// Defined in the generated openapi_document.cpp.
extern const std::string_view kOpenApiJson;
}  // namespace embedded

// The document, byte for byte as docs/openapi.json.
inline std::string_view openapi_document() { return embedded::kOpenApiJson; }

}  // namespace signer::http
