// One HTTP request as the handlers and the gate see it, and the response they fill in. The
// front door (http_server.h) builds a Request only from a head that passed the framing rules
// (request_head.h): the path is percent-decoded once, query parameters are decoded once ('+' is a
// space), header values are exactly the bytes that arrived (never decoded), and the TLS client
// certificate, when one verified, is read once at the handshake.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/tls_context.h"

namespace signer::http {

struct Request {
  std::string method;  // "GET", "POST", … as sent (methods are case-sensitive)
  std::string target;  // the request-target as sent: path and query, still encoded
  std::string path;    // the path, percent-decoded once
  std::multimap<std::string, std::string> params;  // the query, decoded once
  // Header fields in arrival order; names as sent. Lookups ignore the case of names.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string remote_addr;
  int remote_port = 0;
  bool tls = false;
  // The client certificate, when the connection is TLS and one verified against the client CA.
  std::shared_ptr<const PeerCertificate> peer_certificate;
  std::smatch matches;  // the route pattern's captures on `path`
  // The query parameters the matched route declares (Router), or null before routing. Reading
  // another one throws std::logic_error: the route table, and so the OpenAPI document, lists
  // every parameter a handler reads.
  const std::vector<std::string>* declared_query = nullptr;

  bool has_header(std::string_view name) const;
  // The first value of the header `name`, or "" when absent.
  std::string get_header_value(std::string_view name) const;
  // How many fields named `name` arrived.
  std::size_t header_count(std::string_view name) const;
  // Both throw std::logic_error for a parameter the route does not declare (declared_query).
  bool has_param(std::string_view name) const;
  // The first value of the query parameter `name`, or "" when absent.
  std::string get_param_value(std::string_view name) const;

 private:
  void check_declared(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type;

  // Replaces the header `name` (case-insensitively) or adds it.
  void set_header(std::string_view name, std::string value);
  std::string get_header_value(std::string_view name) const;
  void set_content(std::string content, std::string type) {
    body = std::move(content);
    content_type = std::move(type);
  }
};

// Case-insensitive equality of ASCII header names.
bool iequals(std::string_view a, std::string_view b);

// Percent-decodes `text` once; with `plus_as_space`, '+' becomes ' ' (query strings). Invalid
// escapes stay as they are.
std::string percent_decode(std::string_view text, bool plus_as_space);

// Splits a query string ("a=1&b=x%20y") into decoded name/value pairs.
std::multimap<std::string, std::string> parse_query(std::string_view query);

}  // namespace signer::http
