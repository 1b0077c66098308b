#include "reload/file_watcher.h"

#include <sys/stat.h>

#include <condition_variable>
#include <mutex>

namespace signer::reload {

std::string files_fingerprint(const std::vector<std::filesystem::path>& paths) {
  std::string out;
  for (const std::filesystem::path& path : paths) {
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
