#include "audit/audit_json.h"

#include <stdexcept>

namespace signer::audit {
namespace {

nlohmann::json optional_json(const std::optional<std::uint64_t>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// Fields added after the first release: a record saved before them has none.
std::optional<std::uint64_t> optional_count(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return j.at(key).get<std::uint64_t>();
}

// Every field of the record but `results`.
nlohmann::json job_fields_json(const JobRecord& job) {
  nlohmann::json keys = nlohmann::json::array();
  for (const KeyGrant& k : job.keys) {
    keys.push_back({{"index", k.index}, {"address", k.address}, {"public_key", k.public_key}});
  }
  nlohmann::json parameters = {
      {"batch_size", job.batch_size}, {"keys", keys}, {"scheme", job.scheme}};
  if (!job.scheme_fingerprint.empty()) parameters["scheme_fingerprint"] = job.scheme_fingerprint;
  return {{"id", job.id},
          {"started_by", job.started_by},
          {"remote_addr", job.remote_addr},
          {"parameters", std::move(parameters)},
          {"state", std::string(to_string(job.state))},
          {"unsigned_at_start", job.unsigned_at_start},
          {"batches", job.batches},
          {"records_signed", job.records_signed},
          {"already_signed", job.already_signed},
          {"records_invalid", job.records_invalid},
          {"started_unix_ms", job.started_unix_ms},
          {"ended_unix_ms", job.ended_unix_ms},
          {"unsigned_at_end", optional_json(job.unsigned_at_end)},
          {"left_from_start", optional_json(job.left_from_start)},
          {"error", job.error}};
}

}  // namespace

nlohmann::json to_json(const BatchOutcome& b) {
  return {{"batch", b.batch},         {"pod", b.pod},
          {"key_index", b.key_index}, {"key_address", b.key_address},
          {"signed", b.signed_count}, {"already_signed", b.already_signed},
          {"attempts", b.attempts},   {"error", b.error}};
}

BatchOutcome batch_outcome_from_json(const nlohmann::json& b) {
  return {b.at("batch").get<std::uint64_t>(),   b.at("pod").get<std::string>(),
          b.at("key_index").get<std::size_t>(), b.at("key_address").get<std::string>(),
          b.at("signed").get<std::uint64_t>(),  b.at("already_signed").get<std::uint64_t>(),
          b.at("attempts").get<int>(),          b.at("error").get<std::string>()};
}

nlohmann::json to_json(const JobRecord& job) {
  nlohmann::json out = job_fields_json(job);
  nlohmann::json& results = out["results"] = nlohmann::json::array();
  for (const BatchOutcome& b : job.results) results.push_back(to_json(b));
  return out;
}

std::string job_fields_text(const JobRecord& job) {
  nlohmann::json out = job_fields_json(job);
  out["results"] = nlohmann::json::array();
  return dump_line(out);
}

JobRecord job_record_from_json(const nlohmann::json& j) {
  JobRecord job;
  job.id = j.at("id").get<std::string>();
  job.started_by = j.at("started_by").get<std::string>();
  job.remote_addr = j.at("remote_addr").get<std::string>();
  const nlohmann::json& parameters = j.at("parameters");
  job.batch_size = parameters.at("batch_size").get<std::uint64_t>();
  for (const nlohmann::json& k : parameters.at("keys")) {
    job.keys.push_back({k.at("index").get<std::size_t>(), k.at("address").get<std::string>(),
                        k.at("public_key").get<std::string>()});
  }
  // Jobs saved before the schemes signed raw.
  job.scheme = parameters.value("scheme", std::string("raw"));
  job.scheme_fingerprint = parameters.value("scheme_fingerprint", std::string());
  const auto state = job_state_from_string(j.at("state").get<std::string>());
  if (!state) throw std::invalid_argument("unknown job state " + j.at("state").dump());
  job.state = *state;
  job.unsigned_at_start = j.at("unsigned_at_start").get<std::uint64_t>();
  job.batches = j.at("batches").get<std::uint64_t>();
  // A job saved before its outcomes had rows of their own holds them here.
  for (const nlohmann::json& b : j.at("results")) job.results.push_back(batch_outcome_from_json(b));
  job.records_signed = j.at("records_signed").get<std::uint64_t>();
  job.already_signed = optional_count(j, "already_signed").value_or(0);
  job.records_invalid = optional_count(j, "records_invalid").value_or(0);
  job.started_unix_ms = j.at("started_unix_ms").get<std::int64_t>();
  job.ended_unix_ms = j.at("ended_unix_ms").get<std::int64_t>();
  job.unsigned_at_end = optional_count(j, "unsigned_at_end");
  job.left_from_start = optional_count(j, "left_from_start");
  job.error = j.value("error", std::string());
  return job;
}

nlohmann::json to_json(const AuditEvent& e) {
  return {{"time", e.time_unix_ms},
          {"client", e.client},
          {"remote_addr", e.remote_addr},
          {"route", e.route},
          {"outcome", e.outcome},
          {"count", e.count},
          {"job_id", e.job_id},
          {"batch", e.batch ? nlohmann::json(*e.batch) : nlohmann::json(nullptr)},
          {"key_addresses", e.key_addresses},
          {"detail", e.detail}};
}

AuditEvent audit_event_from_json(const nlohmann::json& j) {
  AuditEvent e;
  e.time_unix_ms = j.at("time").get<std::int64_t>();
  e.client = j.at("client").get<std::string>();
  e.remote_addr = j.at("remote_addr").get<std::string>();
  e.route = j.at("route").get<std::string>();
  e.outcome = j.at("outcome").get<std::string>();
  e.count = j.at("count").get<std::uint64_t>();
  e.job_id = j.at("job_id").get<std::string>();
  if (j.contains("batch") && !j.at("batch").is_null()) e.batch = j.at("batch").get<std::uint64_t>();
  e.key_addresses = j.at("key_addresses").get<std::vector<std::string>>();
  e.detail = j.at("detail").get<std::string>();
  return e;
}

std::string dump_line(const nlohmann::json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace signer::audit
