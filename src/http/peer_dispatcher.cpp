#include "http/peer_dispatcher.h"

#include <httplib.h>

#include "http/json_views.h"

namespace signer::http {

PeerDispatcher::PeerDispatcher(PeerDispatcherOptions options) : options_(std::move(options)) {}

PeerDispatcher::~PeerDispatcher() = default;

std::unique_ptr<httplib::Client> PeerDispatcher::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto client = std::move(idle_.back());
      idle_.pop_back();
      return client;
    }
  }
  auto client = options_.client_cert_file.empty()
                    ? std::make_unique<httplib::Client>(options_.base_url)
                    : std::make_unique<httplib::Client>(
                          options_.base_url, options_.client_cert_file, options_.client_key_file);
  if (options_.base_url.rfind("https://", 0) == 0) {
    if (!options_.ca_file.empty()) client->set_ca_cert_path(options_.ca_file);
    client->enable_server_certificate_verification(true);
  }
  client->set_keep_alive(true);
  client->set_connection_timeout(static_cast<time_t>(options_.connect_timeout.count()));
  client->set_read_timeout(static_cast<time_t>(options_.batch_timeout.count()));
  client->set_write_timeout(static_cast<time_t>(options_.connect_timeout.count()));
  return client;
}

void PeerDispatcher::release(std::unique_ptr<httplib::Client> client) {
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(client));
}

signing::BatchResult PeerDispatcher::dispatch(const signing::BatchSpec& spec, std::stop_token) {
  // The job id is validated where it is made (audit/job_id.h): only [a-z0-9-], and a scheme's
  // name is [a-z0-9:_-] and its fingerprint hex (schemes/): no escaping needed.
  std::string query;
  const auto add_param = [&](std::string_view name, const std::string& value) {
    query += query.empty() ? '?' : '&';
    query.append(name).append("=").append(value);
  };
  if (!spec.job_id.empty()) add_param("job", spec.job_id);
  // A raw batch asks exactly what it asked before the schemes, so an older pod still serves it.
  if (spec.scheme.kind() != schemes::SchemeKind::kRaw) add_param("scheme", spec.scheme.name());
  if (const schemes::TypedDataScheme* typed = spec.scheme.typed_data()) {
    // The pod must sign under the same scheme file, not one that merely has the same name.
    add_param("scheme_fingerprint", typed->fingerprint());
  }
  const std::string path = "/batch/" + std::to_string(spec.batch) + "/" +
                           std::to_string(spec.batch_count) + "/" +
                           spec.key_set->at(spec.key_index).public_key() + query;
  httplib::Headers headers;
  if (!options_.internal_token.empty())
    headers.emplace("X-Internal-Token", options_.internal_token);

  auto client = acquire();
  auto res = client->Get(path, headers);
  if (!res) {
    // The connection may be broken; do not return it to the pool.
    throw signing::BatchError(options_.base_url + ": " + httplib::to_string(res.error()),
                              signing::BatchFailure{.retryable = true, .no_pod = true});
  }
  const int status = res->status;
  const bool has_retry_after = res->has_header("Retry-After");
  std::string body = res->body;
  release(std::move(client));

  nlohmann::json json = nlohmann::json::parse(body, nullptr, false);
  if (status == 200) {
    try {
      return batch_result_from_json(json);
    } catch (const nlohmann::json::exception& e) {
      throw signing::BatchError("peer sent a malformed batch result: " + std::string(e.what()),
                                true);
    }
  }
  const bool from_pod = json.is_object() && json.contains("error") && json["error"].is_string();
  const std::string message = from_pod ? json["error"].get<std::string>() : body.substr(0, 200);
  signing::BatchFailure failure = batch_failure_from_json(status, has_retry_after, json);
  // The load balancer in front of the pods had none to ask: a 502 (a pod never sends one), or a
  // 503 that is not a pod's JSON answer.
  failure.no_pod = status == 502 || (status == 503 && !from_pod);
  throw signing::BatchError("peer answered " + std::to_string(status) + ": " + message, failure);
}

}  // namespace signer::http
