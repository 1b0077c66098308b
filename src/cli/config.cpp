#include "cli/config.h"

#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace signer::cli {
namespace {

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

}  // namespace

Config config_from_environment() {
  Config c;
  c.mongo_env_url = env("BS_MONGO_URL");
  if (!c.mongo_env_url.empty()) c.store = c.mongo_env_url;
  if (const std::string store = env("BS_STORE"); !store.empty()) c.store = store;
  c.mongo_user = env("BS_MONGO_USER");
  c.mongo_password = env("BS_MONGO_PWD");
  if (const std::string dir = env("BS_KEYS_DIR"); !dir.empty()) c.keys_file = dir + "/keys.csv";
  c.port = env_int("BS_SIGNER_PORT", c.port);
  c.peer_url = env("BS_MSG_SIGNER_URL");
  c.internal_token = env("BS_INTERNAL_TOKEN");
  c.pod_name = env("BS_POD_NAME");
  if (c.pod_name.empty()) c.pod_name = env("HOSTNAME");
  c.shutdown_grace_seconds = env_int("BS_SHUTDOWN_GRACE_SECONDS", c.shutdown_grace_seconds);
  if (const std::string level = env("BS_LOG_LEVEL"); !level.empty()) c.log_level = level;
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
  if (c.threads == 0) c.threads = std::max(1u, std::thread::hardware_concurrency());
  if (c.concurrency == 0) c.concurrency = c.peer_url.empty() ? 2 : 8;
  if (c.keys_file.empty()) c.keys_file = "keys.csv";
  if (c.pod_name.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) == 0) c.pod_name = host;
  }
}

}  // namespace signer::cli
