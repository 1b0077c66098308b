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
  return out;
}

nlohmann::json stats_json(const store::Counts& counts,
                          const std::optional<signing::JobSnapshot>& job) {
  return {{"signed_records", counts.signed_records},
          {"unsigned_records", counts.unsigned_records},
          {"job", job ? to_json(*job) : nlohmann::json(nullptr)}};
}

}  // namespace signer::http
