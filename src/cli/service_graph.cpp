#include "cli/service_graph.h"

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "crypto/secp256k1_library.h"
#include "http/peer_dispatcher.h"
#include "metrics/signer_metrics.h"
#include "store/instrumented_store.h"
#include "store/store_factory.h"

namespace signer::cli {
namespace {

metrics::Registry& declared(metrics::Registry& registry) {
  metrics::declare_signer_metrics(registry);
  const crypto::Secp256k1Library secp256k1 = crypto::secp256k1_library();
  registry.set(metrics::kBuildInfo,
               {{"version", SIGNER_VERSION},
                {"libsecp256k1", std::string(secp256k1.version)},
                {"libsecp256k1_linkage", std::string(secp256k1.linkage)}},
               1);
  return registry;
}

}  // namespace

keys::PasswordSource keystore_password_source(const Config& config) {
  return secret_source(config.keystore_password_file, config.keystore_password_env,
                       "a keystore needs its password from exactly one of --password-file FILE or "
                       "--password-env VARIABLE");
}

keys::KeySetConfig key_set_config(const Config& config) {
  if (config.keystore_file.empty() &&
      !(config.keystore_password_file.empty() && config.keystore_password_env.empty())) {
    throw std::invalid_argument("--password-file and --password-env go with --keystore");
  }
  if (!config.key_config.empty()) {
    if (!config.keystore_file.empty() || !config.pkcs11_module.empty()) {
      throw std::invalid_argument("--key-config excludes --keystore and --pkcs11-module");
    }
    return keys::read_key_set_config(config.key_config);
  }
  keys::KeyEntry entry;
  if (!config.pkcs11_module.empty()) {
    entry.source = keys::KeySource::kPkcs11;
    entry.pkcs11 = pkcs11_key_config(config);
  } else if (!config.keystore_file.empty()) {
    entry.source = keys::KeySource::kKeystore;
    entry.file = config.keystore_file;
    entry.password = keystore_password_source(config);
  } else {
    return keys::KeySetConfig::csv_file(config.keys_file);
  }
  keys::KeySetConfig one;
  one.entries.push_back(std::move(entry));
  return one;
}

keys::KeySetHolder::Loaded load_key_set(const Config& config, std::uint64_t version) {
  // The config file is read again at every load, so a reload sees its changes too.
  const keys::KeySetConfig key_config = key_set_config(config);
  std::vector<std::string> warnings;
  auto set = keys::load_key_set(key_config, version, warnings);
  for (const std::string& w : warnings) spdlog::warn("{}", w);
  spdlog::info("key set version {}: {} keys from {}", version, set->size(), key_config.describe());
  return {std::move(set), key_config.watched_files()};
}

namespace {

// The PostgreSQL password: BS_PG_PASSWORD, or the file BS_PG_PASSWORD_FILE names, read as every
// other secret file is (keys::read_password_source: wiped buffer, one trailing newline, a warning
// for a file others may read). Throws std::runtime_error naming the file, never its content.
std::string store_password(const Config& config) {
  if (config.pg_password_file.empty()) return config.pg_password;
  std::vector<std::string> warnings;
  keys::Password password;
  try {
    password =
        keys::read_password_source(keys::PasswordSource::file(config.pg_password_file), warnings);
  } catch (const keys::PasswordError& e) {
    throw std::runtime_error("cannot read BS_PG_PASSWORD_FILE " + config.pg_password_file + ": " +
                             e.what());
  }
  for (const std::string& w : warnings) spdlog::warn("{}", w);
  if (password.empty()) {
    throw std::runtime_error("BS_PG_PASSWORD_FILE " + config.pg_password_file + " is empty");
  }
  const auto bytes = password.bytes();
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

std::unique_ptr<store::Store> open_configured_store(const Config& config,
                                                    metrics::Registry* metrics) {
  store::StoreOptions options;
  options.url = config.store;
  options.mongo_user = config.mongo_user;
  options.mongo_password = config.mongo_password;
  options.timeout_ms = config.store_timeout_ms;
  options.sqlite_synchronous_full = config.sqlite_synchronous == "full";
  options.sqlite_inbox_merge_rows = static_cast<std::uint64_t>(config.sqlite_inbox_merge_rows);
  options.pg_password = store_password(config);
  options.statement_timeout_ms = config.pg_statement_timeout_ms;
  // One connection per thread that can use the store at once: the batches, plus API readers.
  options.pg_pool_size = config.max_concurrent_batches + 4;
  auto store = store::open_store(options);
  if (!metrics) return store;
  return std::make_unique<store::InstrumentedStore>(std::move(store), *metrics);
}

ServiceGraph::ServiceGraph(const Config& config)
    : schemes(
          schemes::SchemeRegistry::load({config.scheme_files.begin(), config.scheme_files.end()})),
      keys([config](std::uint64_t version) { return load_key_set(config, version); }),
      store(open_configured_store(config, &declared(metrics))),
      audit(*store),
      pool(config.threads),
      worker(*store, pool, metrics, audit,
             {config.chunk_size, config.pod_name, config.chunk_bytes}) {
  if (config.peer_url.empty()) {
    dispatcher = std::make_unique<signing::InProcessDispatcher>(worker);
  } else {
    dispatcher = std::make_unique<http::PeerDispatcher>(
        http::PeerDispatcherOptions{config.peer_url, config.internal_token, std::chrono::seconds(5),
                                    std::chrono::seconds(config.batch_timeout_seconds),
                                    config.peer_ca, config.peer_cert, config.peer_key});
  }
  signing::CoordinatorOptions coordinator_options{config.concurrency, config.batch_attempts,
                                                  std::chrono::milliseconds(200),
                                                  std::chrono::milliseconds(5000)};
  // How long the store may stay silent before a job stops waiting for it: one store timeout.
  coordinator_options.store_timeout = std::chrono::milliseconds(config.store_timeout_ms);
  coordinator = std::make_unique<signing::Coordinator>(*store, keys, *dispatcher, metrics, audit,
                                                       coordinator_options);
  spdlog::info("store {}, {} signing threads, chunk {}, dispatch {} x{}", store->describe(),
               pool.size(), config.chunk_size, dispatcher->mode(), config.concurrency);
  for (const auto& typed : schemes.typed()) {
    spdlog::info("scheme eip712:{} loaded (fingerprint {})", typed->name(), typed->fingerprint());
  }
}

}  // namespace signer::cli
