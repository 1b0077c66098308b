#include "keys/key_set_holder.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>

namespace signer::keys {
namespace {

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

KeySetHolder::KeySetHolder(Loader loader) : loader_(std::move(loader)) {
  Loaded loaded = loader_(1);
  watched_ = std::move(loaded.files);
  last_fingerprint_ = fingerprint();
  current_ = std::move(loaded.set);
  status_.version = 1;
  status_.keys = current_->size();
  status_.last_attempt_unix_ms = unix_ms_now();
}

KeySetHolder::~KeySetHolder() {
  watcher_.request_stop();
  if (watcher_.joinable()) watcher_.join();
}

std::shared_ptr<const KeySet> KeySetHolder::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::shared_ptr<const KeySet> KeySetHolder::find_set_with(std::string_view selector) const {
  std::lock_guard lock(mutex_);
  if (current_->find(selector)) return current_;
  // Only a public key or an address names the same key in two sets; an index does not.
  if (previous_ && selector.size() > 20 && previous_->find(selector)) return previous_;
  return nullptr;
}

KeySetHolder::Status KeySetHolder::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

std::string KeySetHolder::reload(std::string_view why) {
  std::lock_guard serial(reload_mutex_);
  std::uint64_t next = 0;
  {
    std::lock_guard lock(mutex_);
    next = status_.version + 1;
  }
  Loaded loaded;
  std::string error;
  try {
    loaded = loader_(next);
    if (loaded.set->size() == 0) error = "the new key set has no keys";
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::lock_guard lock(mutex_);
  status_.last_attempt_unix_ms = unix_ms_now();
  status_.last_error = error;
  if (!error.empty()) {
    ++status_.failed_reloads;
    spdlog::error("key reload ({}) failed, keeping key set version {} ({} keys): {}", why,
                  status_.version, status_.keys, error);
    return error;
  }
  previous_ = std::move(current_);
  current_ = std::move(loaded.set);
  watched_ = std::move(loaded.files);
  last_fingerprint_ = fingerprint();
  status_.version = next;
  status_.keys = current_->size();
  ++status_.reloads;
  spdlog::info("key reload ({}): key set version {} with {} keys", why, next, status_.keys);
  return "";
}

std::string KeySetHolder::fingerprint() const {
  std::string out;
  for (const std::filesystem::path& path : watched_) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      out += path.string() + ":missing;";
      continue;
    }
    out += path.string() + ":" + std::to_string(st.st_dev) + "/" + std::to_string(st.st_ino) + "/" +
           std::to_string(st.st_size) + "/" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return out;
}

void KeySetHolder::watch(std::chrono::milliseconds interval) {
  watcher_ = std::jthread([this, interval](std::stop_token stop) {
    std::mutex sleep_mutex;
    std::condition_variable_any woken;
    std::unique_lock sleeping(sleep_mutex);
    // Sleeps `interval`, or until stop is requested.
    while (!woken.wait_for(sleeping, stop, interval, [] { return false; }) &&
           !stop.stop_requested()) {
      {
        std::lock_guard lock(mutex_);
        const std::string now = fingerprint();
        if (now == last_fingerprint_) continue;
        // A failed reload is not retried until the files change again (or SIGHUP).
        last_fingerprint_ = now;
      }
      reload("key files changed");
    }
  });
}

}  // namespace signer::keys
