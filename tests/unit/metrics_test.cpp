// The Prometheus registry's text format.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace signer::metrics
