// The object graph shared by `serve` and `sign`: scheme files, metrics, key ring, store, audit log,
// worker pool, batch worker, dispatcher and coordinator, built once from the Config and owned here,
// in dependency order, so destruction runs in reverse (coordinator before the pool it uses).
#pragma once

#include <memory>

#include "audit/audit_log.h"
#include "cli/config.h"
#include "crypto/key_ring.h"
#include "keys/key_set_config.h"
#include "keys/key_set_holder.h"
#include "keys/password.h"
#include "metrics/registry.h"
#include "schemes/scheme_registry.h"
#include "signing/batch_dispatcher.h"
#include "signing/batch_worker.h"
#include "signing/coordinator.h"
#include "signing/worker_pool.h"
#include "store/store.h"

namespace signer::cli {

// Where the keystore password comes from: --password-file or --password-env, exactly one.
// Throws std::invalid_argument when neither or both are given.
keys::PasswordSource keystore_password_source(const Config& config);

// The key set the config describes: the --key-config file (BS_KEY_CONFIG), else the key the
// --pkcs11-* flags name, else the --keystore file, else keys.csv. Throws keys::KeyConfigError or
// std::invalid_argument (conflicting flags, a keystore or token key without a password or PIN
// source).
keys::KeySetConfig key_set_config(const Config& config);

// Loads that key set as `version` (reading the config file again), logging its warnings; what a
// KeySetHolder calls at start and at each reload.
keys::KeySetHolder::Loaded load_key_set(const Config& config, std::uint64_t version);

// Opens the configured store (instrumented when `metrics` is given).
std::unique_ptr<store::Store> open_configured_store(const Config& config,
                                                    metrics::Registry* metrics = nullptr);

struct ServiceGraph {
  explicit ServiceGraph(const Config& config);

  // The EIP-712 scheme files (--scheme-file, BS_SCHEME_FILES), read first: a bad one stops the
  // start before anything else is opened. Not reloaded; a changed file needs a restart.
  schemes::SchemeRegistry schemes;
  metrics::Registry metrics;
  keys::KeySetHolder keys;
  std::unique_ptr<store::Store> store;
  audit::AuditLog audit;
  signing::WorkerPool pool;
  signing::BatchWorker worker;
  std::unique_ptr<signing::BatchDispatcher> dispatcher;
  std::unique_ptr<signing::Coordinator> coordinator;
};

}  // namespace signer::cli
