#include "store/store.h"

#include "audit/audit_json.h"

namespace signer::store {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUnavailable: return "unavailable";
    case ErrorKind::kConflict: return "conflict";
    case ErrorKind::kInvalid: return "invalid";
    case ErrorKind::kFull: return "full";
  }
  return "unknown";
}

void add_conflict(IngestResult& result, std::size_t position, std::string_view id,
                  bool within_call) {
  ++result.conflicts;
  if (result.conflict_list.size() < kMaxListedConflicts) {
    result.conflict_list.push_back({position, std::string(id), within_call});
  }
}

namespace {

template <typename T, typename Parse>
T parse_body(const std::string& body, std::string_view where, Parse parse) {
  try {
    return parse(nlohmann::json::parse(body));
  } catch (const std::exception& e) {
    throw StoreError(ErrorKind::kInvalid,
                     "unreadable row in " + std::string(where) + ": " + e.what());
  }
}

}  // namespace

audit::JobRecord job_from_stored_body(const std::string& body, std::string_view where) {
  return parse_body<audit::JobRecord>(body, where, audit::job_record_from_json);
}

audit::BatchOutcome outcome_from_stored_body(const std::string& body, std::string_view where) {
  return parse_body<audit::BatchOutcome>(body, where, audit::batch_outcome_from_json);
}

audit::AuditEvent audit_event_from_stored_body(const std::string& body, std::string_view where) {
  return parse_body<audit::AuditEvent>(body, where, audit::audit_event_from_json);
}

std::vector<audit::AuditEvent> audit_events_from_stored_bodies(
    const std::vector<std::string>& bodies, std::string_view where) {
  std::vector<audit::AuditEvent> events;
  for (const std::string& body : bodies) {
    events.push_back(audit_event_from_stored_body(body, where));
  }
  return events;
}

}  // namespace signer::store
