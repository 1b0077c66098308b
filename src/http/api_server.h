// The HTTP API (cpp-httplib): the seed's four routes, the operator routes, and JSON errors.
// Handlers parse, call the domain layer (Coordinator, BatchWorker, Store) and render; the work
// lives in signing/ and store/. See docs/API.md for every route, status and body.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <stop_token>
#include <string>

#include "audit/audit_log.h"
#include "crypto/key_ring.h"
#include "metrics/registry.h"
#include "signing/batch_worker.h"
#include "signing/coordinator.h"
#include "store/store.h"

namespace httplib {
class Server;
}

namespace signer::http {

struct ApiServerOptions {
  std::string host = "0.0.0.0";
  int port = 8080;
  std::size_t http_threads = 16;
  std::size_t max_body_bytes = 64u << 20;
  std::size_t max_concurrent_batches = 4;  // /batch requests running at once; more get 503
  std::size_t max_concurrent_ingests = 2;  // POST /records at once; more get 503
  std::string internal_token;              // required on /batch when non-empty
  std::string pod_name;
};

class ApiServer {
 public:
  ApiServer(store::Store& store, const crypto::KeyRing& keys, signing::Coordinator& coordinator,
            signing::BatchWorker& worker, metrics::Registry& metrics, audit::AuditLog& audit,
            ApiServerOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the listening socket. Returns false when the address is taken or invalid.
  bool bind();
  // The bound port (useful when options.port was 0).
  int port() const { return port_; }
  // Serves until stop(). Returns false when the server failed.
  bool serve();
  // Graceful shutdown: readiness turns 503, running /batch requests stop after their current
  // chunk, the running job stops dispatching, then the listener closes after in-flight requests.
  void stop();

 private:
  void install_routes();

  store::Store& store_;
  const crypto::KeyRing& keys_;
  signing::Coordinator& coordinator_;
  signing::BatchWorker& worker_;
  metrics::Registry& metrics_;
  audit::AuditLog& audit_;
  ApiServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::stop_source shutdown_;
  std::atomic<std::size_t> batches_in_flight_{0};
  std::atomic<std::size_t> ingests_in_flight_{0};
  int port_ = 0;
};

}  // namespace signer::http
