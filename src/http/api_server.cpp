#include "http/api_server.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "audit/audit_json.h"
#include "audit/job_id.h"
#include "audit/job_verifier.h"
#include "crypto/secp256k1_library.h"
#include "http/json_views.h"
#include "http/openapi_document.h"
#include "http/route_params.h"
#include "http/scheme_params.h"
#include "http/status_page.h"
#include "ingest/ingest_session.h"
#include "metrics/signer_metrics.h"
#include "records/record_json.h"

namespace signer::http {
namespace {

constexpr const char* kJson = "application/json";

// The route of GET /batch/:batchId/:batchCount/:key.
constexpr const char* kBatchRoute = R"(/batch/([^/]*)/([^/]*)/([^/]*))";
constexpr const char* kOpenApiRoute = R"(/openapi\.json)";

void send_json(Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kJson);
}

void send_error(Response& res, int status, const std::string& message) {
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

// Gives what a request freed back to the system when its scope ends. A pod runs each /batch on
// whichever handler thread takes it, and glibc gives each thread a malloc arena of its own (up to 8
// a core) and keeps what a thread frees in that arena. Without this, once a job's batches had
// reached most of the threads, a pod held a batch's chunks, freed, in each arena: 28-33 MB more
// RSS after a 32-batch job in tests/e2e/test_pod_memory.py, 5-6 MB with it. malloc_trim took
// 2-26 us over 16 such arenas; the next batch faults the pages it needs back in.
class GiveBackFreedMemory {
 public:
  GiveBackFreedMemory() = default;
  ~GiveBackFreedMemory() { malloc_trim(0); }
  GiveBackFreedMemory(const GiveBackFreedMemory&) = delete;
  GiveBackFreedMemory& operator=(const GiveBackFreedMemory&) = delete;
};

// One upload to POST /records: its body into the store as it arrives, then its audit event.
class IngestSink final : public BodySink {
 public:
  IngestSink(store::Store& store, metrics::Registry& metrics, audit::AuditLog& audit,
             std::string client, std::string remote_addr, ingest::IngestLimits limits,
             std::unique_ptr<InFlight> slot)
      : metrics_(metrics),
        audit_(audit),
        client_(std::move(client)),
        remote_addr_(std::move(remote_addr)),
        session_(store, limits),
        slot_(std::move(slot)) {}

  bool feed(std::string_view piece) override { return session_.feed(piece); }

  void finish(const BodyEnd& end, Response& res) override {
    switch (end.how) {
      case BodyEnd::How::kComplete: session_.finish(); break;
      case BodyEnd::How::kStopped: break;  // the session already knows why
      case BodyEnd::How::kTransport: session_.fail(end.status, end.error); break;
    }
    const ingest::IngestReport& report = session_.report();
    if (report.status == 413) {
      metrics_.increment(metrics::kHttpRejected, {{"route", "/records"}, {"reason", "too-large"}});
    }
    audit_.record(
        {.client = client_,
         .remote_addr = remote_addr_,
         .route = "/records",
         .outcome = report.status == 200 ? "ok" : "rejected:" + std::to_string(report.status),
         .count = report.accepted,
         .detail = std::to_string(report.duplicates) + " duplicates, " +
                   std::to_string(report.conflicts) + " conflicts, " +
                   std::to_string(report.rejected) + " rejected" +
                   (report.error.empty() ? "" : "; " + report.error)});
    send_json(res, report.status, report.to_json());
  }

 private:
  metrics::Registry& metrics_;
  audit::AuditLog& audit_;
  std::string client_;
  std::string remote_addr_;
  ingest::IngestSession session_;
  std::unique_ptr<InFlight> slot_;  // this upload's place among the concurrent ingests
};

// A low-cardinality route label for metrics: the first path segment.
std::string route_label(const std::string& path) {
  if (path == "/") return "/";
  const std::size_t end = path.find('/', 1);
  const std::string first = path.substr(0, end);
  for (const char* known : {"/sign", "/batch", "/stats", "/healthz", "/readyz", "/metrics",
                            "/records", "/keys", "/jobs", "/audit", "/openapi.json"}) {
    if (first == known) return first;
  }
  return "other";
}

// A reload state (of the key set, of the clients file), for /readyz and /keys.
nlohmann::json reload_json(const reload::ReloadStatus& s, const char* items) {
  return {{"version", s.version},
          {items, s.items},
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
std::variant<std::size_t, std::string> parse_list_limit(const Request& req) {
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

void check_client_keys(const auth::ClientRegistry& clients, const keys::KeySet& keys) {
  for (const auth::Client& client : clients.clients()) {
    for (const std::string& selector : client.keys) {
      if (!keys.find(selector)) {
        throw std::invalid_argument("clients file: client " + client.name + " names key " +
                                    selector + ", which is not among the " +
                                    std::to_string(keys.size()) + " loaded keys");
      }
    }
  }
}

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
             options_.metrics_require_auth, options_.internal_token, options_.proxy_cert_names,
             options_.tls},
            options_.clients),
      refusals_(audit, options_.refusal_audit_window,
                std::min<std::chrono::milliseconds>(std::chrono::seconds(5),
                                                    options_.refusal_audit_window / 2)),
      server_(std::make_unique<HttpServer>(options_.tls, options_.io_threads)) {
  install_routes(public_routes_);
  public_listener_ = server_->add_listener(listener_config(Listener::kPublic));
  if (options_.internal_port >= 0) {
    // Probes and pods only: its own handler threads, one per batch slot plus a few for probes
    // and scrapes, and no per-address cap (all batches may come from one proxy). Its routes are
    // the probes, /metrics, the pods' batches and the API's own description.
    internal_routes_ =
        public_routes_.only({"/healthz", "/readyz", "/metrics", kBatchRoute, kOpenApiRoute});
    internal_listener_ = server_->add_listener(listener_config(Listener::kInternal));
  }
  metrics_.set(metrics::kInsecureNoAuth, {}, options_.insecure_no_auth ? 1 : 0);
}

std::vector<Router::Entry> ApiServer::route_table(Listener listener) const {
  if (listener == Listener::kInternal) {
    return internal_listener_ ? internal_routes_.table() : std::vector<Router::Entry>{};
  }
  return public_routes_.table();
}

std::vector<std::string> ApiServer::keys_of(const Caller& caller) const {
  return caller.client == nullptr ? std::vector<std::string>{} : caller.client->keys;
}

ApiServer::~ApiServer() = default;

bool ApiServer::may_use_key(const Caller& caller, const keys::KeySet& key_set,
                            std::size_t key_index) const {
  const std::vector<std::string> selectors = keys_of(caller);
  return selectors.empty() ||
         std::any_of(selectors.begin(), selectors.end(), [&](const std::string& selector) {
           const auto index = key_set.find(selector);
           return index && *index == key_index;
         });
}

std::optional<std::string> ApiServer::refuse_scheme(const Caller& caller, const Request& req,
                                                    const char* route,
                                                    const schemes::SigningScheme& scheme) const {
  if (caller.client == nullptr) return std::nullopt;
  auto reason = caller.client->scheme_limits.refusal(caller.name, scheme_use(scheme));
  if (reason) {
    // Like a refused role: the client is known, so every refusal is its own event.
    audit_.record({.client = caller.name,
                   .remote_addr = req.remote_addr,
                   .route = route,
                   .outcome = "refused:403",
                   .detail = req.method + " " + route + ": scheme: " + *reason});
    metrics_.increment(metrics::kHttpRejected, {{"route", route}, {"reason", "scheme"}});
  }
  return reason;
}

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

void ApiServer::publish_reload_metrics() {
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
  if (options_.clients != nullptr) {
    const reload::ReloadStatus clients = options_.clients->status();
    metrics_.set(metrics::kClientsLoaded, {}, static_cast<double>(clients.items));
    metrics_.set(metrics::kClientsReloads, {{"outcome", "ok"}},
                 static_cast<double>(clients.reloads));
    metrics_.set(metrics::kClientsReloads, {{"outcome", "failed"}},
                 static_cast<double>(clients.failed_reloads));
  }
}

bool ApiServer::bind() {
  if (!server_->bind()) return false;
  port_ = server_->port(public_listener_);
  if (internal_listener_) internal_port_ = server_->port(*internal_listener_);
  return true;
}

bool ApiServer::serve() {
  server_->run();
  return true;
}

void ApiServer::stop() {
  shutdown_.request_stop();
  coordinator_.stop();
  server_->stop();
}

ListenerConfig ApiServer::listener_config(Listener listener) {
  const bool internal = listener == Listener::kInternal;
  ListenerConfig config;
  config.host = options_.host;
  config.port = internal ? options_.internal_port : options_.port;
  config.policy = options_.connections;
  config.router = internal ? &internal_routes_ : &public_routes_;
  if (internal) {
    config.policy.max_connections_per_client = 0;
    config.handler_threads = options_.internal_threads + options_.max_concurrent_batches;
    config.max_body_bytes = 0;
  } else {
    config.handler_threads = options_.http_threads;
    config.max_body_bytes = options_.max_body_bytes;
  }
  // Runs once the head is read, before the router and before the body (request_gate.h has the
  // order of the checks). The internal listener serves only the probes, /metrics and /batch.
  config.gate = [this, internal](const Request& req) -> std::optional<Response> {
    Response res;
    if (internal && !internal_routes_.serves_path(req.path)) {
      send_error(res, 404,
                 "the internal port serves /healthz, /readyz, /metrics, /batch and /openapi.json "
                 "only");
      return res;
    }
    const auto refusal = gate_.check(req);
    if (!refusal) return std::nullopt;
    const std::string route = route_label(req.path);
    metrics_.increment(metrics::kHttpRejected, {{"route", route}, {"reason", refusal->reason}});
    if (refusal->status == 401 || refusal->status == 403) {
      metrics_.increment(metrics::kAuthRefusals, {{"route", route}, {"reason", refusal->reason}});
      // Refusals are audited like the requests they stopped: an identified client's each time,
      // an unidentified caller's aggregated (a flood of them must not grow the trail without
      // bound). The message names the client or the header that failed, never the credential.
      const Caller caller = gate_.identify(req);
      const audit::AuditEvent event{.client = caller.name,
                                    .remote_addr = req.remote_addr,
                                    .route = route,
                                    .outcome = "refused:" + std::to_string(refusal->status),
                                    .detail = req.method + " " + route + ": " + refusal->reason};
      if (caller.client != nullptr) {
        audit_.record(event);
      } else {
        refusals_.refused(event);
      }
    }
    if (refusal->status == 401) res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, refusal->status, refusal->message);
    return res;
  };
  // Every status >= 400 without a body of its own gets a JSON one here.
  config.render_error = [](const Request* req, Response& res) {
    std::string message;
    switch (res.status) {
      case 404:
        message = req != nullptr ? "no route for " + req->method + " " + req->path.substr(0, 200)
                                 : "not found";
        break;
      case 405: message = "method not allowed"; break;
      case 413: message = "request body too large"; break;
      case 414: message = "request URI too long"; break;
      case 400: message = "bad request"; break;
      default: message = "error " + std::to_string(res.status); break;
    }
    send_error(res, res.status, message);
  };
  config.on_response = [this](const Request* req, const Response& res) {
    metrics_.increment(metrics::kHttpRequests,
                       {{"route", req != nullptr ? route_label(req->path) : "other"},
                        {"code", std::to_string(res.status)}});
    if (req == nullptr && res.status >= 400) {
      metrics_.increment(metrics::kHttpRejected, {{"route", "other"}, {"reason", "framing"}});
    }
  };
  return config;
}

void ApiServer::install_routes(Router& r) {
  // A browser gets the status page; every other client the JSON it always got.
  r.get("/", [](const Request& req, Response& res) {
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
              {{"status", "live"},
               {"service", "message-signer"},
               {"version", SIGNER_VERSION},
               {"libsecp256k1", crypto::secp256k1_library().version}});
  });

  r.get("/healthz", [](const Request&, Response& res) { send_json(res, 200, {{"status", "ok"}}); });

  // The API's description, open like the probes: what a client generator or a gateway reads.
  r.get(kOpenApiRoute, [](const Request&, Response& res) {
    res.status = 200;
    res.set_content(std::string(openapi_document()), kJson);
  });

  r.get("/readyz", [this](const Request&, Response& res) {
    if (shutdown_.stop_requested()) return send_error(res, 503, "shutting down");
    const auto key_set = keys_.current();
    if (key_set->size() == 0) return send_error(res, 503, "no keys loaded");
    const keys::KeySetHolder::Status key_status = keys_.status();
    try {
      store_.ping();
    } catch (const store::StoreError& e) {
      return send_error(res, 503, std::string("store unavailable: ") + e.what());
    }
    nlohmann::json ready = {{"status", "ready"},
                            {"keys", key_set->size()},
                            {"key_set", reload_json(key_status, "keys")},
                            {"store", store_.describe()},
                            {"auth", gate_.auth_enabled() ? "clients" : "none"},
                            {"insecure_no_auth", options_.insecure_no_auth},
                            {"tls", options_.tls != nullptr}};
    // A failed reload of the clients file keeps the old clients and stays ready, saying why.
    if (options_.clients != nullptr) {
      ready["clients"] = reload_json(options_.clients->status(), "clients");
    }
    send_json(res, 200, ready);
  });

  r.get(R"(/sign/([^/]*))",
        [this](const Request& req, Response& res) {
          auto size = parse_batch_size(req.matches[1].str());
          if (auto* err = std::get_if<std::string>(&size)) return send_error(res, 400, *err);
          // Present, `wait` is one of these: an empty `?wait=` is refused like any other value.
          const std::string wait = req.get_param_value("wait");
          if (req.has_param("wait") && wait != "true" && wait != "false" && wait != "1" &&
              wait != "0") {
            return send_error(res, 400, "wait must be true or false");
          }
          // The scheme is settled before anything is counted or moved.
          auto scheme = scheme_param(options_.schemes, req, false);
          if (auto* err = std::get_if<SchemeParamError>(&scheme)) {
            return send_error(res, 400, err->reason);
          }
          const auto& signing_scheme = std::get<schemes::SigningScheme>(scheme);
          if (shutdown_.stop_requested()) return send_error(res, 503, "shutting down");
          try {
            const Caller caller = gate_.identify(req);
            if (auto refused = refuse_scheme(caller, req, "/sign", signing_scheme)) {
              return send_error(res, 403, *refused);
            }
            const signing::JobSnapshot plan =
                coordinator_.start({std::get<std::uint64_t>(size), caller.name, req.remote_addr,
                                    keys_of(caller), signing_scheme});
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
        },
        {"wait", "scheme"});

  r.get("/stats", [this](const Request&, Response& res) {
    try {
      send_json(res, 200, stats_json(store_.count(), coordinator_.snapshot()));
    } catch (const store::StoreError& e) {
      send_error(res, 503, std::string("store unavailable: ") + e.what());
    }
  });

  r.get(kBatchRoute,
        [this](const Request& req, Response& res) {
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
                                  std::to_string(keys_.current()->size()) +
                                  " or a loaded public key");
          }
          const std::size_t key_index = *key_set->find(selector);
          // A pod without the scheme (or with another file of its name) says so, and the
          // coordinator does not retry a 4xx: the job fails with this reason instead of going round
          // the pods.
          auto scheme = scheme_param(options_.schemes, req, true);
          if (auto* err = std::get_if<SchemeParamError>(&scheme)) {
            return send_error(res, err->mismatch ? 409 : 400, err->reason);
          }
          const auto& signing_scheme = std::get<schemes::SigningScheme>(scheme);
          const Caller caller = gate_.identify(req);
          if (!caller.internal) {
            // A client calling /batch itself is held to what it may do through /sign: its keys, and
            // no job of anyone's (a job's records are its batches', stamped by the pods).
            if (req.has_param("job")) {
              return send_error(
                  res, 403,
                  "only the pods (X-Internal-Token or the pods' certificate) may name a "
                  "job; client " +
                      caller.name + " may call /batch without ?job=");
            }
            if (!may_use_key(caller, *key_set, key_index)) {
              return send_error(res, 403,
                                "client " + caller.name + " may not sign with key " +
                                    std::to_string(key_index) + " (its clients-file keys)");
            }
            // And to its schemes: without ?scheme= a batch signs raw, which a client limited to
            // eip712 may not do through /sign either.
            if (auto refused = refuse_scheme(caller, req, "/batch", signing_scheme)) {
              return send_error(res, 403, *refused);
            }
          }
          if (!job_id.empty()) {
            // Only a running job takes records, so nothing joins a job's trail after it ended.
            try {
              const auto job = store_.find_job(job_id, /*with_outcomes=*/false);
              if (!job) return send_error(res, 404, "no job with id " + job_id);
              if (job->state != audit::JobState::kRunning) {
                return send_error(res, 409, "job " + job_id + " is not running");
              }
              // A job's records are all signed under its scheme, whoever sends its batches.
              const schemes::TypedDataScheme* typed = signing_scheme.typed_data();
              if (job->scheme != signing_scheme.name() ||
                  job->scheme_fingerprint != (typed ? typed->fingerprint() : std::string())) {
                return send_error(res, 409,
                                  "job " + job_id + " signs under " + job->scheme + ", not " +
                                      signing_scheme.name() +
                                      (typed && job->scheme == signing_scheme.name()
                                           ? " with this process's scheme file (it differs)"
                                           : ""));
              }
            } catch (const store::StoreError& e) {
              // Said the way a failed batch says it, so the coordinator knows the store is at fault
              // (and retries without using up an attempt while the store answers it).
              return send_json(res, batch_error_status(e), batch_error_json(e));
            }
          }
          if (shutdown_.stop_requested()) return send_error(res, 503, "shutting down");
          InFlight slot(batches_in_flight_, options_.max_concurrent_batches);
          if (!slot.admitted()) {
            metrics_.increment(metrics::kHttpRejected, {{"route", "/batch"}, {"reason", "busy"}});
            res.set_header("Retry-After", "1");
            return send_error(res, 503, "too many batches in flight on this pod");
          }
          const auto& p = std::get<BatchParams>(params);
          const GiveBackFreedMemory after_the_batch;
          try {
            const signing::BatchResult result =
                worker_.run({p.batch, p.batch_count, key_index, key_set, job_id, caller.name,
                             req.remote_addr, signing_scheme},
                            shutdown_.get_token());
            send_json(res, 200, to_json(result));
          } catch (const store::StoreError& e) {
            metrics_.increment(metrics::kBatchErrors,
                               {{"kind", std::string(store::to_string(e.kind()))}});
            send_json(res, batch_error_status(e), batch_error_json(e));
          } catch (const keys::SigningError& e) {
            metrics_.increment(metrics::kBatchErrors, {{"kind", "key"}});
            send_error(res, 503, std::string("signing key unavailable: ") + e.what());
          }
        },
        {"job", "scheme", "scheme_fingerprint"});

  r.get("/metrics", [this](const Request&, Response& res) {
    publish_reload_metrics();
    res.set_content(metrics_.render(), "text/plain; version=0.0.4");
  });

  // The body is read after admission, piece by piece as it arrives, and parsed and stored as it
  // comes (see ingest/ingest_session.h), so neither a large nor a hostile upload is ever held
  // whole, and a slow one holds no thread.
  r.upload("/records", [this](const Request& req, Response& res) -> std::unique_ptr<BodySink> {
    auto slot = std::make_unique<InFlight>(ingests_in_flight_, options_.max_concurrent_ingests);
    if (!slot->admitted()) {
      metrics_.increment(metrics::kHttpRejected, {{"route", "/records"}, {"reason", "busy"}});
      res.set_header("Retry-After", "1");
      send_error(res, 503, "too many ingests in flight");
      return nullptr;
    }
    return std::make_unique<IngestSink>(
        store_, metrics_, audit_, gate_.identify(req).name, req.remote_addr,
        ingest::IngestLimits{.max_body_bytes = options_.max_body_bytes,
                             .max_records = options_.max_ingest_records},
        std::move(slot));
  });

  // [\s\S]*, not .*: a decoded id may hold '/' (order%2F42) or a refused '\n' that must reach
  // the id rule (400) instead of falling through to 404.
  r.get(R"(/records/([\s\S]*))", [this](const Request& req, Response& res) {
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

  r.get("/jobs",
        [this](const Request& req, Response& res) {
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
        },
        {"limit"});

  r.get(R"(/jobs/([^/]*))", [this](const Request& req, Response& res) {
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
  r.post(R"(/jobs/([^/]*)/verify)", [this](const Request& req, Response& res) {
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
          audit::verify_job(store_, *job, options_.schemes, [&](const audit::Mismatch& m) {
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
  r.get("/audit",
        [this](const Request& req, Response& res) {
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
            for (const audit::AuditEvent& e :
                 store_.list_audit(job_id, std::get<std::size_t>(limit))) {
              events.push_back(audit::to_json(e));
            }
            send_json(res, 200, {{"events", events}});
          } catch (const store::StoreError& e) {
            send_error(res, 503, std::string("store unavailable: ") + e.what());
          }
        },
        {"limit", "job"});

  r.get("/keys", [this](const Request&, Response& res) {
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
               {"reload", reload_json(keys_.status(), "keys")}});
  });
}

}  // namespace signer::http
