// A thread that runs a task every interval until it is destroyed: the watchers of reloadable
// files and the audit trail's background work (aggregated refusals, retention).
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace signer::reload {

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
