// Keeps the audit trail within a retention period (`--audit-retention-days`): deletes the events
// older than it from the store once at start and then every interval, on a thread of its own. A
// store that is down is tried again at the next interval. Jobs and signed records are kept.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "reload/periodic_thread.h"
#include "store/store.h"

namespace signer::audit {

class AuditRetention {
 public:
  AuditRetention(store::Store& store, std::chrono::milliseconds keep,
                 std::chrono::milliseconds interval);
  ~AuditRetention();
  AuditRetention(const AuditRetention&) = delete;
  AuditRetention& operator=(const AuditRetention&) = delete;

  // Deletes the events older than the retention now. Returns how many; never throws (a store
  // failure is logged).
  std::uint64_t prune();

 private:
  store::Store& store_;
  std::chrono::milliseconds keep_;
  std::unique_ptr<reload::PeriodicThread> ticker_;
};

}  // namespace signer::audit
