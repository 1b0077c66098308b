// The HTTP API: the seed's four routes, the operator routes, and JSON errors, served by the
// event-driven front door (http_server.h).
// Handlers parse, call the domain layer (Coordinator, BatchWorker, Store) and render; the work
// lives in signing/ and store/. See docs/API.md for every route, status and body.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/audit_log.h"
#include "audit/refusal_aggregator.h"
#include "auth/client_registry_holder.h"
#include "http/http_server.h"
#include "http/request_gate.h"
#include "http/router.h"
#include "http/tls_context.h"
#include "keys/key_set_holder.h"
#include "metrics/registry.h"
#include "schemes/scheme_registry.h"
#include "signing/batch_worker.h"
#include "signing/coordinator.h"
#include "store/store.h"

namespace signer::http {

struct ApiServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::size_t http_threads = 16;  // handler threads of the public port
  std::size_t io_threads = 2;     // threads that drive every connection (http_server.h)
  std::size_t max_body_bytes = 64u << 20;
  std::size_t max_concurrent_batches = 4;      // /batch requests running at once; more get 503
  std::size_t max_concurrent_ingests = 2;      // POST /records at once; more get 503
  std::size_t max_ingest_records = 1'000'000;  // records in one POST /records; more get 413
  std::string internal_token;                  // required on /batch when non-empty
  // The schemes ?scheme= may name on /sign and /batch: raw, eip191 and the eip712 scheme files
  // given to serve (--scheme-file, BS_SCHEME_FILES).
  schemes::SchemeRegistry schemes;
  std::vector<std::string> proxy_cert_names;  // certificates of proxies: never an identity
  std::string pod_name;
  // null: no authentication (loopback or insecure)
  const auth::ClientRegistryHolder* clients = nullptr;
  bool insecure_no_auth = false;  // shown by /readyz and /metrics
  std::vector<std::string> allowed_origins;
  // Refusals of unidentified callers: one audit event per address, route and reason per window.
  std::chrono::milliseconds refusal_audit_window{60'000};
  bool metrics_require_auth = false;
  const TlsContext* tls = nullptr;  // null: plain HTTP
  ConnectionPolicy connections;
  // A second listener for /healthz, /readyz, /metrics and /batch only, with handler threads of its
  // own, so that clients flooding or stalling the public port cannot starve the probes or the pods'
  // batches. -1: none; 0: any free port.
  int internal_port = -1;
  std::size_t internal_threads = 4;
};

// Throws std::invalid_argument when a client's key list names a key that `keys` does not hold
// (checked at start and at every reload of the clients file).
void check_client_keys(const auth::ClientRegistry& clients, const keys::KeySet& keys);

class ApiServer {
 public:
  ApiServer(store::Store& store, keys::KeySetHolder& keys, signing::Coordinator& coordinator,
            signing::BatchWorker& worker, metrics::Registry& metrics, audit::AuditLog& audit,
            ApiServerOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the listening socket. Returns false when the address is taken or invalid.
  bool bind();
  // The bound ports (useful when options.port was 0); internal_port() is -1 without one.
  int port() const { return port_; }
  int internal_port() const { return internal_port_; }
  // Serves until stop(), the internal listener on a thread of its own. Returns false when a
  // listener failed.
  bool serve();
  // Graceful shutdown: readiness turns 503, running /batch requests stop after their current
  // chunk, the running job stops dispatching, then the listener closes after in-flight requests.
  void stop();

  enum class Listener { kPublic, kInternal };
  // The routes `listener` serves (method and pattern), in the order they are matched; empty for
  // the internal listener when there is none. What docs/openapi.json must describe, no more and
  // no less (tests/unit/openapi_test.cpp).
  std::vector<Router::Entry> route_table(Listener listener) const;

 private:
  void install_routes(Router& router);
  ListenerConfig listener_config(Listener listener);
  // The key selectors `caller` may sign with: its clients-file list, or empty for all keys.
  std::vector<std::string> keys_of(const Caller& caller) const;
  // Why `caller` may not sign under `scheme` (its clients-file schemes and EIP-712 domains), or
  // nullopt. A refusal is recorded as an audit event of `route`.
  std::optional<std::string> refuse_scheme(const Caller& caller, const Request& req,
                                           const char* route,
                                           const schemes::SigningScheme& scheme) const;
  // True when `caller` may sign with key `key_index` of `key_set`.
  bool may_use_key(const Caller& caller, const keys::KeySet& key_set, std::size_t key_index) const;
  // A job record as /jobs and /jobs/:id show it: its JSON plus "verify", its latest audit
  // verification from the audit trail: {"state": "unverified"} or {"state": "ok"|"mismatch",
  // "detail", "by", "unix_ms"}. Throws store::StoreError.
  nlohmann::json job_json(const audit::JobRecord& job) const;
  // Copies the key set's and the clients file's state (keys by source, versions, reload counts)
  // into the metrics.
  void publish_reload_metrics();

  store::Store& store_;
  keys::KeySetHolder& keys_;
  signing::Coordinator& coordinator_;
  signing::BatchWorker& worker_;
  metrics::Registry& metrics_;
  audit::AuditLog& audit_;
  ApiServerOptions options_;
  RequestGate gate_;
  audit::RefusalAggregator refusals_;
  Router public_routes_;
  Router internal_routes_;
  std::unique_ptr<HttpServer> server_;
  std::size_t public_listener_ = 0;
  std::optional<std::size_t> internal_listener_;  // without options.internal_port: none
  std::stop_source shutdown_;
  std::atomic<std::size_t> batches_in_flight_{0};
  std::atomic<std::size_t> ingests_in_flight_{0};
  std::atomic<std::size_t> verifies_in_flight_{0};
  int port_ = 0;
  int internal_port_ = -1;
};

}  // namespace signer::http
