// The object graph shared by `serve` and `sign`: metrics, key ring, store, audit log, worker pool,
// batch worker, dispatcher and coordinator, built once from the Config and owned here, in
// dependency order, so destruction runs in reverse (coordinator before the pool it uses).
#pragma once

#include <memory>

#include "audit/audit_log.h"
#include "cli/config.h"
#include "crypto/key_ring.h"
#include "metrics/registry.h"
#include "signing/batch_dispatcher.h"
#include "signing/batch_worker.h"
#include "signing/coordinator.h"
#include "signing/worker_pool.h"
#include "store/store.h"

namespace signer::cli {

// Loads the key ring from config.keys_file, logging permission warnings.
// Throws crypto::KeyRingError.
crypto::KeyRing load_keys(const Config& config);

// Opens the configured store (instrumented when `metrics` is given).
std::unique_ptr<store::Store> open_configured_store(const Config& config,
                                                    metrics::Registry* metrics = nullptr);

struct ServiceGraph {
  explicit ServiceGraph(const Config& config);

  metrics::Registry metrics;
  crypto::KeyRing keys;
  std::unique_ptr<store::Store> store;
  audit::AuditLog audit;
  signing::WorkerPool pool;
  signing::BatchWorker worker;
  std::unique_ptr<signing::BatchDispatcher> dispatcher;
  std::unique_ptr<signing::Coordinator> coordinator;
};

}  // namespace signer::cli
