// `signer serve`: the HTTP service, with graceful shutdown on SIGTERM/SIGINT.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "cli/commands.h"
#include "cli/service_graph.h"
#include "http/api_server.h"
#include "signing/interruptible_sleep.h"
#include "store/store_factory.h"

namespace signer::cli {
namespace {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards, so only
// the signal watcher receives them (through sigtimedwait).
sigset_t block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int serve(Config& config) {
  finish_config(config);
  configure_logging(config);
  const sigset_t signals = block_shutdown_signals();

  ServiceGraph graph(config);
  http::ApiServer server(
      *graph.store, graph.keys, *graph.coordinator, graph.worker, graph.metrics, graph.audit,
      {config.host, config.port, 16 + config.max_concurrent_batches, config.max_body_bytes,
       config.max_concurrent_batches, 2, config.internal_token, config.pod_name});
  if (!server.bind()) {
    spdlog::error("cannot listen on {}:{}", config.host, config.port);
    return 4;
  }
  spdlog::info("listening on {}:{} as pod {} ({} mode{}{})", config.host, server.port(),
               config.pod_name, config.peer_url.empty() ? "embedded" : "cluster",
               config.peer_url.empty() ? "" : ", batches to ", config.peer_url);

  // Outlives the watcher: once a signal arrives it bounds the rest of the shutdown.
  std::jthread deadline;
  std::jthread watcher([&](std::stop_token stop) {
    const timespec tick{0, 200'000'000};
    while (!stop.stop_requested()) {
      const int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig <= 0) continue;
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
  cmd->add_option("--host", config.host, "Listen address")->capture_default_str();
  cmd->add_option("--port", config.port, "Listen port (env BS_SIGNER_PORT)")->capture_default_str();
  cmd->add_option("--peer-url", config.peer_url,
                  "Service URL for batches: cluster mode (env BS_MSG_SIGNER_URL)");
  cmd->add_option("--pod-name", config.pod_name, "Name in metrics and results (env BS_POD_NAME)");
  cmd->add_option("--max-concurrent-batches", config.max_concurrent_batches,
                  "Concurrent /batch requests before 503")
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", config.max_body_bytes, "Largest request body")
      ->capture_default_str();
  cmd->callback([&] { exit_code = serve(config); });
}

}  // namespace signer::cli
