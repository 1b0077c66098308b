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
nlohmann::json to_json(const signing::JobSnapshot& job);
// The /stats body: the seed's signed_records and unsigned_records, plus the job's progress.
nlohmann::json stats_json(const store::Counts& counts,
                          const std::optional<signing::JobSnapshot>& job);

}  // namespace signer::http
