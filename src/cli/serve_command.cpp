// `signer serve`: the HTTP service, with graceful shutdown on SIGTERM/SIGINT.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "audit/audit_log.h"
#include "audit/audit_retention.h"
#include "auth/client_registry_holder.h"
#include "cli/commands.h"
#include "cli/service_graph.h"
#include "crypto/secp256k1_library.h"
#include "http/api_server.h"
#include "http/request_gate.h"
#include "http/tls_context.h"
#include "metrics/signer_metrics.h"
#include "signing/interruptible_sleep.h"
#include "store/store_factory.h"

namespace signer::cli {
namespace {

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and every thread it starts afterwards,
// so only the signal watcher receives them (through sigtimedwait).
sigset_t block_handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Refuses a bind that would let anyone who can reach the port sign, unless the operator said so
// out loud. Returns the reason to refuse, or an empty string.
std::string unsafe_bind_reason(const Config& config, bool have_clients) {
  if (have_clients || http::is_loopback_address(config.host)) return {};
  if (config.insecure_no_auth) return {};
  return "refusing to listen on " + config.host + ":" + std::to_string(config.port) +
         " without authentication: anyone who can reach it could sign with these keys. Give "
         "--clients FILE (env BS_CLIENTS_FILE; `signer client add` makes one), listen on "
         "127.0.0.1, or pass --insecure-no-auth (env BS_INSECURE_NO_AUTH=1) to serve "
         "unauthenticated anyway";
}

// Lets the process hold as many open files as its hard limit allows: every connection is a file,
// and thousands of idle ones must cost memory, not refusals (the soft limit is often 1024).
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t was = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    spdlog::debug("open file limit raised from {} to {}", was, limit.rlim_cur);
  }
}

// One audit event for each change a reload of the clients file brought, so the trail says who
// was added, rotated or removed, and when this pod started honouring it.
void audit_client_changes(audit::AuditLog& audit, const std::string& pod,
                          const std::vector<auth::ClientChange>& changes) {
  for (const auth::ClientChange& change : changes) {
    audit.record({.client = change.name,
                  .route = "/clients",
                  .outcome = std::string(auth::to_string(change.kind)),
                  .detail = "clients file reloaded on pod " + pod});
  }
}

// Writes one audit event when a client's expiry passes (checked by the signal watcher's ticks),
// so the trail shows when its credentials stopped working, whether or not it tried to use them.
class ExpiryWatch {
 public:
  explicit ExpiryWatch(const auth::ClientRegistryHolder* clients)
      : clients_(clients), checked_until_(audit::unix_ms_now()) {}

  void check(audit::AuditLog& audit, const std::string& pod) {
    if (clients_ == nullptr) return;
    const std::int64_t now = audit::unix_ms_now();
    if (now - checked_until_ < 1000) return;
    for (const auth::Client& client : clients_->current()->clients()) {
      if (client.expires_unix_ms && *client.expires_unix_ms > checked_until_ &&
          *client.expires_unix_ms <= now) {
        audit.record({.client = client.name,
                      .route = "/clients",
                      .outcome = "expired",
                      .detail = "credentials expired at " +
                                auth::format_utc_time(*client.expires_unix_ms) + " (pod " + pod +
                                ")"});
      }
    }
    checked_until_ = now;
  }

 private:
  const auth::ClientRegistryHolder* clients_;
  std::int64_t checked_until_;
};

int serve(Config& config) {
  finish_config(config);
  configure_logging(config);
  raise_open_file_limit();
  const sigset_t signals = block_handled_signals();

  const bool have_clients = !config.clients_file.empty();
  if (const std::string reason = unsafe_bind_reason(config, have_clients); !reason.empty()) {
    std::cerr << "error: " << reason << "\n";
    return 2;
  }
  const bool insecure = !have_clients && !http::is_loopback_address(config.host);
  if (insecure) {
    spdlog::warn(
        "INSECURE: --insecure-no-auth: serving on {} without authentication; anyone who "
        "can reach this port can ingest, sign and read",
        config.host);
  }
  std::unique_ptr<http::TlsContext> tls;
  if (!config.tls_cert.empty()) {
    tls = std::make_unique<http::TlsContext>(
        http::TlsFiles{config.tls_cert, config.tls_key, config.tls_client_ca,
                       *http::parse_tls_profile(config.tls_profile)});
  }

  ServiceGraph graph(config);
  // The clients file, checked against the keys and the proxies at start and at every reload: a
  // file that fails keeps the registry before it (or stops the start).
  std::unique_ptr<auth::ClientRegistryHolder> clients;
  if (have_clients) {
    clients = std::make_unique<auth::ClientRegistryHolder>(
        config.clients_file, [&](const auth::ClientRegistry& registry) {
          http::check_proxy_cert_names(registry, config.proxy_cert_names);
          http::check_client_keys(registry, *graph.keys.current());
        });
    clients->on_reload([&](const auth::ClientRegistry& before, const auth::ClientRegistry& after) {
      audit_client_changes(graph.audit, config.pod_name, auth::diff_clients(before, after));
    });
    if (config.key_watch_interval_ms > 0) {
      clients->watch(std::chrono::milliseconds(config.key_watch_interval_ms));
    }
  }
  ExpiryWatch expiries(clients.get());
  std::unique_ptr<audit::AuditRetention> retention;
  if (config.audit_retention_days > 0) {
    retention = std::make_unique<audit::AuditRetention>(
        *graph.store, std::chrono::hours(24) * config.audit_retention_days,
        std::chrono::milliseconds(config.audit_prune_interval_ms));
  }
  http::ApiServerOptions options;
  options.host = config.host;
  options.port = config.port;
  options.http_threads = 16 + config.max_concurrent_batches;
  options.proxy_cert_names = config.proxy_cert_names;
  options.refusal_audit_window = std::chrono::milliseconds(config.refusal_audit_window_ms);
  options.max_body_bytes = config.max_body_bytes;
  options.max_concurrent_batches = config.max_concurrent_batches;
  options.max_concurrent_ingests = 2;
  options.max_ingest_records = config.max_ingest_records;
  options.internal_token = config.internal_token;
  options.schemes = graph.schemes;
  options.pod_name = config.pod_name;
  options.clients = clients.get();
  options.insecure_no_auth = insecure;
  options.allowed_origins = config.allowed_origins;
  options.metrics_require_auth = config.metrics_require_auth;
  options.tls = tls.get();
  options.internal_port = config.internal_port;
  options.connections.max_connections_per_client = config.max_connections_per_client;
  options.connections.max_connections = config.max_connections;
  options.connections.head_deadline = std::chrono::milliseconds(config.header_timeout_ms);
  http::ApiServer server(*graph.store, graph.keys, *graph.coordinator, graph.worker, graph.metrics,
                         graph.audit, std::move(options));
  if (!server.bind()) {
    spdlog::error("cannot listen on {}:{}", config.host, config.port);
    return 4;
  }
  if (server.internal_port() >= 0) {
    spdlog::info("internal listener (probes, /metrics, /batch) on {}:{}", config.host,
                 server.internal_port());
  }
  spdlog::info("listening on {}://{}:{} as pod {} ({} mode{}{}; auth: {})", tls ? "https" : "http",
               config.host, server.port(), config.pod_name,
               config.peer_url.empty() ? "embedded" : "cluster",
               config.peer_url.empty() ? "" : ", batches to ", config.peer_url,
               clients ? std::to_string(clients->status().items) + " clients"
                       : (insecure ? "NONE (insecure)" : "none (loopback only)"));

  if (const crypto::Secp256k1Library secp256k1 = crypto::secp256k1_library(); !secp256k1.current) {
    spdlog::warn(
        "signing with {}; build with libsecp256k1 {} or newer "
        "(scripts/install-secp256k1.sh)",
        crypto::describe(secp256k1), secp256k1.minimum_version);
  }

  // A Kubernetes Secret update (or any edit of a key file) reloads the key set too.
  if (config.key_watch_interval_ms > 0) {
    graph.keys.watch(std::chrono::milliseconds(config.key_watch_interval_ms));
  }

  // Outlives the watcher: once a signal arrives it bounds the rest of the shutdown.
  std::jthread deadline;
  std::jthread watcher([&](std::stop_token stop) {
    const timespec tick{0, 200'000'000};
    while (!stop.stop_requested()) {
      const int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig <= 0) {
        expiries.check(graph.audit, config.pod_name);
        continue;
      }
      if (sig == SIGHUP) {
        // Keys first: a failed reload keeps the old set and says why (log, /readyz, metrics).
        graph.keys.reload("SIGHUP");
        if (clients) clients->reload("SIGHUP");
        if (!tls) continue;
        const std::string error = tls->reload();
        graph.metrics.increment(metrics::kTlsReloads,
                                {{"outcome", error.empty() ? "ok" : "error"}});
        if (error.empty()) {
          spdlog::info("SIGHUP: reloaded the TLS certificate and key");
        } else {
          spdlog::error("SIGHUP: TLS reload failed, keeping the old certificate: {}", error);
        }
        continue;
      }
      spdlog::info("received {}, shutting down (grace {}s)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                   config.shutdown_grace_seconds);
      deadline = std::jthread([grace = config.shutdown_grace_seconds](std::stop_token done) {
        if (!signing::interruptible_sleep(done, std::chrono::seconds(grace))) {
          spdlog::error("graceful shutdown exceeded {}s; exiting now (no record is half-moved)",
                        grace);
          spdlog::default_logger()->flush();
          std::_Exit(1);
        }
      });
      server.stop();
      return;
    }
  });
  const bool ok = server.serve();
  watcher.request_stop();
  spdlog::info("server stopped");
  return ok ? 0 : 4;
}

}  // namespace

void add_serve_command(CLI::App& app, Config& config, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("serve", "Run the HTTP signing service");
  add_store_flags(*cmd, config);
  add_keys_flag(*cmd, config);
  add_engine_flags(*cmd, config);
  add_scheme_flags(*cmd, config, false);
  cmd->add_option(
      "--host", config.host,
      "Listen address (env BS_SIGNER_HOST; default 127.0.0.1, or 0.0.0.0 with --clients)");
  cmd->add_option("--internal-port", config.internal_port,
                  "Second port for /healthz, /readyz, /metrics and /batch, with its own threads "
                  "(env BS_INTERNAL_PORT; 0: any free port; default none)");
  cmd->add_option("--max-connections-per-client", config.max_connections_per_client,
                  "Open connections one address may hold on the public port; 0: no cap (env "
                  "BS_MAX_CONNECTIONS_PER_CLIENT)")
      ->capture_default_str();
  cmd->add_option("--audit-retention-days", config.audit_retention_days,
                  "Delete audit events older than this many days, at start and every hour; 0 "
                  "keeps them all (env BS_AUDIT_RETENTION_DAYS)")
      ->capture_default_str();
  cmd->add_option("--max-connections", config.max_connections,
                  "Open connections a port holds in all before it answers 503; 0: no cap (env "
                  "BS_MAX_CONNECTIONS)")
      ->capture_default_str();
  cmd->add_option("--proxy-cert-name", config.proxy_cert_names,
                  "CN or DNS name of the client certificate a proxy in front presents (an "
                  "ingress): it authenticates nobody, and no client may be named by it "
                  "(repeatable; env BS_PROXY_CERT_NAMES)");
  cmd->add_option("--header-timeout-ms", config.header_timeout_ms,
                  "Deadline for a whole request head (request line and headers)")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  cmd->add_option("--clients", config.clients_file,
                  "Clients file: who may call, with which roles (env BS_CLIENTS_FILE)");
  cmd->add_flag("--insecure-no-auth", config.insecure_no_auth,
                "Allow a non-loopback listen address without a clients file (env "
                "BS_INSECURE_NO_AUTH=1)");
  cmd->add_option("--allow-origin", config.allowed_origins,
                  "A browser Origin allowed to call (repeatable; env BS_ALLOWED_ORIGINS)");
  cmd->add_flag("--metrics-auth", config.metrics_require_auth,
                "/metrics requires the read role (env BS_METRICS_AUTH=1)");
  cmd->add_option("--tls-cert", config.tls_cert,
                  "PEM certificate chain: serve HTTPS (env BS_TLS_CERT)");
  cmd->add_option("--tls-key", config.tls_key, "PEM private key of --tls-cert (env BS_TLS_KEY)");
  cmd->add_option("--tls-profile", config.tls_profile,
                  "Mozilla TLS profile: intermediate (TLS 1.2 with ECDHE+AEAD, and 1.3) or modern "
                  "(TLS 1.3 only) (env BS_TLS_PROFILE)")
      ->capture_default_str();
  cmd->add_option(
      "--tls-client-ca", config.tls_client_ca,
      "PEM CA: clients must present a certificate it signed (mTLS; env BS_TLS_CLIENT_CA)");
  cmd->add_option("--peer-ca", config.peer_ca,
                  "PEM CA that an https peer URL's certificate must chain to (env BS_PEER_CA)");
  cmd->add_option("--peer-cert", config.peer_cert,
                  "Client certificate for calls to the peer URL (env BS_PEER_CERT)");
  cmd->add_option("--peer-key", config.peer_key, "Key of --peer-cert (env BS_PEER_KEY)");
  cmd->add_option("--port", config.port, "Listen port (env BS_SIGNER_PORT)")->capture_default_str();
  cmd->add_option("--peer-url", config.peer_url,
                  "Service URL for batches: cluster mode (env BS_MSG_SIGNER_URL)");
  cmd->add_option("--pod-name", config.pod_name, "Name in metrics and results (env BS_POD_NAME)");
  cmd->add_option("--max-concurrent-batches", config.max_concurrent_batches,
                  "Concurrent /batch requests before 503")
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", config.max_body_bytes,
                  "Largest request body, counted as it is read (chunked or not)")
      ->capture_default_str();
  cmd->add_option("--max-ingest-records", config.max_ingest_records,
                  "Most records one POST /records may carry")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}))
      ->capture_default_str();
  cmd->callback([&] { exit_code = serve(config); });
}

}  // namespace signer::cli
