#include "http/json_views.h"

namespace signer::http {

nlohmann::json to_json(const signing::BatchResult& r) {
  return {{"batch", r.batch},
          {"batches", r.batch_count},
          {"key", r.key},
          {"key_index", r.key_index},
          {"signed", r.signed_count},
          {"already_signed", r.already_signed},
          {"failed", r.failed},
          {"failed_ids", r.failed_ids},
          {"ms", r.ms},
          {"interrupted", r.interrupted},
          {"pod", r.pod}};
}

signing::BatchResult batch_result_from_json(const nlohmann::json& j) {
  signing::BatchResult r;
  r.batch = j.at("batch").get<std::uint64_t>();
  r.batch_count = j.at("batches").get<std::uint64_t>();
  r.key = j.at("key").get<std::string>();
  r.key_index = j.at("key_index").get<std::size_t>();
  r.signed_count = j.at("signed").get<std::uint64_t>();
  r.already_signed = j.at("already_signed").get<std::uint64_t>();
  r.failed = j.at("failed").get<std::uint64_t>();
  r.failed_ids = j.value("failed_ids", std::vector<std::string>{});
  r.ms = j.at("ms").get<std::uint64_t>();
  r.interrupted = j.at("interrupted").get<bool>();
  r.pod = j.value("pod", "");
  return r;
}

int batch_error_status(const store::StoreError& error) {
  switch (error.kind()) {
    case store::ErrorKind::kInvalid: return 500;
    case store::ErrorKind::kFull: return 507;
    case store::ErrorKind::kUnavailable:
    case store::ErrorKind::kConflict: return 503;
  }
  return 503;
}

nlohmann::json batch_error_json(const store::StoreError& error) {
  nlohmann::json body = {
      {"error",
       std::string("store ") + std::string(store::to_string(error.kind())) + ": " + error.what()},
      {"store_error", std::string(store::to_string(error.kind()))}};
  if (const auto* run = dynamic_cast<const signing::BatchRunError*>(&error)) {
    body["signed"] = run->signed_count();
    body["already_signed"] = run->already_signed();
  }
  return body;
}

signing::BatchFailure batch_failure_from_json(int status, bool has_retry_after,
                                              const nlohmann::json& body) {
  signing::BatchFailure failure;
  failure.retryable = status >= 500 || status == 429 || status == 408;
  failure.busy = status == 503 && has_retry_after;
  if (!body.is_object()) return failure;
  const std::string kind = body.value("store_error", std::string());
  if (kind == "unavailable") failure.store = signing::StoreFault::kUnavailable;
  if (kind == "full") {
    failure.store = signing::StoreFault::kFull;
    failure.retryable = false;
  }
  const auto count = [&](const char* key) -> std::uint64_t {
    return body.contains(key) && body[key].is_number_unsigned() ? body[key].get<std::uint64_t>()
                                                                : 0;
  };
  failure.signed_before = count("signed");
  failure.already_signed_before = count("already_signed");
  return failure;
}

nlohmann::json to_json(const signing::JobSnapshot& s) {
  nlohmann::json failed = nlohmann::json::array();
  for (const auto& f : s.failed) {
    failed.push_back({{"batch", f.batch},
                      {"key_index", f.key_index},
                      {"attempts", f.attempts},
                      {"error", f.error}});
  }
  nlohmann::json out = {{"id", s.id},
                        {"state", std::string(signing::to_string(s.state))},
                        {"mode", s.mode},
                        {"scheme", s.scheme},
                        {"batch_size", s.batch_size},
                        {"unsigned_at_start", s.unsigned_at_start},
                        {"batches", s.batches},
                        {"keys", s.keys},
                        {"batches_done", s.batches_done},
                        {"batches_failed", s.batches_failed},
                        {"retries", s.retries},
                        {"batches_by_pod", s.batches_by_pod},
                        {"records_signed", s.records_signed},
                        {"already_signed", s.already_signed},
                        {"elapsed_seconds", s.elapsed_seconds},
                        {"records_per_second", s.records_per_second},
                        {"started_unix_ms", s.started_unix_ms},
                        {"failed", failed},
                        {"failed_omitted", s.failed_omitted},
                        {"records_invalid", s.records_invalid},
                        {"invalid_ids", s.invalid_ids},
                        {"error", s.error}};
  out["unsigned_at_end"] = s.unsigned_at_end ? nlohmann::json(*s.unsigned_at_end) : nullptr;
  out["left_from_start"] = s.left_from_start ? nlohmann::json(*s.left_from_start) : nullptr;
  return out;
}

nlohmann::json stats_json(const store::Counts& counts,
                          const std::optional<signing::JobSnapshot>& job) {
  return {{"signed_records", counts.signed_records},
          {"unsigned_records", counts.unsigned_records},
          {"job", job ? to_json(*job) : nlohmann::json(nullptr)}};
}

}  // namespace signer::http
