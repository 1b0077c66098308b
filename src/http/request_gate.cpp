#include "http/request_gate.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "auth/bearer_token.h"
#include "http/tls_context.h"

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

RouteAccess access_for(const httplib::Request& req, bool metrics_require_auth) {
  const std::string& path = req.path;
  if (path == "/" || path == "/healthz" || path == "/readyz") return {Access::kOpen, {}};
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
bool is_same_origin(const httplib::Request& req, std::string_view fetch_site) {
  if (fetch_site != "same-origin" || !req.has_header("Host")) return false;
  const std::string scheme = req.ssl != nullptr ? "https://" : "http://";
  return lowercase(req.get_header_value("Origin")) ==
         scheme + lowercase(req.get_header_value("Host"));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return auth::hashes_equal(auth::hash_token(a), auth::hash_token(b));
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

RequestGate::RequestGate(GateOptions options, const auth::ClientRegistry* clients)
    : options_(std::move(options)), clients_(clients) {}

Caller RequestGate::identify(const httplib::Request& req) const {
  if (clients_ == nullptr) return {"anonymous", nullptr, true};
  // A bearer token, when one is sent, is the caller's explicit choice and decides alone; without
  // one, a verified client certificate may name the client.
  const std::string authorization = req.get_header_value("Authorization");
  if (const auto token = auth::bearer_token_of(authorization); !token.empty()) {
    if (const auth::Client* client = clients_->find_by_token(token)) {
      return {client->name, client, true};
    }
    return {"anonymous", nullptr, false};
  }
  if (const auto cert = verified_peer_certificate(req.ssl)) {
    std::vector<std::string> names = cert->alt_names;
    if (!cert->common_name.empty()) names.insert(names.begin(), cert->common_name);
    if (const auth::Client* client = clients_->find_by_certificate_name(names)) {
      return {client->name, client, true};
    }
  }
  return {"anonymous", nullptr, false};
}

std::optional<Refusal> RequestGate::check(const httplib::Request& req) const {
  if (options_.loopback_bind && !is_loopback_host(req.get_header_value("Host"))) {
    return Refusal{403, "host",
                   "Host \"" + req.get_header_value("Host").substr(0, 100) +
                       "\" is not a loopback name; this server listens on loopback only"};
  }
  const std::string fetch_site = lowercase(req.get_header_value("Sec-Fetch-Site"));
  const bool origin_allowed =
      req.has_header("Origin") &&
      (is_same_origin(req, fetch_site) ||
       std::find(options_.allowed_origins.begin(), options_.allowed_origins.end(),
                 req.get_header_value("Origin")) != options_.allowed_origins.end());
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
  if (access.access == Access::kInternal && !options_.internal_token.empty() &&
      req.has_header("X-Internal-Token")) {
    if (!constant_time_equal(req.get_header_value("X-Internal-Token"), options_.internal_token)) {
      return Refusal{401, "unauthenticated", "wrong X-Internal-Token"};
    }
  } else if (access.access != Access::kOpen) {
    if (clients_ == nullptr && access.access == Access::kInternal &&
        !options_.internal_token.empty()) {
      return Refusal{401, "unauthenticated", "missing or wrong X-Internal-Token"};
    }
    const Caller caller = identify(req);
    if (!caller.authenticated) {
      return Refusal{401, "unauthenticated",
                     "missing or unknown credential: send Authorization: Bearer <token>"};
    }
    if (caller.client != nullptr && !caller.client->roles.has(access.role)) {
      return Refusal{403, "forbidden",
                     "client " + caller.name + " lacks the " +
                         std::string(auth::to_string(access.role)) + " role"};
    }
  }

  const bool upload = req.method == "POST" && req.path == "/records";
  if (req.has_header("Transfer-Encoding")) {
    // Only an upload may be chunked: its reader counts the bytes as they arrive. Anything but
    // plain "chunked" (in any letter case) is refused rather than half understood.
    const std::string encoding = lowercase(req.get_header_value("Transfer-Encoding"));
    if (!upload || encoding != "chunked") {
      return Refusal{411, "chunked",
                     "Transfer-Encoding \"" + encoding.substr(0, 50) +
                         "\" is not accepted here; send Content-Length"};
    }
  }
  if (upload) {
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

}  // namespace signer::http
