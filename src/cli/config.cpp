#include "cli/config.h"

#include "http/tls_context.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace signer::cli {
namespace {

// The items of a comma-separated list, each trimmed of spaces; empty items are dropped.
std::vector<std::string> comma_list(std::string_view rest) {
  std::vector<std::string> items;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return items;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

int env_int(const char* name, int fallback) {
  const std::string v = env(name);
  if (v.empty()) return fallback;
  try {
    return std::stoi(v);
  } catch (...) {
    return fallback;
  }
}

// A positive whole number (digits only, at most 12); -1 for anything else, which finish_config
// refuses rather than falling back to a default.
long long env_count(const std::string& v) {
  if (v.empty() || v.size() > 12 || v.find_first_not_of("0123456789") != std::string::npos) {
    return -1;
  }
  const long long n = std::stoll(v);
  return n > 0 ? n : -1;
}

bool env_flag(const char* name) {
  const std::string v = env(name);
  return v == "1" || v == "true" || v == "yes";
}

}  // namespace

Config config_from_environment() {
  Config c;
  c.mongo_env_url = env("BS_MONGO_URL");
  if (!c.mongo_env_url.empty()) c.store = c.mongo_env_url;
  if (const std::string store = env("BS_STORE"); !store.empty()) c.store = store;
  c.mongo_user = env("BS_MONGO_USER");
  c.mongo_password = env("BS_MONGO_PWD");
  c.store_timeout_ms = env_int("BS_STORE_TIMEOUT_MS", c.store_timeout_ms);
  c.pg_password = env("BS_PG_PASSWORD");
  c.pg_password_file = env("BS_PG_PASSWORD_FILE");
  c.pg_statement_timeout_ms = env_int("BS_PG_STATEMENT_TIMEOUT_MS", c.pg_statement_timeout_ms);
  if (const std::string dir = env("BS_KEYS_DIR"); !dir.empty()) c.keys_file = dir + "/keys.csv";
  c.key_config = env("BS_KEY_CONFIG");
  c.key_watch_interval_ms = env_int("BS_KEY_WATCH_INTERVAL_MS", c.key_watch_interval_ms);
  c.port = env_int("BS_SIGNER_PORT", c.port);
  c.peer_url = env("BS_MSG_SIGNER_URL");
  c.internal_token = env("BS_INTERNAL_TOKEN");
  c.pod_name = env("BS_POD_NAME");
  if (c.pod_name.empty()) c.pod_name = env("HOSTNAME");
  if (const std::string sync = env("BS_SQLITE_SYNCHRONOUS"); !sync.empty()) {
    c.sqlite_synchronous = sync;
  }
  if (const std::string rows = env("BS_SQLITE_INBOX_MERGE_ROWS"); !rows.empty()) {
    c.sqlite_inbox_merge_rows = env_count(rows);
  }
  c.shutdown_grace_seconds = env_int("BS_SHUTDOWN_GRACE_SECONDS", c.shutdown_grace_seconds);
  if (const std::string level = env("BS_LOG_LEVEL"); !level.empty()) c.log_level = level;
  c.host = env("BS_SIGNER_HOST");
  c.internal_port = env_int("BS_INTERNAL_PORT", c.internal_port);
  c.max_connections_per_client =
      static_cast<std::size_t>(std::max(0, env_int("BS_MAX_CONNECTIONS_PER_CLIENT", 0)));
  c.clients_file = env("BS_CLIENTS_FILE");
  c.insecure_no_auth = env_flag("BS_INSECURE_NO_AUTH");
  c.metrics_require_auth = env_flag("BS_METRICS_AUTH");
  c.max_connections = static_cast<std::size_t>(
      std::max(0, env_int("BS_MAX_CONNECTIONS", static_cast<int>(c.max_connections))));
  c.allowed_origins = comma_list(env("BS_ALLOWED_ORIGINS"));
  c.scheme_files = comma_list(env("BS_SCHEME_FILES"));
  c.proxy_cert_names = comma_list(env("BS_PROXY_CERT_NAMES"));
  c.audit_retention_days = env_int("BS_AUDIT_RETENTION_DAYS", c.audit_retention_days);
  c.audit_prune_interval_ms = env_int("BS_AUDIT_PRUNE_INTERVAL_MS", c.audit_prune_interval_ms);
  c.refusal_audit_window_ms = env_int("BS_REFUSAL_AUDIT_WINDOW_MS", c.refusal_audit_window_ms);
  c.tls_cert = env("BS_TLS_CERT");
  c.tls_key = env("BS_TLS_KEY");
  c.tls_client_ca = env("BS_TLS_CLIENT_CA");
  if (const std::string profile = env("BS_TLS_PROFILE"); !profile.empty()) c.tls_profile = profile;
  c.peer_ca = env("BS_PEER_CA");
  c.peer_cert = env("BS_PEER_CERT");
  c.peer_key = env("BS_PEER_KEY");
  return c;
}

void finish_config(Config& c) {
  const auto is_mongo = [](const std::string& url) {
    return url.rfind("mongodb://", 0) == 0 || url.rfind("mongodb+srv://", 0) == 0;
  };
  if (!c.mongo_env_url.empty() && c.store == c.mongo_env_url && !is_mongo(c.store)) {
    throw std::invalid_argument(
        "BS_MONGO_URL must be a MongoDB URL (mongodb://HOST:PORT/ or mongodb+srv://HOST/); "
        "use --store sqlite:PATH for the embedded store");
  }
  if (!c.pg_password.empty() && !c.pg_password_file.empty()) {
    throw std::invalid_argument("set one of BS_PG_PASSWORD and BS_PG_PASSWORD_FILE, not both");
  }
  if (c.store_timeout_ms <= 0) {
    throw std::invalid_argument("--store-timeout-ms must be a positive number");
  }
  if (c.pg_statement_timeout_ms <= 0) {
    throw std::invalid_argument("BS_PG_STATEMENT_TIMEOUT_MS must be a positive number");
  }
  if (c.sqlite_synchronous != "full" && c.sqlite_synchronous != "normal") {
    throw std::invalid_argument("BS_SQLITE_SYNCHRONOUS must be full or normal");
  }
  if (c.sqlite_inbox_merge_rows < 0) {
    throw std::invalid_argument("BS_SQLITE_INBOX_MERGE_ROWS must be a positive whole number");
  }
  if (c.threads == 0) c.threads = std::max(1u, std::thread::hardware_concurrency());
  if (c.concurrency == 0) c.concurrency = c.peer_url.empty() ? 2 : 8;
  if (c.keys_file.empty()) c.keys_file = "keys.csv";
  if (c.host.empty()) c.host = c.clients_file.empty() ? "127.0.0.1" : "0.0.0.0";
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    throw std::invalid_argument(
        "--tls-cert and --tls-key go together (env BS_TLS_CERT, BS_TLS_KEY)");
  }
  if (c.audit_retention_days < 0 || c.audit_prune_interval_ms < 100 ||
      c.refusal_audit_window_ms < 100) {
    throw std::invalid_argument(
        "--audit-retention-days must be 0 (keep) or more; BS_AUDIT_PRUNE_INTERVAL_MS and "
        "BS_REFUSAL_AUDIT_WINDOW_MS at least 100");
  }
  if (!http::parse_tls_profile(c.tls_profile)) {
    throw std::invalid_argument(
        "--tls-profile must be intermediate or modern (env BS_TLS_PROFILE)");
  }
  if (!c.tls_client_ca.empty() && c.tls_cert.empty()) {
    throw std::invalid_argument("--tls-client-ca needs --tls-cert and --tls-key");
  }
  if (c.peer_cert.empty() != c.peer_key.empty()) {
    throw std::invalid_argument(
        "--peer-cert and --peer-key go together (env BS_PEER_CERT, BS_PEER_KEY)");
  }
  if (c.pod_name.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) == 0) c.pod_name = host;
  }
}

}  // namespace signer::cli
