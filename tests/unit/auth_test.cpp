// Caller identity: tokens, the clients file, and the request gate's checks in order.
#include <gtest/gtest.h>

#include "auth/bearer_token.h"
#include "auth/client_registry.h"
#include "auth/client_registry_holder.h"
#include "http/request_gate.h"

namespace signer {
namespace {

constexpr std::int64_t kNow = 1'800'000'000'000;  // 2027-01-15T08:00:00Z

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
  ASSERT_NE(registry.find_by_token("tok-ci", kNow), nullptr);
  EXPECT_EQ(registry.find_by_token("tok-ci", kNow)->name, "ci");
  EXPECT_TRUE(registry.find_by_token("tok-ci", kNow)->roles.has(auth::Role::kSign));
  EXPECT_FALSE(registry.find_by_token("tok-ci", kNow)->roles.has(auth::Role::kRead));
  EXPECT_EQ(registry.find_by_token("tok-nope", kNow), nullptr);
  EXPECT_EQ(registry.find_by_token("", kNow), nullptr);
  // Presenting the stored hash itself must not authenticate.
  EXPECT_EQ(registry.find_by_token(auth::to_hex(auth::hash_token("tok-ops")), kNow), nullptr);
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
  ASSERT_NE(again.find_by_token("secret-token", kNow), nullptr);
  EXPECT_EQ(again.find_by_token("secret-token", kNow)->keys,
            (std::vector<std::string>{"1", "0xabc"}));
  ASSERT_NE(again.find_by_certificate_name({"x", "ops.test"}), nullptr);
  EXPECT_EQ(again.find_by_certificate_name({"other"}), nullptr);
}

http::Request request(std::string method, std::string path,
                      std::initializer_list<std::pair<std::string, std::string>> headers = {}) {
  http::Request req;
  req.method = std::move(method);
  req.path = std::move(path);
  bool host = false;
  for (const auto& [name, value] : headers) host = host || name == "Host";
  if (!host) req.headers.emplace_back("Host", "127.0.0.1:8080");
  for (const auto& [name, value] : headers) req.headers.emplace_back(name, value);
  return req;
}

// A request over mTLS whose client certificate verified with these names.
http::Request with_certificate(http::Request req, std::string cn,
                               std::vector<std::string> dns_names = {}) {
  req.tls = true;
  req.peer_certificate =
      std::make_shared<const http::PeerCertificate>(http::PeerCertificate{cn, dns_names});
  return req;
}

http::GateOptions options(std::vector<std::string> origins = {}, std::string internal_token = "",
                          std::vector<std::string> proxy_cert_names = {}, bool loopback = true) {
  http::GateOptions o;
  o.loopback_bind = loopback;
  o.allowed_origins = std::move(origins);
  o.internal_token = std::move(internal_token);
  o.proxy_cert_names = std::move(proxy_cert_names);
  return o;
}

int status_of(const http::RequestGate& gate, const http::Request& req) {
  const auto refusal = gate.check(req);
  return refusal ? refusal->status : 0;
}

class RequestGateTest : public ::testing::Test {
 protected:
  auth::ClientRegistryHolder clients{
      registry_of({client_json("reader", "tok-read", R"(["read"])"),
                   client_json("signer", "tok-sign", R"(["sign","ingest"])")})};
  http::RequestGate gate{options({"https://ops.example"}, "internal-secret"), &clients};
};

// Without an internal token a client with the sign role may call /batch (held to its keys by the
// route); with one, only the internal identity passes.
TEST(RequestGate, BatchTakesTheSignRoleOnlyWithoutAnInternalToken) {
  auth::ClientRegistryHolder clients{
      registry_of({client_json("reader", "tok-read", R"(["read"])"),
                   client_json("signer", "tok-sign", R"(["sign"])")})};
  http::RequestGate gate(options(), &clients);
  EXPECT_EQ(status_of(gate, request("GET", "/batch/0/1/0")), 401);
  EXPECT_EQ(status_of(gate, request("GET", "/batch/0/1/0", {{"Authorization", "Bearer tok-read"}})),
            403);
  const auto signer = request("GET", "/batch/0/1/0", {{"Authorization", "Bearer tok-sign"}});
  EXPECT_EQ(status_of(gate, signer), 0);
  EXPECT_FALSE(gate.identify(signer).internal);
  EXPECT_EQ(gate.identify(signer).name, "signer");
}

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

TEST_F(RequestGateTest, WithAnInternalTokenBatchTakesOnlyTheInternalIdentity) {
  EXPECT_EQ(status_of(gate, request("GET", "/batch/0/1/0")), 401);
  EXPECT_EQ(status_of(gate, request("GET", "/batch/0/1/0", {{"X-Internal-Token", "nope"}})), 401);
  const auto pod = request("GET", "/batch/0/1/0", {{"X-Internal-Token", "internal-secret"}});
  EXPECT_EQ(status_of(gate, pod), 0);
  EXPECT_TRUE(gate.identify(pod).internal);
  // A client's bearer token is not enough, whatever its roles.
  EXPECT_EQ(status_of(gate, request("GET", "/batch/0/1/0", {{"Authorization", "Bearer tok-read"}})),
            401);
  EXPECT_EQ(status_of(gate, request("GET", "/batch/0/1/0", {{"Authorization", "Bearer tok-sign"}})),
            401);
  // And the internal token is no credential anywhere else.
  EXPECT_EQ(status_of(gate, request("GET", "/stats", {{"X-Internal-Token", "internal-secret"}})),
            401);
  EXPECT_FALSE(
      gate.identify(request("GET", "/stats", {{"X-Internal-Token", "internal-secret"}})).internal);
}

TEST_F(RequestGateTest, OnlyAnUploadTakesABodyAndNoneIsEverInflated) {
  const auto with = [&](std::string method, std::string path,
                        std::initializer_list<std::pair<std::string, std::string>> extra) {
    http::Request req =
        request(std::move(method), std::move(path),
                {{"Authorization", "Bearer tok-sign"}, {"Content-Type", "application/x-ndjson"}});
    for (const auto& [name, value] : extra) req.headers.emplace_back(name, value);
    return status_of(gate, req);
  };
  EXPECT_EQ(with("GET", "/healthz", {{"Content-Length", "10"}}), 400);
  EXPECT_EQ(with("GET", "/healthz", {{"Content-Length", "0"}}), 0);
  EXPECT_EQ(with("HEAD", "/healthz", {{"Content-Length", "3"}}), 400);
  EXPECT_EQ(with("POST", "/healthz", {{"Content-Length", "3"}}), 400);
  EXPECT_EQ(with("GET", "/sign/1", {{"Content-Length", "49"}}), 400);
  EXPECT_EQ(with("POST", "/records", {{"Content-Length", "10"}}), 0);
  EXPECT_EQ(with("POST", "/records", {{"Content-Length", "10"}, {"Content-Encoding", "gzip"}}),
            415);
  EXPECT_EQ(with("POST", "/records", {{"Content-Length", "10"}, {"Content-Encoding", "identity"}}),
            0);
  EXPECT_EQ(with("GET", "/healthz", {{"Content-Encoding", "br"}}), 415);
}

TEST(RequestGate, CertificatesNameClientsByCnOrDnsNameUnlessForwardedOrAProxys) {
  auth::ClientRegistryHolder clients{registry_of(
      {R"({"name":"ops","roles":["read"],"cert_names":["ops-client","ops.example"]})"})};
  http::RequestGate gate(options({}, "", {"ingress.example"}), &clients);
  const auto stats = request("GET", "/stats");
  EXPECT_EQ(status_of(gate, stats), 401);
  EXPECT_EQ(status_of(gate, with_certificate(stats, "ops-client")), 0);
  EXPECT_EQ(status_of(gate, with_certificate(stats, "someone", {"ops.example"})), 0);
  EXPECT_EQ(status_of(gate, with_certificate(stats, "someone", {"other.example"})), 401);
  // A forwarded request's certificate is the proxy's, not the caller's.
  for (const char* header : {"X-Forwarded-For", "Forwarded", "X-Real-IP"}) {
    EXPECT_EQ(status_of(gate, with_certificate(request("GET", "/stats", {{header, "10.0.0.1"}}),
                                               "ops-client")),
              401)
        << header;
  }
  // A proxy's own certificate names nobody, even when it also carries a client's name.
  EXPECT_EQ(status_of(gate, with_certificate(stats, "ingress.example", {"ops.example"})), 401);
}

TEST(RequestGate, RefusesAClientNamedByAProxysCertificate) {
  const auth::ClientRegistry clients =
      registry_of({R"({"name":"ops","roles":["read"],"cert_names":["ingress.example"]})"});
  try {
    http::check_proxy_cert_names(clients, {"ingress.example"});
    FAIL() << "a client named by the proxy's certificate was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("ops"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ingress.example"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(http::check_proxy_cert_names(clients, {"other.example"}));
}

TEST(ClientRegistry, ARotatedTokenKeepsTheOldOneOnlyForItsGracePeriod) {
  auth::ClientRegistry registry = registry_of({client_json("ops", "old-token", R"(["read"])")});
  registry.rotate("ops", auth::hash_token("new-token"), kNow + 600'000, kNow);
  EXPECT_NE(registry.find_by_token("new-token", kNow), nullptr);
  EXPECT_NE(registry.find_by_token("old-token", kNow + 599'999), nullptr);
  EXPECT_EQ(registry.find_by_token("old-token", kNow + 600'000), nullptr);
  // The file keeps the grace period across a write and a read.
  const auto again = auth::ClientRegistry::parse(registry.to_json());
  EXPECT_NE(again.find_by_token("old-token", kNow), nullptr);
  EXPECT_EQ(again.find_by_token("old-token", kNow + 600'000), nullptr);
  // Without a grace period the old token stops at once.
  registry.rotate("ops", auth::hash_token("third-token"), kNow, kNow);
  EXPECT_EQ(registry.find_by_token("new-token", kNow), nullptr);
  EXPECT_NE(registry.find_by_token("third-token", kNow), nullptr);
  EXPECT_THROW(registry.rotate("nobody", auth::hash_token("x"), 0, kNow), auth::ClientsFileError);
}

TEST(ClientRegistry, RemoveExpireAndDiffForTheAuditTrail) {
  auth::ClientRegistry before = registry_of({client_json("a", "tok-a", R"(["read"])"),
                                             client_json("b", "tok-b", R"(["read"])"),
                                             client_json("c", "tok-c", R"(["read"])")});
  auth::ClientRegistry after = before;
  after.remove("a");
  after.rotate("b", auth::hash_token("tok-b2"), 0, kNow);
  auth::Client d = *before.find_by_name("c");
  d.name = "d";
  d.token_hash = auth::hash_token("tok-d");
  after.add(d);
  EXPECT_THROW(after.remove("a"), auth::ClientsFileError);
  const auto changes = auth::diff_clients(before, after);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(auth::to_string(changes[0].kind), "removed");
  EXPECT_EQ(changes[0].name, "a");
  EXPECT_EQ(auth::to_string(changes[1].kind), "rotated");
  EXPECT_EQ(changes[1].name, "b");
  EXPECT_EQ(auth::to_string(changes[2].kind), "added");
  EXPECT_EQ(changes[2].name, "d");

  const auto expiring = auth::ClientRegistry::parse(
      R"({"clients":[{"name":"e","token_sha256":")" + auth::to_hex(auth::hash_token("tok-e")) +
      R"(","roles":["read"],"expires":"2027-01-15T08:00:00Z"}]})");
  const auth::Client* e = expiring.find_by_token("tok-e", kNow);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->expired(kNow - 1));
  EXPECT_TRUE(e->expired(kNow));
  EXPECT_EQ(auth::format_utc_time(kNow), "2027-01-15T08:00:00Z");
  for (const char* bad : {"2027-01-15 08:00:00Z", "2027-01-15T08:00:00", "2027-13-01T00:00:00Z",
                          "2027-02-30T00:00:00Z", "tomorrow"}) {
    EXPECT_EQ(auth::parse_utc_time(bad), std::nullopt) << bad;
  }
}

TEST(RequestGate, AnExpiredClientIsRefusedSayingSo) {
  auth::ClientRegistryHolder clients{auth::ClientRegistry::parse(
      R"({"clients":[{"name":"old","token_sha256":")" + auth::to_hex(auth::hash_token("tok-old")) +
      R"(","roles":["read"],"expires":"2020-01-01T00:00:00Z"}]})")};
  http::RequestGate gate(options(), &clients);
  const auto refusal = gate.check(request("GET", "/stats", {{"Authorization", "Bearer tok-old"}}));
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->status, 401);
  EXPECT_NE(refusal->message.find("expired at 2020-01-01T00:00:00Z"), std::string::npos)
      << refusal->message;
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
    http::Request req = request("POST", "/records", {{"Authorization", "Bearer tok-sign"}});
    if (!type.empty()) req.headers.emplace_back("Content-Type", type);
    if (!te.empty()) req.headers.emplace_back("Transfer-Encoding", te);
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
  http::Request get = request(
      "GET", "/stats", {{"Authorization", "Bearer tok-read"}, {"Transfer-Encoding", "CHUNKED"}});
  EXPECT_EQ(status_of(gate, get), 411);
}

TEST(RequestGate, WithoutClientsEveryoneIsAnonymousButTheInternalTokenStillHolds) {
  http::RequestGate open(options({}, "internal-secret"), nullptr);
  EXPECT_EQ(status_of(open, request("GET", "/sign/1")), 0);
  EXPECT_EQ(status_of(open, request("GET", "/batch/0/1/0")), 401);
  EXPECT_EQ(open.identify(request("GET", "/stats")).name, "anonymous");
  http::RequestGate no_host_check(options({}, "", {}, false), nullptr);
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
