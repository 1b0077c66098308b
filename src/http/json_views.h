// The JSON shapes of API responses, shared by the server, the peer client and the CLI so that a
// field has one name everywhere.
#pragma once

#include <nlohmann/json.hpp>

#include "signing/batch_worker.h"
#include "signing/coordinator.h"
#include "store/store.h"

namespace signer::http {

nlohmann::json to_json(const signing::BatchResult& result);
// Throws nlohmann::json::exception when a field is missing or of the wrong type.
signing::BatchResult batch_result_from_json(const nlohmann::json& json);
// The answer to a /batch that the store failed: its status (500 invalid, 507 full, else 503), and
// a body that names the error and its kind, and says what the run moved before it failed.
int batch_error_status(const store::StoreError& error);
nlohmann::json batch_error_json(const store::StoreError& error);
// How the coordinator reads a /batch answer of status `status` with `body`: what failed and
// whether retrying may help (5xx, 429 and 408 may).
signing::BatchFailure batch_failure_from_json(int status, bool has_retry_after,
                                              const nlohmann::json& body);
nlohmann::json to_json(const signing::JobSnapshot& job);
// The /stats body: the seed's signed_records and unsigned_records, plus the job's progress.
nlohmann::json stats_json(const store::Counts& counts,
                          const std::optional<signing::JobSnapshot>& job);

}  // namespace signer::http
