#include "audit/refusal_aggregator.h"

#include <vector>

namespace signer::audit {
namespace {

// The address of the aggregate that new keys share past the key limit.
constexpr std::string_view kSharedAddress = "*";

std::string key_of(const AuditEvent& e) {
  std::string key;
  key.reserve(e.remote_addr.size() + e.route.size() + e.outcome.size() + 2);
  key.append(e.remote_addr).append(1, '\n').append(e.route).append(1, '\n').append(e.outcome);
  return key;
}

}  // namespace

RefusalAggregator::RefusalAggregator(AuditLog& log, std::chrono::milliseconds window,
                                     std::chrono::milliseconds tick, std::size_t max_keys,
                                     Clock clock)
    : log_(log), window_ms_(window.count()), max_keys_(max_keys), clock_(std::move(clock)) {
  if (tick.count() > 0) {
    ticker_ = std::make_unique<reload::PeriodicThread>([this] { flush(); }, tick);
  }
}

RefusalAggregator::~RefusalAggregator() {
  ticker_.reset();
  std::vector<AuditEvent> pending;
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, w] : windows_) {
      if (w.more == 0) continue;
      AuditEvent e = w.last;
      e.count = w.more;
      pending.push_back(std::move(e));
    }
    windows_.clear();
  }
  for (const AuditEvent& e : pending) log_.record(e);
}

void RefusalAggregator::refused(const AuditEvent& event) {
  const std::int64_t now = clock_();
  AuditEvent first;
  {
    std::lock_guard lock(mutex_);
    std::string key = key_of(event);
    auto it = windows_.find(key);
    if (it == windows_.end() && windows_.size() >= max_keys_) {
      // Too many addresses at once: the rest share one aggregate.
      AuditEvent shared = event;
      shared.remote_addr = std::string(kSharedAddress);
      key = key_of(shared);
      it = windows_.find(key);
      if (it == windows_.end()) it = windows_.emplace(key, Window{now, 0, shared}).first;
      ++it->second.more;
      it->second.last = shared;
      return;
    }
    if (it != windows_.end()) {
      ++it->second.more;
      it->second.last = event;
      return;
    }
    windows_.emplace(std::move(key), Window{now, 0, event});
    first = event;
    first.count = 1;
  }
  log_.record(first);
}

void RefusalAggregator::flush() {
  const std::int64_t now = clock_();
  std::vector<AuditEvent> due;
  {
    std::lock_guard lock(mutex_);
    for (auto it = windows_.begin(); it != windows_.end();) {
      Window& w = it->second;
      if (now - w.start < window_ms_) {
        ++it;
        continue;
      }
      if (w.more == 0) {
        it = windows_.erase(it);
        continue;
      }
      AuditEvent e = w.last;
      e.count = w.more;
      e.time_unix_ms = 0;
      e.detail.append(" (")
          .append(std::to_string(w.more))
          .append(" refusals since the last event of this kind)");
      due.push_back(std::move(e));
      w.start = now;
      w.more = 0;
      ++it;
    }
  }
  for (const AuditEvent& e : due) log_.record(e);
}

}  // namespace signer::audit
