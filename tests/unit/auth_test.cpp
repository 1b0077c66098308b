// Caller identity: tokens, the clients file, and the request gate's checks in order.
#include <gtest/gtest.h>

#include "auth/bearer_token.h"
#include "auth/client_registry.h"
#include "http/request_gate.h"

namespace signer {
namespace {

std::string client_json(const std::string& name, const std::string& token, const std::string& roles,
                        const std::string& extra = "") {
  return R"({"name":")" + name + R"(","token_sha256":")" + auth::to_hex(auth::hash_token(token)) +
         R"(","roles":)" + roles + extra + "}";
}

auth::ClientRegistry registry_of(const std::vector<std::string>& clients) {
  std::string text = R"({"clients":[)";
  for (std::size_t i = 0; i < clients.size(); ++i) text += (i ? "," : "") + clients[i];
  return auth::ClientRegistry::parse(text + "]}");
}

TEST(BearerToken, NewTokensAreDistinctPrefixedHex) {
  const std::string a = auth::new_bearer_token();
  const std::string b = auth::new_bearer_token();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 4u + 64u);
  EXPECT_EQ(a.substr(0, 4), "mst_");
}

TEST(BearerToken, HashIsSha256OfTheTokenBytes) {
  // SHA-256("abc"), FIPS 180-2 appendix B.1.
  EXPECT_EQ(auth::to_hex(auth::hash_token("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(BearerToken, ParsesOnlyTheBearerScheme) {
  EXPECT_EQ(auth::bearer_token_of("Bearer abc"), "abc");
  EXPECT_EQ(auth::bearer_token_of("bearer   abc "), "abc");
  EXPECT_EQ(auth::bearer_token_of("Basic abc"), "");
  EXPECT_EQ(auth::bearer_token_of("Bearer"), "");
  EXPECT_EQ(auth::bearer_token_of(""), "");
}

TEST(ClientRegistry, FindsClientByTokenAndNeverByHash) {
  const auto registry = registry_of({client_json("ops", "tok-ops", R"(["read"])"),
                                     client_json("ci", "tok-ci", R"(["sign","ingest"])")});
  ASSERT_NE(registry.find_by_token("tok-ci"), nullptr);
  EXPECT_EQ(registry.find_by_token("tok-ci")->name, "ci");
  EXPECT_TRUE(registry.find_by_token("tok-ci")->roles.has(auth::Role::kSign));
  EXPECT_FALSE(registry.find_by_token("tok-ci")->roles.has(auth::Role::kRead));
  EXPECT_EQ(registry.find_by_token("tok-nope"), nullptr);
  EXPECT_EQ(registry.find_by_token(""), nullptr);
  // Presenting the stored hash itself must not authenticate.
  EXPECT_EQ(registry.find_by_token(auth::to_hex(auth::hash_token("tok-ops"))), nullptr);
}

TEST(ClientRegistry, RejectsEachMalformedClientNamingIt) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"clients":[{"token_sha256":"00","roles":["read"]}]})", "name"},
      {R"({"clients":[{"name":"a","token_sha256":"zz","roles":["read"]}]})", "token_sha256"},
      {"{\"clients\":[" + client_json("a", "t", R"(["write"])") + "]}", "unknown role"},
      {"{\"clients\":[" + client_json("a", "t", "[]") + "]}", "roles"},
      {R"({"clients":[{"name":"a","roles":["read"]}]})", "token_sha256"},
      {"{\"clients\":[" + client_json("a", "t", R"(["read"])") + "," +
           client_json("a", "u", R"(["read"])") + "]}",
       "already taken"},
      {"{\"clients\":[" + client_json("a", "t", R"(["read"])") + "," +
           client_json("b", "t", R"(["read"])") + "]}",
       "same token"},
      {"{\"clients\":[" + client_json("a", "t", R"(["read"])", R"(,"token":"t")") + "]}",
       "unknown field"},
      {R"({"clients":{}})", "clients"},
      {"not json", "JSON"},
  };
  for (const auto& [text, expected] : cases) {
    try {
      auth::ClientRegistry::parse(text);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const auth::ClientsFileError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos)
          << e.what() << " should mention " << expected;
    }
  }
}

TEST(ClientRegistry, RoundTripsThroughItsJsonWithoutTheToken) {
  auto registry = registry_of({client_json("ops", "secret-token", R"(["read","sign"])",
                                           R"(,"keys":[1,"0xabc"],"cert_names":["ops.test"])")});
  const std::string text = registry.to_json();
  EXPECT_EQ(text.find("secret-token"), std::string::npos);
  const auto again = auth::ClientRegistry::parse(text);
  ASSERT_NE(again.find_by_token("secret-token"), nullptr);
  EXPECT_EQ(again.find_by_token("secret-token")->keys, (std::vector<std::string>{"1", "0xabc"}));
  ASSERT_NE(again.find_by_certificate_name({"x", "ops.test"}), nullptr);
  EXPECT_EQ(again.find_by_certificate_name({"other"}), nullptr);
}

httplib::Request request(std::string method, std::string path,
                         std::initializer_list<std::pair<std::string, std::string>> headers = {}) {
  httplib::Request req;
  req.method = std::move(method);
  req.path = std::move(path);
  req.headers.emplace("Host", "127.0.0.1:8080");
  for (const auto& [name, value] : headers) {
    if (name == "Host") req.headers.erase("Host");
    req.headers.emplace(name, value);
  }
  return req;
}

int status_of(const http::RequestGate& gate, const httplib::Request& req) {
  const auto refusal = gate.check(req);
  return refusal ? refusal->status : 0;
}

class RequestGateTest : public ::testing::Test {
 protected:
  auth::ClientRegistry clients =
      registry_of({client_json("reader", "tok-read", R"(["read"])"),
                   client_json("signer", "tok-sign", R"(["sign","ingest"])")});
  http::RequestGate gate{{true, {"https://ops.example"}, false, "internal-secret"}, &clients};
};

TEST_F(RequestGateTest, ProbesStayOpen) {
  for (const char* path : {"/", "/healthz", "/readyz", "/metrics"}) {
    EXPECT_EQ(status_of(gate, request("GET", path)), 0) << path;
  }
}

TEST_F(RequestGateTest, MissingOrUnknownCredentialIs401AndMissingRoleIs403) {
  EXPECT_EQ(status_of(gate, request("GET", "/stats")), 401);
  EXPECT_EQ(status_of(gate, request("GET", "/stats", {{"Authorization", "Bearer wrong"}})), 401);
  EXPECT_EQ(status_of(gate, request("GET", "/stats", {{"Authorization", "Bearer tok-read"}})), 0);
  EXPECT_EQ(status_of(gate, request("GET", "/sign/10", {{"Authorization", "Bearer tok-read"}})),
            403);
  EXPECT_EQ(status_of(gate, request("GET", "/sign/10", {{"Authorization", "Bearer tok-sign"}})), 0);
  EXPECT_EQ(status_of(gate, request("GET", "/records/x", {{"Authorization", "Bearer tok-sign"}})),
            403);
  EXPECT_EQ(status_of(gate, request("GET", "/nope")), 401);
}

TEST_F(RequestGateTest, BatchTakesTheInternalTokenOrTheSignRole) {
  EXPECT_EQ(status_of(gate, request("GET", "/batch/0/1/0")), 401);
  EXPECT_EQ(status_of(gate, request("GET", "/batch/0/1/0", {{"X-Internal-Token", "nope"}})), 401);
  EXPECT_EQ(
      status_of(gate, request("GET", "/batch/0/1/0", {{"X-Internal-Token", "internal-secret"}})),
      0);
  EXPECT_EQ(status_of(gate, request("GET", "/batch/0/1/0", {{"Authorization", "Bearer tok-read"}})),
            403);
  EXPECT_EQ(status_of(gate, request("GET", "/batch/0/1/0", {{"Authorization", "Bearer tok-sign"}})),
            0);
}

TEST_F(RequestGateTest, ForeignHostAndOriginAreRefusedBeforeCredentials) {
  EXPECT_EQ(status_of(gate, request("GET", "/healthz", {{"Host", "evil.example:8080"}})), 403);
  EXPECT_EQ(status_of(gate, request("GET", "/healthz", {{"Host", "localhost:8080"}})), 0);
  EXPECT_EQ(status_of(gate, request("GET", "/healthz", {{"Host", "[::1]:8080"}})), 0);
  EXPECT_EQ(status_of(gate, request("GET", "/stats",
                                    {{"Authorization", "Bearer tok-read"},
                                     {"Origin", "https://evil.example"}})),
            403);
  EXPECT_EQ(status_of(gate, request("GET", "/stats",
                                    {{"Authorization", "Bearer tok-read"},
                                     {"Origin", "https://ops.example"}})),
            0);
  EXPECT_EQ(status_of(gate, request("GET", "/healthz", {{"Origin", "null"}})), 403);
  // An <img src=http://127.0.0.1:8080/sign/1> on another site: no Origin, but Sec-Fetch-Site.
  EXPECT_EQ(status_of(gate, request("GET", "/sign/1",
                                    {{"Authorization", "Bearer tok-sign"},
                                     {"Sec-Fetch-Site", "cross-site"}})),
            403);
  EXPECT_EQ(status_of(gate, request("GET", "/sign/1",
                                    {{"Authorization", "Bearer tok-sign"},
                                     {"Sec-Fetch-Site", "same-origin"}})),
            0);
  EXPECT_EQ(
      status_of(gate, request("GET", "/sign/1",
                              {{"Authorization", "Bearer tok-sign"}, {"Sec-Fetch-Site", "none"}})),
      0);
}

// The status page's own POST (/jobs/:id/verify): the browser sends Origin and marks the request
// same-origin. Only that pair passes; a page elsewhere cannot claim it.
TEST_F(RequestGateTest, SameOriginPostFromTheStatusPagePasses) {
  const auto post = [&](std::string origin, std::string fetch_site, std::string host) {
    return status_of(gate, request("POST", "/jobs/j-000000000000-0000000000000000/verify",
                                   {{"Authorization", "Bearer tok-read"},
                                    {"Origin", origin},
                                    {"Sec-Fetch-Site", fetch_site},
                                    {"Host", host}}));
  };
  EXPECT_EQ(post("http://127.0.0.1:8080", "same-origin", "127.0.0.1:8080"), 0);
  EXPECT_EQ(post("http://localhost:8080", "same-origin", "LOCALHOST:8080"), 0);
  EXPECT_EQ(post("http://127.0.0.1:8080", "cross-site", "127.0.0.1:8080"), 403);
  EXPECT_EQ(post("http://127.0.0.1:8080", "", "127.0.0.1:8080"), 403);
  EXPECT_EQ(post("http://127.0.0.1:9999", "same-origin", "127.0.0.1:8080"), 403);
  EXPECT_EQ(post("https://127.0.0.1:8080", "same-origin", "127.0.0.1:8080"), 403);  // plain HTTP
  EXPECT_EQ(post("http://evil.example", "same-origin", "evil.example"), 403);       // Host check
}

TEST_F(RequestGateTest, RecordsUploadNeedsJsonTypeAndNoChunking) {
  const auto post = [&](std::string type, std::string te = "") {
    httplib::Request req = request("POST", "/records", {{"Authorization", "Bearer tok-sign"}});
    if (!type.empty()) req.headers.emplace("Content-Type", type);
    if (!te.empty()) req.headers.emplace("Transfer-Encoding", te);
    return status_of(gate, req);
  };
  EXPECT_EQ(post("application/x-ndjson"), 0);
  EXPECT_EQ(post("application/json; charset=utf-8"), 0);
  EXPECT_EQ(post("text/plain"), 415);
  EXPECT_EQ(post(""), 415);
  EXPECT_EQ(post("application/x-www-form-urlencoded"), 415);
  EXPECT_EQ(post("application/x-ndjson", "Chunked"), 0);  // bounded by the upload's reader
  EXPECT_EQ(post("application/x-ndjson", "gzip, chunked"), 411);
  EXPECT_EQ(post("application/x-ndjson", "identity"), 411);
  httplib::Request get = request(
      "GET", "/stats", {{"Authorization", "Bearer tok-read"}, {"Transfer-Encoding", "CHUNKED"}});
  EXPECT_EQ(status_of(gate, get), 411);
}

TEST(RequestGate, WithoutClientsEveryoneIsAnonymousButTheInternalTokenStillHolds) {
  http::RequestGate open({true, {}, false, "internal-secret"}, nullptr);
  EXPECT_EQ(status_of(open, request("GET", "/sign/1")), 0);
  EXPECT_EQ(status_of(open, request("GET", "/batch/0/1/0")), 401);
  EXPECT_EQ(open.identify(request("GET", "/stats")).name, "anonymous");
  http::RequestGate no_host_check({false, {}, false, ""}, nullptr);
  EXPECT_EQ(status_of(no_host_check, request("GET", "/stats", {{"Host", "signer.svc:8080"}})), 0);
}

TEST(RequestGate, LoopbackNames) {
  for (const char* host : {"127.0.0.1", "127.0.0.1:80", "localhost", "LOCALHOST:9", "[::1]:8080",
                           "127.1.2.3:1", "app.localhost:3"}) {
    EXPECT_TRUE(http::is_loopback_host(host)) << host;
  }
  for (const char* host : {"", "evil.example", "127.0.0.1.evil.example", "10.0.0.1:80",
                           "localhost.evil", "[::2]:80", "0.0.0.0"}) {
    EXPECT_FALSE(http::is_loopback_host(host)) << host;
  }
  EXPECT_TRUE(http::is_loopback_address("127.0.0.1"));
  EXPECT_FALSE(http::is_loopback_address("0.0.0.0"));
}

}  // namespace
}  // namespace signer
