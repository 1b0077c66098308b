#include "http/router.h"

namespace signer::http {

void Router::get(const std::string& pattern, Handler handler) {
  routes_.push_back({"GET", std::regex(pattern), std::move(handler), nullptr});
}

void Router::post(const std::string& pattern, Handler handler) {
  routes_.push_back({"POST", std::regex(pattern), std::move(handler), nullptr});
}

void Router::upload(const std::string& pattern, UploadHandler handler) {
  routes_.push_back({"POST", std::regex(pattern), nullptr, std::move(handler)});
}

const Route* Router::find(Request& req) const {
  const std::string& method = req.method == "HEAD" ? std::string("GET") : req.method;
  for (const Route& route : routes_) {
    if (route.method == method && std::regex_match(req.path, req.matches, route.pattern)) {
      return &route;
    }
  }
  req.matches = {};
  return nullptr;
}

}  // namespace signer::http
