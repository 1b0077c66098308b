// A piece of configuration that a running service reloads without a restart: the key set and the
// clients file. A reload (SIGHUP, or a change to any file the value was loaded from) loads and
// checks a whole new value before swapping it in; a reload that fails keeps the old value and
// says why (status(), for /readyz and /metrics). Readers take a shared_ptr to the current value,
// so a value in use (a running job's key set, a request's clients) is never changed under them;
// the value before the current one stays available until the next reload.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "reload/files_fingerprint.h"
#include "reload/periodic_thread.h"

namespace signer::reload {

struct ReloadStatus {
  std::uint64_t version = 0;
  std::size_t items = 0;             // keys in the set, clients in the file
  std::uint64_t reloads = 0;         // successful, since start
  std::uint64_t failed_reloads = 0;  // since start
  std::string last_error;            // of the last reload, "" when it succeeded
  std::int64_t last_attempt_unix_ms = 0;
};

template <typename T>
class Reloadable {
 public:
  // A loaded value and the files it was loaded from (whose change calls for a reload).
  struct Loaded {
    std::shared_ptr<const T> value;
    std::vector<std::filesystem::path> files;
  };
  // Loads the value with the given version; throws (anything derived from std::exception) when it
  // cannot, or when the value fails a check. An empty value is refused unless `allow_empty`.
  using Loader = std::function<Loaded(std::uint64_t version)>;
  // Called after a reload swapped `after` in for `before`, on the reloading thread.
  using Observer = std::function<void(const T& before, const T& after)>;

  // `what` names the value in logs ("key set", "clients file"); `size` counts its items. Loads
  // version 1 through `loader`; a failure propagates (the service does not start without it).
  Reloadable(std::string what, Loader loader, std::function<std::size_t(const T&)> size,
             bool allow_empty)
      : what_(std::move(what)),
        loader_(std::move(loader)),
        size_(std::move(size)),
        allow_empty_(allow_empty) {
    Loaded loaded = loader_(1);
    watched_ = std::move(loaded.files);
    fingerprint_ = files_fingerprint(watched_);
    current_ = std::move(loaded.value);
    status_.version = 1;
    status_.items = size_(*current_);
    status_.last_attempt_unix_ms = now_unix_ms();
  }
  ~Reloadable() { watcher_.reset(); }
  Reloadable(const Reloadable&) = delete;
  Reloadable& operator=(const Reloadable&) = delete;

  std::shared_ptr<const T> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  // The value the last reload replaced; nullptr before the first reload.
  std::shared_ptr<const T> previous() const {
    std::lock_guard lock(mutex_);
    return previous_;
  }
  ReloadStatus status() const {
    std::lock_guard lock(mutex_);
    return status_;
  }
  void on_reload(Observer observer) {
    std::lock_guard serial(reload_mutex_);
    observer_ = std::move(observer);
  }

  // Loads a new value and swaps it in. Returns "" on success, else the reason (the old value
  // stays). Serialised: two reloads never run at once.
  std::string reload(std::string_view why) {
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
      if (!allow_empty_ && size_(*loaded.value) == 0) error = "the new " + what_ + " is empty";
    } catch (const std::exception& e) {
      error = e.what();
    }
    std::shared_ptr<const T> before;
    {
      std::lock_guard lock(mutex_);
      status_.last_attempt_unix_ms = now_unix_ms();
      status_.last_error = error;
      if (!error.empty()) {
        ++status_.failed_reloads;
        spdlog::error("{} reload ({}) failed, keeping version {} ({} items): {}", what_, why,
                      status_.version, status_.items, error);
        return error;
      }
      previous_ = std::move(current_);
      current_ = std::move(loaded.value);
      before = previous_;
      watched_ = std::move(loaded.files);
      fingerprint_ = files_fingerprint(watched_);
      status_.version = next;
      status_.items = size_(*current_);
      ++status_.reloads;
      spdlog::info("{} reload ({}): version {} with {} items", what_, why, next, status_.items);
    }
    if (observer_) observer_(*before, *current());
    return "";
  }

  // Reloads whenever one of the files of the current value changes (checked every `interval`)
  // from what they were when it was loaded. A failed reload is not retried until the files change
  // again (or SIGHUP).
  void watch(std::chrono::milliseconds interval) {
    watcher_ = std::make_unique<PeriodicThread>(
        [this] {
          {
            std::lock_guard lock(mutex_);
            const std::string now = files_fingerprint(watched_);
            if (now == fingerprint_) return;
            fingerprint_ = now;
          }
          reload(what_ + " files changed");
        },
        interval);
  }

 private:
  static std::int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  std::string what_;
  Loader loader_;
  std::function<std::size_t(const T&)> size_;
  bool allow_empty_;
  Observer observer_;  // guarded by reload_mutex_
  std::vector<std::filesystem::path> watched_;
  std::string fingerprint_;  // of watched_, when the current value was loaded (or last seen)
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;
  std::shared_ptr<const T> previous_;
  ReloadStatus status_;
  std::mutex reload_mutex_;
  std::unique_ptr<PeriodicThread> watcher_;  // declared last: stopped first
};

}  // namespace signer::reload
