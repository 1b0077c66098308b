// The audit trail's writer. Each event is stored (Store::append_audit, so every pod sees one
// history) and written as one JSON line to the log: `audit {"time":…,"client":…}`. Callers are
// the coordinator (job start and end), the batch worker (every batch run) and the HTTP layer
// (ingest). This folder never includes http/.
#pragma once

#include "audit/audit_event.h"
#include "store/store.h"

namespace signer::audit {

class AuditLog {
 public:
  explicit AuditLog(store::Store& store) : store_(store) {}

  // Fills time_unix_ms when it is 0, writes the log line, then stores the event. Never throws:
  // a store failure is logged as an error (the log line is already out), because losing an audit
  // row must not fail the signing it describes.
  void record(const AuditEvent& event);

 private:
  store::Store& store_;
};

// Milliseconds since the Unix epoch, now.
std::int64_t unix_ms_now();

}  // namespace signer::audit
