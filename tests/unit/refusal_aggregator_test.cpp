// The audit trail stays bounded under a flood of refusals (audit/refusal_aggregator.h): one event
// per address, route and outcome per window, carrying the count, on a clock the test drives.
#include "audit/refusal_aggregator.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "store/sqlite/sqlite_store.h"
#include "test_support.h"

namespace signer::audit {
namespace {

class RefusalAggregatorTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  std::unique_ptr<store::Store> store_ =
      std::make_unique<store::SqliteStore>(dir_.path() / "audit.db");
  AuditLog log_{*store_};
  std::int64_t now_ = 1'000'000;

  RefusalAggregator make(std::size_t max_keys = 100) {
    return RefusalAggregator(log_, std::chrono::seconds(60), std::chrono::milliseconds(0), max_keys,
                             [this] { return now_; });
  }
  static AuditEvent refusal(std::string address, std::string route = "/stats") {
    return {.client = "anonymous",
            .remote_addr = std::move(address),
            .route = std::move(route),
            .outcome = "refused:401",
            .detail = "GET: unauthenticated"};
  }
  std::vector<AuditEvent> events() { return store_->list_audit(std::nullopt, 1000); }
};

TEST_F(RefusalAggregatorTest, AFloodFromOneAddressIsOneEventAMinuteWithItsCount) {
  RefusalAggregator refusals = make();
  for (int i = 0; i < 10'000; ++i) refusals.refused(refusal("10.0.0.1"));
  ASSERT_EQ(events().size(), 1u);  // the first, at once
  EXPECT_EQ(events()[0].count, 1u);
  now_ += 30'000;
  refusals.flush();
  EXPECT_EQ(events().size(), 1u);  // the minute has not passed
  now_ += 30'000;
  refusals.flush();
  ASSERT_EQ(events().size(), 2u);
  EXPECT_EQ(events()[0].count, 9'999u);
  // A quiet minute forgets the key: its next refusal is written at once.
  now_ += 60'000;
  refusals.flush();
  now_ += 60'000;
  refusals.flush();
  EXPECT_EQ(events().size(), 2u);
  refusals.refused(refusal("10.0.0.1"));
  EXPECT_EQ(events().size(), 3u);
}

TEST_F(RefusalAggregatorTest, AddressesRoutesAndOutcomesAreCountedApart) {
  {
    RefusalAggregator refusals = make();
    refusals.refused(refusal("10.0.0.1"));
    refusals.refused(refusal("10.0.0.2"));
    refusals.refused(refusal("10.0.0.1", "/sign"));
    AuditEvent forbidden = refusal("10.0.0.1");
    forbidden.outcome = "refused:403";
    refusals.refused(forbidden);
    refusals.refused(refusal("10.0.0.2"));
    EXPECT_EQ(events().size(), 4u);
  }  // destroyed: what is still counted is written
  const auto all = events();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].remote_addr, "10.0.0.2");
  EXPECT_EQ(all[0].count, 1u);
}

TEST_F(RefusalAggregatorTest, PastTheKeyLimitNewAddressesShareOneAggregate) {
  RefusalAggregator refusals = make(/*max_keys=*/3);
  for (int i = 0; i < 1000; ++i)
    refusals.refused(refusal("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250)));
  EXPECT_EQ(events().size(), 3u);
  now_ += 60'000;
  refusals.flush();
  const auto all = events();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].remote_addr, "*");
  EXPECT_EQ(all[0].count, 997u);
}

}  // namespace
}  // namespace signer::audit
