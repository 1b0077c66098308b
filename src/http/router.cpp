#include "http/router.h"

#include <algorithm>
#include <stdexcept>

namespace signer::http {

void Router::get(const std::string& pattern, Handler handler, std::vector<std::string> query) {
  routes_.push_back(
      {"GET", pattern, std::regex(pattern), std::move(handler), nullptr, std::move(query)});
}

void Router::post(const std::string& pattern, Handler handler, std::vector<std::string> query) {
  routes_.push_back(
      {"POST", pattern, std::regex(pattern), std::move(handler), nullptr, std::move(query)});
}

void Router::upload(const std::string& pattern, UploadHandler handler,
                    std::vector<std::string> query) {
  routes_.push_back(
      {"POST", pattern, std::regex(pattern), nullptr, std::move(handler), std::move(query)});
}

const Route* Router::find(Request& req) const {
  const std::string& method = req.method == "HEAD" ? std::string("GET") : req.method;
  for (const Route& route : routes_) {
    if (route.method == method && std::regex_match(req.path, req.matches, route.pattern)) {
      req.declared_query = &route.query;
      return &route;
    }
  }
  req.matches = {};
  return nullptr;
}

bool Router::serves_path(const std::string& path) const {
  return std::any_of(routes_.begin(), routes_.end(),
                     [&](const Route& route) { return std::regex_match(path, route.pattern); });
}

Router Router::only(const std::vector<std::string>& patterns) const {
  Router out;
  for (const std::string& pattern : patterns) {
    if (std::none_of(routes_.begin(), routes_.end(),
                     [&](const Route& route) { return route.pattern_text == pattern; })) {
      throw std::logic_error("no route is registered with the pattern " + pattern);
    }
  }
  for (const Route& route : routes_) {
    if (std::find(patterns.begin(), patterns.end(), route.pattern_text) != patterns.end()) {
      out.routes_.push_back(route);
    }
  }
  return out;
}

std::vector<Router::Entry> Router::table() const {
  std::vector<Entry> out;
  out.reserve(routes_.size());
  for (const Route& route : routes_) out.push_back({route.method, route.pattern_text, route.query});
  return out;
}

}  // namespace signer::http
