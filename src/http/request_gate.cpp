#include "http/request_gate.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>

#include "auth/bearer_token.h"

namespace signer::http {
namespace {

enum class Access { kOpen, kRole, kInternal };

struct RouteAccess {
  Access access = Access::kRole;
  auth::Role role = auth::Role::kRead;
};

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

RouteAccess access_for(const Request& req, bool metrics_require_auth) {
  const std::string& path = req.path;
  if (path == "/" || path == "/healthz" || path == "/readyz" || path == "/openapi.json") {
    return {Access::kOpen, {}};
  }
  if (path == "/metrics") {
    return metrics_require_auth ? RouteAccess{Access::kRole, auth::Role::kRead}
                                : RouteAccess{Access::kOpen, {}};
  }
  if (starts_with(path, "/batch/")) return {Access::kInternal, auth::Role::kSign};
  if (starts_with(path, "/sign/")) return {Access::kRole, auth::Role::kSign};
  if (path == "/records" && req.method == "POST") return {Access::kRole, auth::Role::kIngest};
  // Everything else reads: stats, records, keys, jobs, audit, and unknown routes (so that an
  // anonymous caller learns nothing from a 404).
  return {Access::kRole, auth::Role::kRead};
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The media type without parameters, lowercased: "application/json; charset=utf-8" ->
// "application/json".
std::string media_type(std::string_view content_type) {
  const std::size_t end = content_type.find(';');
  std::string_view type = content_type.substr(0, end);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  while (!type.empty() && type.front() == ' ') type.remove_prefix(1);
  return lowercase(type);
}

// The signer's own status page posting to it (Chromium and Firefox send Origin on a same-origin
// POST): the Origin is this server's scheme://Host and the browser itself, which pages cannot
// overrule, marks the request same-origin. Anything else with an Origin needs --allow-origin.
bool is_same_origin(const Request& req, std::string_view fetch_site) {
  if (fetch_site != "same-origin" || !req.has_header("Host")) return false;
  const std::string scheme = req.tls ? "https://" : "http://";
  return lowercase(req.get_header_value("Origin")) ==
         scheme + lowercase(req.get_header_value("Host"));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return auth::hashes_equal(auth::hash_token(a), auth::hash_token(b));
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool is_upload(const Request& req) { return req.method == "POST" && req.path == "/records"; }

std::optional<Refusal> framing_refusal(const Request& req) {
  const std::string route = req.method + " " + req.path.substr(0, 100);
  if (req.has_header("Transfer-Encoding")) {
    // Only an upload may be chunked: its reader counts the bytes as they arrive. Anything but
    // plain "chunked" (in any letter case) is refused rather than half understood.
    const std::string encoding = lowercase(req.get_header_value("Transfer-Encoding"));
    if (!is_upload(req) || encoding != "chunked") {
      return Refusal{411, "chunked",
                     "Transfer-Encoding \"" + encoding.substr(0, 50) + "\" is not accepted on " +
                         route + "; send Content-Length"};
    }
  }
  if (!is_upload(req)) {
    const std::string length = req.get_header_value("Content-Length");
    if (!length.empty() && length != "0") {
      return Refusal{400, "body", route + " takes no request body"};
    }
  }
  if (req.has_header("Content-Encoding") &&
      lowercase(req.get_header_value("Content-Encoding")) != "identity") {
    return Refusal{415, "content-encoding",
                   "Content-Encoding \"" + req.get_header_value("Content-Encoding").substr(0, 50) +
                       "\" is not accepted: send the body uncompressed"};
  }
  if (is_upload(req)) {
    const std::string type = media_type(req.get_header_value("Content-Type"));
    if (type != "application/x-ndjson" && type != "application/json") {
      return Refusal{415, "content-type",
                     "POST /records takes Content-Type application/x-ndjson or application/json, "
                     "not \"" +
                         type.substr(0, 100) +
                         "\"; e.g. curl -H 'Content-Type: application/x-ndjson' "
                         "--data-binary @records.ndjson"};
    }
  }
  return std::nullopt;
}

}  // namespace

bool is_loopback_address(std::string_view address) {
  if (address == "localhost" || address == "::1" || address == "[::1]") return true;
  in_addr v4{};
  const std::string text(address);
  return ::inet_pton(AF_INET, text.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

bool is_loopback_host(std::string_view host_header) {
  std::string_view host = host_header;
  if (!host.empty() && host.front() == '[') {  // [::1]:8080
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    host = host.substr(0, close + 1);
  } else if (const std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  const std::string lower = lowercase(host);
  if (lower.size() > 10 && lower.ends_with(".localhost")) return true;
  return is_loopback_address(lower);
}

bool is_forwarded(const Request& req) {
  return req.has_header("Forwarded") || req.has_header("X-Forwarded-For") ||
         req.has_header("X-Real-IP");
}

void check_proxy_cert_names(const auth::ClientRegistry& clients,
                            const std::vector<std::string>& proxy_cert_names) {
  for (const auth::Client& client : clients.clients()) {
    for (const std::string& name : client.cert_names) {
      if (contains(proxy_cert_names, name)) {
        throw std::invalid_argument(
            "clients file: client " + client.name + " is named by certificate name " + name +
            ", which is a proxy's certificate (--proxy-cert-name): every request through that "
            "proxy would authenticate as " +
            client.name +
            ". Give the client a token, or its "
            "own certificate");
      }
    }
  }
}

RequestGate::RequestGate(GateOptions options, const auth::ClientRegistryHolder* clients)
    : options_(std::move(options)), clients_(clients) {}

std::vector<std::string> RequestGate::certificate_identity(const Request& req) const {
  if (!req.peer_certificate || is_forwarded(req)) return {};
  std::vector<std::string> names = req.peer_certificate->dns_names;
  if (!req.peer_certificate->common_name.empty()) {
    names.insert(names.begin(), req.peer_certificate->common_name);
  }
  for (const std::string& name : names) {
    if (contains(options_.proxy_cert_names, name)) return {};
  }
  return names;
}

bool RequestGate::is_internal(const Request& req) const {
  if (!options_.internal_token.empty() && req.has_header("X-Internal-Token")) {
    return constant_time_equal(req.get_header_value("X-Internal-Token"), options_.internal_token);
  }
  if (options_.tls == nullptr || certificate_identity(req).empty()) return false;
  return req.peer_certificate->same_names(options_.tls->own_certificate());
}

Caller RequestGate::identify(const Request& req) const {
  const bool batch = starts_with(req.path, "/batch/");
  if (batch && is_internal(req)) return {"internal", nullptr, true, true, nullptr};
  if (clients_ == nullptr) {
    // No identities at all (loopback or --insecure-no-auth): every caller may do everything, and
    // only an internal token, when one is set, keeps /batch to the pods.
    return {"anonymous", nullptr, true, options_.internal_token.empty(), nullptr};
  }
  // A bearer token, when one is sent, is the caller's explicit choice and decides alone; without
  // one, a verified client certificate may name the client.
  auto registry = clients_->current();
  const std::string authorization = req.get_header_value("Authorization");
  const auth::Client* client = nullptr;
  if (const auto token = auth::bearer_token_of(authorization); !token.empty()) {
    client = registry->find_by_token(token, now_unix_ms());
  } else if (const auto names = certificate_identity(req); !names.empty()) {
    client = registry->find_by_certificate_name(names);
  }
  if (client == nullptr) return {"anonymous", nullptr, false, false, nullptr};
  return {client->name, client, true, false, std::move(registry)};
}

std::optional<Refusal> RequestGate::check(const Request& req) const {
  if (options_.loopback_bind && !is_loopback_host(req.get_header_value("Host"))) {
    return Refusal{403, "host",
                   "Host \"" + req.get_header_value("Host").substr(0, 100) +
                       "\" is not a loopback name; this server listens on loopback only"};
  }
  const std::string fetch_site = lowercase(req.get_header_value("Sec-Fetch-Site"));
  const bool origin_allowed = req.has_header("Origin") &&
                              (is_same_origin(req, fetch_site) ||
                               contains(options_.allowed_origins, req.get_header_value("Origin")));
  if (req.has_header("Origin") && !origin_allowed) {
    return Refusal{403, "origin",
                   "Origin \"" + req.get_header_value("Origin").substr(0, 100) +
                       "\" is not allowed (serve --allow-origin adds one)"};
  }
  // A cross-site GET (an <img> or a link on another site) carries no Origin, but browsers mark it
  // with Sec-Fetch-Site; without this, a page could start a job on a loopback signer.
  if (!origin_allowed && (fetch_site == "cross-site" || fetch_site == "same-site")) {
    return Refusal{403, "origin",
                   "cross-site browser request refused (Sec-Fetch-Site: " + fetch_site + ")"};
  }

  const RouteAccess access = access_for(req, options_.metrics_require_auth);
  if (access.access != Access::kOpen) {
    const Caller caller = identify(req);
    if (access.access == Access::kInternal && !options_.internal_token.empty() &&
        !caller.internal) {
      return Refusal{401, "unauthenticated",
                     req.has_header("X-Internal-Token")
                         ? "wrong X-Internal-Token"
                         : "/batch is for the pods: send X-Internal-Token (a bearer token is "
                           "not enough while an internal token is set)"};
    }
    if (!caller.authenticated) {
      return Refusal{401, "unauthenticated",
                     "missing or unknown credential: send Authorization: Bearer <token>"};
    }
    if (caller.client != nullptr && caller.client->expired(now_unix_ms())) {
      return Refusal{401, "expired",
                     "the credentials of client " + caller.name + " expired at " +
                         auth::format_utc_time(*caller.client->expires_unix_ms)};
    }
    if (caller.client != nullptr && !caller.client->roles.has(access.role)) {
      return Refusal{403, "forbidden",
                     "client " + caller.name + " lacks the " +
                         std::string(auth::to_string(access.role)) + " role"};
    }
  }
  return framing_refusal(req);
}

}  // namespace signer::http
