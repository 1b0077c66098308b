// Watching the files a running service loaded its configuration from (the key set, the clients
// file), so that a change reloads it without a restart. Kubernetes updates a mounted Secret by
// swapping a symlink; a file counts as changed when the file its path resolves to has another
// device, inode, size or modification time, or appears or disappears.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace signer::reload {

// A fingerprint of `paths` as they are now (what a change compares). A missing file has one too.
std::string files_fingerprint(const std::vector<std::filesystem::path>& paths);

// Calls `tick()` every `interval` on a thread of its own until destroyed (which stops and joins
// it, without waiting out the interval).
class PeriodicThread {
 public:
  PeriodicThread(std::function<void()> tick, std::chrono::milliseconds interval);
  ~PeriodicThread();
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

 private:
  std::jthread thread_;
};

}  // namespace signer::reload
