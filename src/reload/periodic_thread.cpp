#include "reload/periodic_thread.h"

#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace signer::reload {

PeriodicThread::PeriodicThread(std::function<void()> tick, std::chrono::milliseconds interval) {
  thread_ = std::jthread([tick = std::move(tick), interval](std::stop_token stop) {
    std::mutex sleep_mutex;
    std::condition_variable_any woken;
    std::unique_lock sleeping(sleep_mutex);
    // Sleeps `interval`, or until stop is requested.
    while (!woken.wait_for(sleeping, stop, interval, [] { return false; }) &&
           !stop.stop_requested()) {
      tick();
    }
  });
}

PeriodicThread::~PeriodicThread() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace signer::reload
