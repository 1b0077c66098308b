// The Prometheus registry's text format.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "metrics/registry.h"

namespace signer::metrics {
namespace {

TEST(Registry, RendersCountersGaugesAndHistograms) {
  Registry r;
  r.declare("x_total", Registry::Type::kCounter, "Things.");
  r.declare("y", Registry::Type::kGauge, "Level.");
  r.declare("z_seconds", Registry::Type::kHistogram, "Time.", {0.1, 1});
  r.increment("x_total", {{"key", "a\"b"}}, 2);
  r.set("y", {}, 7);
  r.observe("z_seconds", {{"op", "move"}}, 0.5);
  r.observe("z_seconds", {{"op", "move"}}, 5);
  r.increment("undeclared");
  const std::string text = r.render();
  EXPECT_NE(text.find("# TYPE x_total counter\nx_total{key=\"a\\\"b\"} 2\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("y 7\n"), std::string::npos);
  EXPECT_NE(text.find("z_seconds_bucket{op=\"move\",le=\"0.1\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("z_seconds_bucket{op=\"move\",le=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("z_seconds_bucket{op=\"move\",le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("z_seconds_count{op=\"move\"} 2\n"), std::string::npos);
  EXPECT_EQ(text.find("undeclared"), std::string::npos);
  EXPECT_EQ(r.value("x_total", {{"key", "a\"b"}}), 2);
}

TEST(Registry, ConcurrentUpdatesAndRendersAreConsistent) {
  Registry r;
  r.declare("c_total", Registry::Type::kCounter, "C.");
  r.declare("h_seconds", Registry::Type::kHistogram, "H.", {1});
  std::vector<std::jthread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&r, t] {
      for (int i = 0; i < 2000; ++i) {
        r.increment("c_total", {{"t", std::to_string(t % 2)}});
        r.observe("h_seconds", {}, 0.5);
        if (i % 100 == 0) (void)r.render();
      }
    });
  }
  threads.clear();  // joins
  EXPECT_EQ(r.value("c_total", {{"t", "0"}}) + r.value("c_total", {{"t", "1"}}), 8000);
  EXPECT_NE(r.render().find("h_seconds_count 8000\n"), std::string::npos);
}

}  // namespace
}  // namespace signer::metrics
