// JSON shapes of job records and audit events: one field name everywhere, whether the bytes go to
// the SQLite `jobs`/`audit` tables, to MongoDB (through extended JSON), to the HTTP API, or to the
// audit log line.
#pragma once

#include <nlohmann/json.hpp>

#include "audit/audit_event.h"
#include "audit/job_record.h"

namespace signer::audit {

// One outcome of a job's `results`: an element of to_json(JobRecord)'s, and the body of the row
// (document) a store keeps it in.
nlohmann::json to_json(const BatchOutcome& outcome);
// Reads what to_json(BatchOutcome) wrote; members it does not know are ignored. Throws
// nlohmann::json::exception on a missing or mistyped field.
BatchOutcome batch_outcome_from_json(const nlohmann::json& json);

nlohmann::json to_json(const JobRecord& job);
// dump_line(to_json(job)) with `results` empty whatever job.results holds: the text a store keeps
// a job in. Its outcomes are rows of their own (store/store.h, save_job).
std::string job_fields_text(const JobRecord& job);
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
