#include "http/api_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "audit/audit_json.h"
#include "audit/job_id.h"
#include "audit/job_verifier.h"
#include "http/json_views.h"
#include "http/route_params.h"
#include "http/status_page.h"
#include "ingest/ingest_session.h"
#include "metrics/signer_metrics.h"
#include "records/record_json.h"

namespace signer::http {
namespace {

constexpr const char* kJson = "application/json";

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kJson);
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, {{"error", message}});
}

// Decrements a counter when a scope ends; the counter limits concurrent heavy requests.
class InFlight {
 public:
  InFlight(std::atomic<std::size_t>& counter, std::size_t limit) : counter_(counter) {
    admitted_ = counter_.fetch_add(1) < limit;
  }
  ~InFlight() { counter_.fetch_sub(1); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  bool admitted() const { return admitted_; }

 private:
  std::atomic<std::size_t>& counter_;
  bool admitted_;
};

// A low-cardinality route label for metrics: the first path segment.
std::string route_label(const std::string& path) {
  if (path == "/") return "/";
  const std::size_t end = path.find('/', 1);
  const std::string first = path.substr(0, end);
  for (const char* known : {"/sign", "/batch", "/stats", "/healthz", "/readyz", "/metrics",
                            "/records", "/keys", "/jobs", "/audit"}) {
    if (first == known) return first;
  }
  return "other";
}

bool is_internal_route(const std::string& path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics" ||
         path.rfind("/batch/", 0) == 0;
}

// Checks every client's key list against the set loaded at startup, so a typo in the clients
// file stops the start. Each job resolves the list again against the set current when it starts.
std::map<std::string, std::vector<std::string>> check_client_keys(
    const auth::ClientRegistry* clients, const keys::KeySet& keys) {
  std::map<std::string, std::vector<std::string>> lists;
  if (clients == nullptr) return lists;
  for (const auth::Client& client : clients->clients()) {
    for (const std::string& selector : client.keys) {
      if (!keys.find(selector)) {
        throw std::invalid_argument("clients file: client " + client.name + " names key " +
                                    selector + ", which is not among the " +
                                    std::to_string(keys.size()) + " loaded keys");
      }
    }
    lists.emplace(client.name, client.keys);
  }
  return lists;
}

// The key set's reload state, for /readyz and /keys.
nlohmann::json key_set_json(const keys::KeySetHolder::Status& s) {
  return {{"version", s.version},
          {"keys", s.keys},
          {"reloads", s.reloads},
          {"failed_reloads", s.failed_reloads},
          {"last_reload_error", s.last_error},
          {"last_reload_unix_ms", s.last_attempt_unix_ms}};
}

// The audit route of a job verification (POST /jobs/:id/verify).
constexpr const char* kVerifyRoute = "/jobs/verify";

constexpr std::size_t kDefaultListLimit = 20;
constexpr std::size_t kMaxListLimit = 200;

// ?limit= for the history routes: default 20, 1..200.
std::variant<std::size_t, std::string> parse_list_limit(const httplib::Request& req) {
  if (!req.has_param("limit")) return kDefaultListLimit;
  auto limit = parse_u64(req.get_param_value("limit"), "limit");
  if (auto* err = std::get_if<std::string>(&limit)) return *err;
  const std::uint64_t n = std::get<std::uint64_t>(limit);
  if (n == 0 || n > kMaxListLimit) {
    return "limit must be between 1 and " + std::to_string(kMaxListLimit);
  }
  return static_cast<std::size_t>(n);
}

}  // namespace

ApiServer::ApiServer(store::Store& store, keys::KeySetHolder& keys,
                     signing::Coordinator& coordinator, signing::BatchWorker& worker,
                     metrics::Registry& metrics, audit::AuditLog& audit, ApiServerOptions options)
    : store_(store),
      keys_(keys),
      coordinator_(coordinator),
      worker_(worker),
      metrics_(metrics),
      audit_(audit),
      options_(std::move(options)),
      gate_({is_loopback_address(options_.host), options_.allowed_origins,
             options_.metrics_require_auth, options_.internal_token},
            options_.clients),
      client_keys_(check_client_keys(options_.clients, *keys.current())),
      server_(std::make_unique<ConnectionServer>(options_.connections, options_.tls)) {
  const std::size_t threads = options_.http_threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(options_.max_body_bytes);
  install_routes(*server_, Listener::kPublic);
  if (options_.internal_port >= 0) {
    // Probes and pods only: no per-address cap (all batches may come from one proxy), and its
    // own threads, one per batch slot plus a few for probes and scrapes.
    ConnectionPolicy internal = options_.connections;
    internal.max_connections_per_client = 0;
    internal_server_ = std::make_unique<ConnectionServer>(internal, options_.tls);
    const std::size_t internal_threads =
        options_.internal_threads + options_.max_concurrent_batches;
    internal_server_->new_task_queue = [internal_threads] {
      return new httplib::ThreadPool(internal_threads);
    };
    internal_server_->set_payload_max_length(1 << 16);
    install_routes(*internal_server_, Listener::kInternal);
  }
  metrics_.set(metrics::kInsecureNoAuth, {}, options_.insecure_no_auth ? 1 : 0);
}

std::vector<std::string> ApiServer::keys_of(const Caller& caller) const {
  if (caller.client == nullptr) return {};
  const auto it = client_keys_.find(caller.name);
  return it == client_keys_.end() ? std::vector<std::string>{} : it->second;
}

ApiServer::~ApiServer() = default;

nlohmann::json ApiServer::job_json(const audit::JobRecord& job) const {
  nlohmann::json out = audit::to_json(job);
  // A finished job's last audit event is its latest verification, when it has had one.
  const auto last = store_.list_audit(job.id, 1);
  if (last.empty() || last.front().route != kVerifyRoute) {
    out["verify"] = {{"state", "unverified"}};
  } else {
    const audit::AuditEvent& e = last.front();
    out["verify"] = {
        {"state", e.outcome}, {"detail", e.detail}, {"by", e.client}, {"unix_ms", e.time_unix_ms}};
  }
  return out;
}

void ApiServer::publish_key_metrics() {
  const auto key_set = keys_.current();
  const keys::KeySetHolder::Status status = keys_.status();
  std::map<std::string, double> by_source{{"csv", 0}, {"keystore", 0}, {"pkcs11", 0}};
  for (std::size_t i = 0; i < key_set->size(); ++i) {
    by_source[std::string(keys::to_string(key_set->at(i).source()))] += 1;
  }
  for (const auto& [source, count] : by_source) {
    metrics_.set(metrics::kKeysLoaded, {{"source", source}}, count);
  }
  metrics_.set(metrics::kKeySetVersion, {}, static_cast<double>(status.version));
  metrics_.set(metrics::kKeyReloads, {{"outcome", "ok"}}, static_cast<double>(status.reloads));
  metrics_.set(metrics::kKeyReloads, {{"outcome", "failed"}},
               static_cast<double>(status.failed_reloads));
}

namespace {

// Binds `server` to host:port (any free port when 0). Returns the port, or -1.
int bind_listener(ConnectionServer& server, const std::string& host, int port) {
  if (port == 0) {
    const int bound = server.bind_to_any_port(host);
    return bound > 0 ? bound : -1;
  }
  return server.bind_to_port(host, port) ? port : -1;
}

}  // namespace

bool ApiServer::bind() {
  port_ = bind_listener(*server_, options_.host, options_.port);
  if (port_ < 0) return false;
  if (internal_server_) {
    internal_port_ = bind_listener(*internal_server_, options_.host, options_.internal_port);
    if (internal_port_ < 0) return false;
  }
  return true;
}

bool ApiServer::serve() {
  bool internal_ok = true;
  std::jthread internal;
  if (internal_server_) {
    internal = std::jthread([&] { internal_ok = internal_server_->listen_after_bind(); });
  }
  const bool ok = server_->listen_after_bind();
  if (internal_server_) internal_server_->stop();
  if (internal.joinable()) internal.join();
  return ok && internal_ok;
}

void ApiServer::stop() {
  shutdown_.request_stop();
  coordinator_.stop();
  server_->stop();
  if (internal_server_) internal_server_->stop();
}

void ApiServer::install_routes(ConnectionServer& s, Listener listener) {
  // Runs once the head is read, before the body is (request_gate.h has the order of the checks).
  // cpp-httplib enforces the body limit only on Content-Length bodies, so chunked uploads are
  // refused there rather than read without bound. The internal listener serves only the probes,
  // /metrics and /batch.
  s.set_gate([this, listener](const httplib::Request& req, httplib::Response& res) {
    if (listener == Listener::kInternal && !is_internal_route(req.path)) {
      send_error(res, 404, "the internal port serves /healthz, /readyz, /metrics and /batch only");
      return httplib::Server::HandlerResponse::Handled;
    }
    const auto refusal = gate_.check(req);
    if (!refusal) return httplib::Server::HandlerResponse::Unhandled;
    const std::string route = route_label(req.path);
    metrics_.increment(metrics::kHttpRejected, {{"route", route}, {"reason", refusal->reason}});
    if (refusal->status == 401 || refusal->status == 403) {
      metrics_.increment(metrics::kAuthRefusals, {{"route", route}, {"reason", refusal->reason}});
      // Refusals are audited like the requests they stopped. The message names the client or
      // the header that failed, never the credential itself.
      audit_.record({.client = gate_.identify(req).name,
                     .remote_addr = req.remote_addr,
                     .route = route,
                     .outcome = "refused:" + std::to_string(refusal->status),
                     .detail = req.method + " " + route + ": " + refusal->reason});
    }
    if (refusal->status == 401) res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, refusal->status, refusal->message);
    return httplib::Server::HandlerResponse::Handled;
  });

  // A browser gets the status page; every other client the JSON it always got.
  s.Get("/", [](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Vary", "Accept");
    if (prefers_html(req.get_header_value("Accept"))) {
      const std::string nonce = new_csp_nonce();
      res.set_header("Content-Security-Policy", status_page_csp(nonce));
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_header("X-Frame-Options", "DENY");
      res.set_header("Referrer-Policy", "no-referrer");
      res.set_header("Cache-Control", "no-store");
      res.status = 200;
      return res.set_content(render_status_page(nonce), "text/html; charset=utf-8");
    }
    send_json(res, 200,
              {{"status", "live"}, {"service", "message-signer"}, {"version", SIGNER_VERSION}});
  });

  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"status", "ok"}});
  });

  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    if (shutdown_.stop_requested()) return send_error(res, 503, "shutting down");
    const auto key_set = keys_.current();
    if (key_set->size() == 0) return send_error(res, 503, "no keys loaded");
    const keys::KeySetHolder::Status key_status = keys_.status();
    try {
      store_.ping();
    } catch (const store::StoreError& e) {
      return send_error(res, 503, std::string("store unavailable: ") + e.what());
    }
    send_json(res, 200,
              {{"status", "ready"},
               {"keys", key_set->size()},
               {"key_set", key_set_json(key_status)},
               {"store", store_.describe()},
               {"auth", gate_.auth_enabled() ? "clients" : "none"},
               {"insecure_no_auth", options_.insecure_no_auth},
               {"tls", options_.tls != nullptr}});
  });

  s.Get(R"(/sign/([^/]*))", [this](const httplib::Request& req, httplib::Response& res) {
    auto size = parse_batch_size(req.matches[1].str());
    if (auto* err = std::get_if<std::string>(&size)) return send_error(res, 400, *err);
    const std::string wait = req.get_param_value("wait");
    if (!wait.empty() && wait != "true" && wait != "false" && wait != "1" && wait != "0") {
      return send_error(res, 400, "wait must be true or false");
    }
    if (shutdown_.stop_requested()) return send_error(res, 503, "shutting down");
    try {
      const Caller caller = gate_.identify(req);
      const signing::JobSnapshot plan = coordinator_.start(
          {std::get<std::uint64_t>(size), caller.name, req.remote_addr, keys_of(caller)});
      if (wait == "true" || wait == "1") {
        const auto done = coordinator_.wait(plan.id);
        return send_json(res, 200, to_json(*done));
      }
      res.set_header("Location", "/stats");
      send_json(res, 202, to_json(plan));
    } catch (const signing::JobAlreadyRunning& e) {
      send_error(res, 409, e.what());
    } catch (const signing::JobRequestError& e) {
      send_error(res, 400, e.what());
    } catch (const store::StoreError& e) {
      send_error(res, 503, std::string("store unavailable: ") + e.what());
    }
  });

  s.Get("/stats", [this](const httplib::Request&, httplib::Response& res) {
    try {
      send_json(res, 200, stats_json(store_.count(), coordinator_.snapshot()));
    } catch (const store::StoreError& e) {
      send_error(res, 503, std::string("store unavailable: ") + e.what());
    }
  });

  s.Get(R"(/batch/([^/]*)/([^/]*)/([^/]*))", [this](const httplib::Request& req,
                                                    httplib::Response& res) {
    auto params = parse_batch_params(req.matches[1].str(), req.matches[2].str());
    if (auto* err = std::get_if<std::string>(&params)) return send_error(res, 400, *err);
    // Without ?job= (the original layout) records are stamped with job_id "".
    const std::string job_id = req.get_param_value("job");
    if (req.has_param("job") && !audit::is_valid_job_id(job_id)) {
      return send_error(res, 400, "job must be a job id like j-<12 hex>-<16 hex>");
    }
    // The key's set: the current one, or the one before the last reload (a peer's job that
    // started before this pod reloaded keeps its keys).
    const std::string selector = req.matches[3].str();
    const auto key_set = keys_.find_set_with(selector);
    if (!key_set) {
      return send_error(res, 404,
                        "unknown key: give a key index below " +
                            std::to_string(keys_.current()->size()) + " or a loaded public key");
    }
    const std::size_t key_index = *key_set->find(selector);
    if (shutdown_.stop_requested()) return send_error(res, 503, "shutting down");
    InFlight slot(batches_in_flight_, options_.max_concurrent_batches);
    if (!slot.admitted()) {
      metrics_.increment(metrics::kHttpRejected, {{"route", "/batch"}, {"reason", "busy"}});
      res.set_header("Retry-After", "1");
      return send_error(res, 503, "too many batches in flight on this pod");
    }
    const auto& p = std::get<BatchParams>(params);
    try {
      const signing::BatchResult r =
          worker_.run({p.batch, p.batch_count, key_index, key_set, job_id, gate_.identify(req).name,
                       req.remote_addr},
                      shutdown_.get_token());
      send_json(res, 200, to_json(r));
    } catch (const store::StoreError& e) {
      metrics_.increment(metrics::kBatchErrors,
                         {{"kind", std::string(store::to_string(e.kind()))}});
      send_json(res, batch_error_status(e), batch_error_json(e));
    } catch (const keys::SigningError& e) {
      metrics_.increment(metrics::kBatchErrors, {{"kind", "key"}});
      send_error(res, 503, std::string("signing key unavailable: ") + e.what());
    }
  });

  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    publish_key_metrics();
    res.set_content(metrics_.render(), "text/plain; version=0.0.4");
  });

  // The body is read here, after admission, and parsed and stored as it arrives (see
  // ingest/ingest_session.h), so neither a large nor a hostile upload is ever held whole.
  s.Post("/records", [this](const httplib::Request& req, httplib::Response& res,
                            const httplib::ContentReader& content_reader) {
    InFlight slot(ingests_in_flight_, options_.max_concurrent_ingests);
    if (!slot.admitted()) {
      metrics_.increment(metrics::kHttpRejected, {{"route", "/records"}, {"reason", "busy"}});
      res.set_header("Retry-After", "1");
      return send_error(res, 503, "too many ingests in flight");
    }
    ingest::IngestSession session(store_, {.max_body_bytes = options_.max_body_bytes,
                                           .max_records = options_.max_ingest_records});
    const bool read = content_reader([&](const char* data, std::size_t length) {
      return session.feed(std::string_view(data, length));
    });
    if (read) {
      session.finish();
    } else if (session.report().status == 200) {
      // cpp-httplib stopped reading: a Content-Length over the limit, or a broken connection.
      session.fail(res.status == 413 ? 413 : 400, res.status == 413
                                                      ? "request body too large (--max-body-bytes)"
                                                      : "the request body could not be read");
    }
    const ingest::IngestReport& report = session.report();
    if (report.status == 413) {
      metrics_.increment(metrics::kHttpRejected, {{"route", "/records"}, {"reason", "too-large"}});
    }
    audit_.record(
        {.client = gate_.identify(req).name,
         .remote_addr = req.remote_addr,
         .route = "/records",
         .outcome = report.status == 200 ? "ok" : "rejected:" + std::to_string(report.status),
         .count = report.accepted,
         .detail = std::to_string(report.duplicates) + " duplicates, " +
                   std::to_string(report.conflicts) + " conflicts, " +
                   std::to_string(report.rejected) + " rejected" +
                   (report.error.empty() ? "" : "; " + report.error)});
    send_json(res, report.status, report.to_json());
  });

  // [\s\S]*, not .*: a decoded id may hold '/' (order%2F42) or a refused '\n' that must reach
  // the id rule (400) instead of falling through to 404.
  s.Get(R"(/records/([\s\S]*))", [this](const httplib::Request& req, httplib::Response& res) {
    auto parsed = parse_record_id(req.matches[1].str());
    if (parsed.index() == 1) return send_error(res, 400, std::get<1>(parsed));
    const std::string& id = std::get<0>(parsed);
    try {
      const auto record = store_.find_signed(id);
      if (!record) return send_error(res, 404, "no signed record with id " + id);
      send_json(res, 200, records::to_json(*record));
    } catch (const store::StoreError& e) {
      send_error(res, 503, std::string("store unavailable: ") + e.what());
    }
  });

  s.Get("/jobs", [this](const httplib::Request& req, httplib::Response& res) {
    auto limit = parse_list_limit(req);
    if (auto* err = std::get_if<std::string>(&limit)) return send_error(res, 400, *err);
    try {
      nlohmann::json jobs = nlohmann::json::array();
      for (const audit::JobRecord& job : store_.list_jobs(std::get<std::size_t>(limit))) {
        jobs.push_back(job_json(job));
      }
      send_json(res, 200, {{"jobs", jobs}});
    } catch (const store::StoreError& e) {
      send_error(res, 503, std::string("store unavailable: ") + e.what());
    }
  });

  s.Get(R"(/jobs/([^/]*))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1].str();
    if (!audit::is_valid_job_id(id)) {
      return send_error(res, 400, "not a job id: expected j-<12 hex>-<16 hex>");
    }
    try {
      const auto job = store_.find_job(id);
      if (!job) return send_error(res, 404, "no job with id " + id);
      send_json(res, 200, job_json(*job));
    } catch (const store::StoreError& e) {
      send_error(res, 503, std::string("store unavailable: ") + e.what());
    }
  });

  // `signer audit verify --job` as a route, for the status page: one at a time per process (it
  // reads every record of the job), and its result joins the audit trail, where /jobs reads it.
  s.Post(R"(/jobs/([^/]*)/verify)", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1].str();
    if (!audit::is_valid_job_id(id)) {
      return send_error(res, 400, "not a job id: expected j-<12 hex>-<16 hex>");
    }
    InFlight slot(verifies_in_flight_, 1);
    if (!slot.admitted()) {
      metrics_.increment(metrics::kHttpRejected, {{"route", "/jobs"}, {"reason", "busy"}});
      res.set_header("Retry-After", "5");
      return send_error(res, 503, "a job verification is already running on this server");
    }
    try {
      const auto job = store_.find_job(id);
      if (!job) return send_error(res, 404, "no job with id " + id);
      if (job->state == audit::JobState::kRunning) {
        return send_error(res, 409, "job " + id + " is still running");
      }
      constexpr std::size_t kListed = 20;
      nlohmann::json listed = nlohmann::json::array();
      const audit::VerifyReport report =
          audit::verify_job(store_, *job, [&](const audit::Mismatch& m) {
            if (listed.size() < kListed) {
              listed.push_back({{"record_id", m.record_id}, {"reason", m.reason}});
            }
          });
      const std::string summary = report.summary();
      audit_.record({.client = gate_.identify(req).name,
                     .remote_addr = req.remote_addr,
                     .route = kVerifyRoute,
                     .outcome = report.ok() ? "ok" : "mismatch",
                     .count = report.valid,
                     .job_id = id,
                     .detail = summary});
      send_json(res, 200,
                {{"job", id},
                 {"ok", report.ok()},
                 {"expected", report.expected},
                 {"found", report.found},
                 {"valid", report.valid},
                 {"mismatches", report.mismatches},
                 {"first_mismatches", listed},
                 {"summary", summary}});
    } catch (const store::StoreError& e) {
      send_error(res, 503, std::string("store unavailable: ") + e.what());
    }
  });

  // The audit trail, most recent first; ?job= narrows it to one job. Will need the `read` role.
  s.Get("/audit", [this](const httplib::Request& req, httplib::Response& res) {
    auto limit = parse_list_limit(req);
    if (auto* err = std::get_if<std::string>(&limit)) return send_error(res, 400, *err);
    std::optional<std::string> job_id;
    if (req.has_param("job")) {
      job_id = req.get_param_value("job");
      if (!audit::is_valid_job_id(*job_id)) {
        return send_error(res, 400, "job must be a job id like j-<12 hex>-<16 hex>");
      }
    }
    try {
      nlohmann::json events = nlohmann::json::array();
      for (const audit::AuditEvent& e : store_.list_audit(job_id, std::get<std::size_t>(limit))) {
        events.push_back(audit::to_json(e));
      }
      send_json(res, 200, {{"events", events}});
    } catch (const store::StoreError& e) {
      send_error(res, 503, std::string("store unavailable: ") + e.what());
    }
  });

  s.Get("/keys", [this](const httplib::Request&, httplib::Response& res) {
    const auto key_set = keys_.current();
    nlohmann::json keys = nlohmann::json::array();
    for (std::size_t i = 0; i < key_set->size(); ++i) {
      const keys::Key& key = key_set->at(i);
      keys.push_back({{"index", i},
                      {"key", key.public_key()},
                      {"address", key.address()},
                      {"source", keys::to_string(key.source())},
                      {"origin", key.origin()}});
    }
    send_json(res, 200,
              {{"keys", keys},
               {"set_version", key_set->version()},
               {"reload", key_set_json(keys_.status())}});
  });

  // Every status >= 400 passes here; fill in a JSON body only where a handler did not.
  s.set_error_renderer(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string message;
        switch (res.status) {
          case 404: message = "no route for " + req.method + " " + req.path; break;
          case 405: message = "method not allowed"; break;
          case 413: message = "request body too large"; break;
          case 414: message = "request URI too long"; break;
          case 400: message = "bad request"; break;
          default: message = "error " + std::to_string(res.status); break;
        }
        send_error(res, res.status, message);
        return httplib::Server::HandlerResponse::Handled;
      }));

  s.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("{} {} failed: {}", req.method, req.path, what);
        send_error(res, 500, "internal error");
      });

  s.on_response([this](const httplib::Request& req, const httplib::Response& res) {
    metrics_.increment(metrics::kHttpRequests,
                       {{"route", route_label(req.path)}, {"code", std::to_string(res.status)}});
  });
}

}  // namespace signer::http
