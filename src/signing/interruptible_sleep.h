// A sleep that a std::stop_token cuts short: retry backoff, busy waits, shutdown deadlines.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace signer::signing {

// Sleeps for `duration`, waking early when `stop` is requested. Returns true when it woke
// because of `stop`, false when the whole duration passed.
template <typename Rep, typename Period>
bool interruptible_sleep(std::stop_token stop, std::chrono::duration<Rep, Period> duration) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait_for(lock, stop, duration, [] { return false; });
  return stop.stop_requested();
}

}  // namespace signer::signing
