// The front door (http/http_server.h) driven directly, for what the end-to-end tests can only
// see as a race.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "http/http_server.h"
#include "http/router.h"

namespace signer::http {
namespace {

// A client that has read an answer must find it counted: the response observer (the request
// metrics) runs before the answer's first byte goes out, not after the write completes. The
// observer here is slow on purpose, so an observer that ran after the write would still be
// running when the client reads the answer.
TEST(HttpServer, AnAnswerIsObservedBeforeTheClientCanReadIt) {
  Router router;
  router.get("/ping", [](const Request&, Response& res) { res.set_content("pong", "text/plain"); });
  std::atomic<int> observed{0};
  ListenerConfig config;
  config.router = &router;
  config.on_response = [&observed](const Request*, const Response&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    observed.fetch_add(1);
  };
  HttpServer server(nullptr, 1);
  server.add_listener(std::move(config));
  ASSERT_TRUE(server.bind());
  std::jthread serving([&server] { server.run(); });

  httplib::Client client("127.0.0.1", server.port(0));
  for (int i = 1; i <= 3; ++i) {
    const auto res = client.Get("/ping");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "pong");
    EXPECT_EQ(observed.load(), i) << "answer " << i << " was readable before it was observed";
  }
  server.stop();
}

}  // namespace
}  // namespace signer::http
