// Refusals of requests without a known credential, aggregated, so that a flood of them cannot grow
// the audit trail without bound. Per (remote address, route, outcome) the first refusal is written
// at once; the ones after it are counted and written as one event carrying the count when its
// minute has passed, and the next minute starts then. A key with nothing new for a whole window is
// forgotten, so its next refusal is written at once again. A key therefore gets at most one event
// per window. Past `max_keys` keys at once (many addresses), new keys share one aggregate under
// the address "*". Refusals of an identified client (a missing role) are not aggregated: the
// caller audits each of them like any authenticated request.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "audit/audit_event.h"
#include "audit/audit_log.h"
#include "reload/periodic_thread.h"

namespace signer::audit {

class RefusalAggregator {
 public:
  using Clock = std::function<std::int64_t()>;  // milliseconds since the epoch

  // Writes through `log`. Checks for windows that ended every `tick` on a thread of its own
  // (none when `tick` is zero: flush() is then the caller's to call).
  RefusalAggregator(AuditLog& log, std::chrono::milliseconds window, std::chrono::milliseconds tick,
                    std::size_t max_keys = 10'000, Clock clock = unix_ms_now);
  // Writes what is still counted.
  ~RefusalAggregator();
  RefusalAggregator(const RefusalAggregator&) = delete;
  RefusalAggregator& operator=(const RefusalAggregator&) = delete;

  // One refusal: its remote_addr, route and outcome make the key; its client and detail are
  // written with the key's events.
  void refused(const AuditEvent& event);

  // Writes the count of every window that has ended by now, and forgets idle keys.
  void flush();

 private:
  struct Window {
    std::int64_t start = 0;
    std::uint64_t more = 0;  // refusals since the window's event
    AuditEvent last;         // the latest refusal of the key, as a template for its event
  };

  AuditLog& log_;
  const std::int64_t window_ms_;
  const std::size_t max_keys_;
  Clock clock_;
  std::mutex mutex_;
  std::map<std::string, Window> windows_;           // by address, route and outcome
  std::unique_ptr<reload::PeriodicThread> ticker_;  // declared last: stopped first
};

}  // namespace signer::audit
