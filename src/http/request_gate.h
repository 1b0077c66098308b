// Who may make this request: the checks every request passes once its head is read and before its
// body is, in this order:
//   1. Host: on a loopback bind, a Host that is not a loopback name is refused (403), which stops
//      DNS rebinding from a web page against a laptop or a `kubectl port-forward`.
//   2. Origin: a request that carries an Origin is refused (403) unless that origin was allowed,
//      and so is a browser's cross-site request without one (Sec-Fetch-Site: cross-site or
//      same-site, as an <img> or a link sends), which could otherwise start a job.
//   3. Identity and role (401 without a known credential, 403 without the route's role):
//      - clients: a bearer token (which decides alone when sent), else a verified client
//        certificate whose CN or DNS SAN is in a client's cert_names. E-mail and URI SANs name
//        nobody. A certificate says who the TLS peer is, so it names nobody either when the
//        request was forwarded by a proxy (Forwarded, X-Forwarded-For, X-Real-IP) or when it is a
//        proxy's own certificate (--proxy-cert-name);
//      - /batch belongs to the pods: the internal identity is the internal token
//        (X-Internal-Token), or the pods' own certificate (a verified client certificate naming
//        exactly what this server's certificate names, not forwarded). With an internal token
//        configured, only the internal identity passes /batch. Without one, a client with the
//        sign role may call /batch too, held to its key list, never naming a job;
//      - without a clients file every caller is "anonymous" with every role (and is the internal
//        identity), which serve allows only on loopback or with --insecure-no-auth.
//   4. Body framing and type: only POST /records takes a body. A body on any other route (a
//      Content-Length above 0) is refused (400), any Transfer-Encoding there or one that is not
//      exactly `chunked` on an upload (411), and any Content-Encoding (415): the server never
//      inflates a body. POST /records takes only application/x-ndjson or application/json (415).
// Authentication is per request, never per record.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "auth/client_registry.h"
#include "auth/client_registry_holder.h"
#include "http/request.h"
#include "http/tls_context.h"

namespace signer::http {

struct GateOptions {
  bool loopback_bind = true;                  // check Host
  std::vector<std::string> allowed_origins;   // exact "scheme://host[:port]" values
  bool metrics_require_auth = false;          // /metrics needs the read role
  std::string internal_token;                 // the internal identity on /batch (X-Internal-Token)
  std::vector<std::string> proxy_cert_names;  // certificates of proxies: never an identity
  const TlsContext* tls = nullptr;            // this server's certificate: the pods' own identity
};

// The identity behind a request.
struct Caller {
  std::string name;                      // client name, "anonymous" or "internal"
  const auth::Client* client = nullptr;  // null for anonymous and internal callers
  bool authenticated = false;            // false: no known credential was presented
  bool internal = false;                 // the pods' identity (may name a job on /batch)
  // The registry `client` belongs to, kept alive for as long as the Caller is (a reload may
  // replace the current one meanwhile).
  std::shared_ptr<const auth::ClientRegistry> registry;
};

struct Refusal {
  int status = 0;
  std::string reason;  // low-cardinality metric/audit label: "host", "origin", "unauthenticated"…
  std::string message;  // the JSON error text
};

class RequestGate {
 public:
  // `clients` may be null: authentication is then off. It must outlive the gate. Each request is
  // checked against the registry current when it arrives.
  RequestGate(GateOptions options, const auth::ClientRegistryHolder* clients);

  // Returns the refusal for `req`, or nullopt when it may proceed.
  std::optional<Refusal> check(const Request& req) const;

  // Who sent `req` (cheap: one SHA-256 of the token, or the certificate's names). On /batch the
  // internal identity comes first.
  Caller identify(const Request& req) const;

  bool auth_enabled() const { return clients_ != nullptr; }

 private:
  // True when `req` carries the internal token or the pods' own certificate.
  bool is_internal(const Request& req) const;
  // The names of the request's client certificate that may identify a client: CN and DNS SANs
  // of a verified, not forwarded, non-proxy certificate; empty otherwise.
  std::vector<std::string> certificate_identity(const Request& req) const;

  GateOptions options_;
  const auth::ClientRegistryHolder* clients_;
};

// Throws std::invalid_argument when a client of `clients` is named by one of `proxy_cert_names`
// (a proxy's certificate would then authenticate every request through it as that client).
void check_proxy_cert_names(const auth::ClientRegistry& clients,
                            const std::vector<std::string>& proxy_cert_names);

// True for "localhost", "*.localhost", 127.0.0.0/8 and ::1, with or without a port.
bool is_loopback_host(std::string_view host_header);

// True for the addresses `serve --host` may bind without authentication.
bool is_loopback_address(std::string_view address);

// True when a proxy says it forwarded the request (Forwarded, X-Forwarded-For, X-Real-IP).
bool is_forwarded(const Request& req);

}  // namespace signer::http
