// Who may make this request: the checks every request passes once its head is read and before its
// body is, in this order:
//   1. Host: on a loopback bind, a Host that is not a loopback name is refused (403), which stops
//      DNS rebinding from a web page against a laptop or a `kubectl port-forward`.
//   2. Origin: a request that carries an Origin is refused (403) unless that origin was allowed,
//      and so is a browser's cross-site request without one (Sec-Fetch-Site: cross-site or
//      same-site, as an <img> or a link sends), which could otherwise start a job.
//   3. Identity and role: the route's role (auth::Role), from a bearer token (which decides alone
//      when sent), else a verified client certificate's CN or SAN, or (on /batch) the pods'
//      internal token. 401 when there is no known
//      credential, 403 when the known client lacks the role. Without a clients file every caller is
//      "anonymous" with every role, which serve allows only on loopback or with --insecure-no-auth.
//   4. Body framing and type: only POST /records may send a chunked body (its reader bounds it
//      as it reads); any other Transfer-Encoding, or one on another route, is refused (411). POST
//      /records takes only application/x-ndjson or application/json (415).
// Authentication is per request, never per record.
#pragma once

#include <httplib.h>

#include <optional>
#include <string>
#include <vector>

#include "auth/client_registry.h"

namespace signer::http {

struct GateOptions {
  bool loopback_bind = true;                 // check Host
  std::vector<std::string> allowed_origins;  // exact "scheme://host[:port]" values
  bool metrics_require_auth = false;         // /metrics needs the read role
  std::string internal_token;                // accepted on /batch (X-Internal-Token)
};

// The identity behind a request.
struct Caller {
  std::string name;                      // client name, "anonymous" or "internal"
  const auth::Client* client = nullptr;  // null for anonymous and internal callers
  bool authenticated = false;            // false: no known credential was presented
};

struct Refusal {
  int status = 0;
  std::string reason;  // low-cardinality metric/audit label: "host", "origin", "unauthenticated"…
  std::string message;  // the JSON error text
};

class RequestGate {
 public:
  // `clients` may be null: authentication is then off. It must outlive the gate.
  RequestGate(GateOptions options, const auth::ClientRegistry* clients);

  // Returns the refusal for `req`, or nullopt when it may proceed.
  std::optional<Refusal> check(const httplib::Request& req) const;

  // Who sent `req` (cheap: one SHA-256 of the token, or the certificate's names).
  Caller identify(const httplib::Request& req) const;

  bool auth_enabled() const { return clients_ != nullptr; }

 private:
  GateOptions options_;
  const auth::ClientRegistry* clients_;
};

// True for "localhost", "*.localhost", 127.0.0.0/8 and ::1, with or without a port.
bool is_loopback_host(std::string_view host_header);

// True for the addresses `serve --host` may bind without authentication.
bool is_loopback_address(std::string_view address);

}  // namespace signer::http
