// JSON shapes of job records and audit events: one field name everywhere, whether the bytes go to
// the SQLite `jobs`/`audit` tables, to MongoDB (through extended JSON), to the HTTP API, or to the
// audit log line.
#pragma once

#include <nlohmann/json.hpp>

#include "audit/audit_event.h"
#include "audit/job_record.h"

namespace signer::audit {

nlohmann::json to_json(const JobRecord& job);
// dump_line(to_json(job)), the text the stores keep, written without the tree of `results`: one
// outcome's tree at a time. A job's record holds an outcome a batch, and a tree costs ~800 bytes an
// outcome to the ~170 of its text.
std::string job_record_text(const JobRecord& job);
// Reads what to_json(JobRecord) wrote. Throws nlohmann::json::exception on a missing or mistyped
// field, and std::invalid_argument on an unknown state.
JobRecord job_record_from_json(const nlohmann::json& json);

// `batch` is null when the event has none.
nlohmann::json to_json(const AuditEvent& event);
// Reads what to_json(AuditEvent) wrote. Throws nlohmann::json::exception on a missing or
// mistyped field.
AuditEvent audit_event_from_json(const nlohmann::json& json);

// Compact one-line text; invalid UTF-8 is replaced, never thrown on.
std::string dump_line(const nlohmann::json& json);

}  // namespace signer::audit
