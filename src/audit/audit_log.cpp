#include "audit/audit_log.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "audit/audit_json.h"

namespace signer::audit {

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void AuditLog::record(const AuditEvent& event) {
  AuditEvent stamped = event;
  if (stamped.time_unix_ms == 0) stamped.time_unix_ms = unix_ms_now();
  spdlog::info("audit {}", dump_line(to_json(stamped)));
  try {
    store_.append_audit(stamped);
  } catch (const std::exception& e) {
    spdlog::error("audit event for {} {} not stored: {}", stamped.route, stamped.job_id, e.what());
  }
}

}  // namespace signer::audit
