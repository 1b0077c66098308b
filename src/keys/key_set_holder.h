// The current key set of a running signer, and its reloads. A reload (SIGHUP, or a change to any
// file the set was loaded from) loads a whole new set and checks it before swapping it in; a
// reload that fails keeps the old set and says why (status(), for /readyz and /metrics).
// Jobs hold the set they started with (a shared_ptr), so a running job is never touched; new
// jobs take current(). The set before the current one stays findable by public key
// (find_set_with) until the next reload, so a batch a peer pod sends for a job it started before
// its own reload is still signed with the job's key.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "keys/key_set.h"

namespace signer::keys {

class KeySetHolder {
 public:
  // A loaded set and the files it was loaded from (whose change calls for a reload).
  struct Loaded {
    std::shared_ptr<const KeySet> set;
    std::vector<std::filesystem::path> files;
  };
  // Loads a set with the given version; throws (anything derived from std::exception) on failure.
  using Loader = std::function<Loaded(std::uint64_t version)>;

  // Loads version 1 through `loader`; a failure propagates (a signer without keys does not
  // start).
  explicit KeySetHolder(Loader loader);
  ~KeySetHolder();
  KeySetHolder(const KeySetHolder&) = delete;
  KeySetHolder& operator=(const KeySetHolder&) = delete;

  // The set new jobs sign with.
  std::shared_ptr<const KeySet> current() const;

  // The current set when it holds `selector` (index, public key or address), else the previous
  // one when that does; nullptr when neither does.
  std::shared_ptr<const KeySet> find_set_with(std::string_view selector) const;

  struct Status {
    std::uint64_t version = 0;
    std::size_t keys = 0;
    std::uint64_t reloads = 0;         // successful, since start
    std::uint64_t failed_reloads = 0;  // since start
    std::string last_error;            // of the last reload, "" when it succeeded
    std::int64_t last_attempt_unix_ms = 0;
  };
  Status status() const;

  // Loads a new set and swaps it in. Returns "" on success, else the reason (the old set stays).
  // Serialised: two reloads never run at once.
  std::string reload(std::string_view why);

  // Starts a thread that checks the watched files every `interval` (inode, size and mtime of the
  // file each path resolves to, so a swapped Secret symlink counts) and reloads on a change.
  void watch(std::chrono::milliseconds interval);

 private:
  std::string fingerprint() const;  // caller holds mutex_

  Loader loader_;
  std::vector<std::filesystem::path> watched_;
  mutable std::mutex mutex_;
  std::shared_ptr<const KeySet> current_;
  std::shared_ptr<const KeySet> previous_;
  Status status_;
  std::mutex reload_mutex_;
  std::string last_fingerprint_;
  std::jthread watcher_;
};

}  // namespace signer::keys
