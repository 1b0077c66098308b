// The OpenAPI document (docs/openapi.json) against the server it describes: the binary embeds the
// file as it is, and the document names exactly the routes each listener serves, as the server's
// own route table has them. The e2e suite tests the answers (tests/e2e/test_openapi*.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/config.h"
#include "cli/service_graph.h"
#include "http/api_server.h"
#include "http/openapi_document.h"
#include "test_support.h"

namespace signer::testing {
namespace {

using Listener = http::ApiServer::Listener;
// "GET /records/{}": a method and a path whose parameters are all written {}, then its query
// parameters, sorted: "GET /sign/{} ?scheme&wait".
using Operation = std::string;

std::string with_query(std::string operation, std::set<std::string> query) {
  for (const std::string& name : query) {
    operation += (name == *query.begin() ? " ?" : "&") + name;
  }
  return operation;
}

nlohmann::json document() { return nlohmann::json::parse(http::openapi_document()); }

// A route's pattern as a path template: each capture group is one parameter, and an escaped
// character stands for itself. A pattern with any other regex syntax has no template.
std::string template_of(const std::string& pattern) {
  std::string path = std::regex_replace(pattern, std::regex(R"(\([^)]*\))"), "{}");
  path = std::regex_replace(path, std::regex(R"(\\(.))"), "$1");
  EXPECT_EQ(path.find_first_of("()[]*+?|^$"), std::string::npos)
      << "route pattern " << pattern << " is not a path template";
  return path;
}

std::set<Operation> served(const http::ApiServer& server, Listener listener) {
  std::set<Operation> out;
  for (const http::Router::Entry& route : server.route_table(listener)) {
    out.insert(with_query(route.method + " " + template_of(route.pattern),
                          {route.query.begin(), route.query.end()}));
  }
  return out;
}

std::set<Operation> documented(const nlohmann::json& doc, const std::string& listener) {
  std::set<Operation> out;
  const std::regex parameter(R"(\{[^}]*\})");
  for (const auto& [path, item] : doc.at("paths").items()) {
    for (const auto& [method, operation] : item.items()) {
      const auto& listeners = operation.value("x-listeners", nlohmann::json::array());
      if (std::find(listeners.begin(), listeners.end(), listener) == listeners.end()) continue;
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      std::set<std::string> query;
      for (nlohmann::json p : operation.value("parameters", nlohmann::json::array())) {
        if (p.contains("$ref")) {  // "#/components/parameters/Limit"
          const std::string ref = p.at("$ref").get<std::string>();
          p = doc.at("components").at("parameters").at(ref.substr(ref.rfind('/') + 1));
        }
        if (p.at("in") == "query") query.insert(p.at("name").get<std::string>());
      }
      out.insert(with_query(upper + " " + std::regex_replace(path, parameter, "{}"), query));
    }
  }
  return out;
}

std::string listing(const std::set<Operation>& operations) {
  std::ostringstream out;
  for (const Operation& op : operations) out << "\n  " << op;
  return operations.empty() ? " none" : out.str();
}

// What `a` has and `b` lacks.
std::set<Operation> minus(const std::set<Operation>& a, const std::set<Operation>& b) {
  std::set<Operation> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
  return out;
}

// Fails, naming each, for every operation `listener` serves that the document lacks, and for every
// one the document gives `listener` that it does not serve.
void expect_same_operations(const std::set<Operation>& server, const std::set<Operation>& doc,
                            const std::string& listener) {
  EXPECT_TRUE(minus(server, doc).empty())
      << "served on the " << listener
      << " port but not in docs/openapi.json:" << listing(minus(server, doc));
  EXPECT_TRUE(minus(doc, server).empty()) << "in docs/openapi.json (x-listeners: " << listener
                                          << ") but not served:" << listing(minus(doc, server));
}

// A real server, built as `signer serve` builds one (on a SQLite store in a temp dir), with both
// listeners; it is never bound.
class ServerRoutes : public ::testing::Test {
 protected:
  void SetUp() override {
    const CommandResult keygen =
        run_signer("keygen --count 1 --out " + (dir_ / "keys").string(), dir_);
    ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
    config_.store = "sqlite:" + (dir_ / "signer.db").string();
    config_.keys_file = (dir_ / "keys" / "keys.csv").string();
    config_.key_watch_interval_ms = 0;
    graph_ = std::make_unique<cli::ServiceGraph>(config_);
    http::ApiServerOptions options;
    options.port = 0;
    options.internal_port = 0;
    server_ =
        std::make_unique<http::ApiServer>(*graph_->store, graph_->keys, *graph_->coordinator,
                                          graph_->worker, graph_->metrics, graph_->audit, options);
  }

  TempDir dir_;
  cli::Config config_;
  std::unique_ptr<cli::ServiceGraph> graph_;
  std::unique_ptr<http::ApiServer> server_;
};

TEST(OpenApiDocument, EmbeddedDocumentIsDocsOpenapiJsonByteForByte) {
  EXPECT_EQ(std::string(http::openapi_document()), read_file(SIGNER_OPENAPI_JSON));
}

TEST(OpenApiDocument, IsOpenApi31AndCarriesTheServersVersion) {
  const nlohmann::json doc = document();
  EXPECT_EQ(doc.at("openapi"), "3.1.0");
  EXPECT_EQ(doc.at("info").at("version"), SIGNER_VERSION);
}

TEST_F(ServerRoutes, DocumentDescribesEveryRouteOfThePublicPortAndNoOther) {
  const std::set<Operation> server = served(*server_, Listener::kPublic);
  expect_same_operations(server, documented(document(), "public"), "public");
  EXPECT_GE(server.size(), 15u);
}

TEST_F(ServerRoutes, DocumentDescribesEveryRouteOfTheInternalPortAndNoOther) {
  const std::set<Operation> server = served(*server_, Listener::kInternal);
  expect_same_operations(server, documented(document(), "internal"), "internal");
  EXPECT_EQ(server.count("GET /openapi.json"), 1u);
}

TEST(OpenApiDocument, EveryOperationNamesItsListenersAndAnId) {
  const nlohmann::json doc = document();  // a range-for would not keep a temporary alive
  for (const auto& [path, item] : doc.at("paths").items()) {
    for (const auto& [method, operation] : item.items()) {
      EXPECT_TRUE(operation.contains("operationId")) << method << " " << path;
      ASSERT_TRUE(operation.contains("x-listeners")) << method << " " << path;
      for (const auto& listener : operation.at("x-listeners")) {
        EXPECT_TRUE(listener == "public" || listener == "internal") << method << " " << path;
      }
    }
  }
}

}  // namespace
}  // namespace signer::testing
