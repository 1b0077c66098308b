#include "audit/audit_retention.h"

#include <spdlog/spdlog.h>

#include "audit/audit_log.h"

namespace signer::audit {

AuditRetention::AuditRetention(store::Store& store, std::chrono::milliseconds keep,
                               std::chrono::milliseconds interval)
    : store_(store), keep_(keep) {
  prune();
  ticker_ = std::make_unique<reload::PeriodicThread>([this] { prune(); }, interval);
}

AuditRetention::~AuditRetention() { ticker_.reset(); }

std::uint64_t AuditRetention::prune() {
  const std::int64_t before = unix_ms_now() - keep_.count();
  try {
    const std::uint64_t deleted = store_.prune_audit(before);
    if (deleted > 0) {
      spdlog::info("audit retention: deleted {} events older than {} days", deleted,
                   keep_.count() / 86'400'000);
    }
    return deleted;
  } catch (const std::exception& e) {
    spdlog::warn("audit retention: could not prune the audit trail ({}); trying again later",
                 e.what());
    return 0;
  }
}

}  // namespace signer::audit
