// Shard function and batch ranges (DESIGN.md §3), including the edges the issue names.
#include <gtest/gtest.h>

#include <random>

#include "crypto/keccak.h"
#include "records/shard.h"

namespace signer::records {
namespace {

constexpr std::uint64_t kSpace = std::uint64_t{1} << 32;

TEST(Shard, IsTheFirstEightHexDigits) {
  EXPECT_EQ(shard_of("830f559b22b74bfcbb5631fae20462cb"), 0x830f559bu);
  EXPECT_EQ(shard_of("00000000"), 0u);
  EXPECT_EQ(shard_of("ffffffff-rest-ignored"), 0xffffffffu);
}

TEST(Shard, UppercaseHexReadsTheSameAsLowercase) {
  EXPECT_EQ(shard_of("830F559B22B7"), shard_of("830f559b22b7"));
}

TEST(Shard, NonHexIdsUseKeccakPrefix) {
  const auto h = crypto::keccak256_concat("order-42", "");
  const std::uint32_t expected = (std::uint32_t{h[0]} << 24) | (std::uint32_t{h[1]} << 16) |
                                 (std::uint32_t{h[2]} << 8) | std::uint32_t{h[3]};
  EXPECT_EQ(shard_of("order-42"), expected);
  EXPECT_NE(shard_of("830f559g"), 0x830f559u);  // 'g' at position 8 of 8 breaks the hex read
}

TEST(Shard, IdsShorterThanEightCharactersUseKeccakPrefix) {
  const auto h = crypto::keccak256_concat("abc", "");
  EXPECT_EQ(shard_of("abc"), (std::uint32_t{h[0]} << 24) | (std::uint32_t{h[1]} << 16) |
                                 (std::uint32_t{h[2]} << 8) | std::uint32_t{h[3]});
  EXPECT_NE(shard_of("abc"), 0xabcu);
  // Empty id is still total.
  (void)shard_of("");
}

TEST(ShardRange, OneBatchOwnsEverything) {
  EXPECT_EQ(shard_range_for_batch(0, 1), (ShardRange{0, kSpace}));
}

TEST(ShardRange, RangesTileTheSpaceWhenBDoesNotDivideIt) {
  for (std::uint64_t batches : {2ull, 3ull, 7ull, 700ull, 65537ull}) {
    std::uint64_t expected_begin = 0;
    for (std::uint64_t b = 0; b < batches; ++b) {
      const ShardRange r = shard_range_for_batch(b, batches);
      ASSERT_EQ(r.begin, expected_begin) << b << "/" << batches;
      ASSERT_LE(r.begin, r.end);
      // floor division: widths differ by at most one
      const std::uint64_t width = r.end - r.begin;
      ASSERT_TRUE(width == kSpace / batches || width == kSpace / batches + 1);
      expected_begin = r.end;
    }
    EXPECT_EQ(expected_begin, kSpace);
  }
}

TEST(ShardRange, MoreBatchesThanShardsLeavesSomeEmptyButStillTiles) {
  const std::uint64_t batches = kSpace * 3;  // B larger than any record count
  EXPECT_EQ(shard_range_for_batch(0, batches).begin, 0u);
  EXPECT_EQ(shard_range_for_batch(batches - 1, batches).end, kSpace);
  const ShardRange r1 = shard_range_for_batch(1, batches);
  const ShardRange r2 = shard_range_for_batch(2, batches);
  EXPECT_EQ(r1.end, r2.begin);
  EXPECT_EQ(shard_range_for_batch(UINT64_MAX - 1, UINT64_MAX).end, kSpace);
}

TEST(ShardRange, EveryShardBelongsToExactlyOneBatch) {
  std::mt19937 rng(7);
  for (std::uint64_t batches : {1ull, 5ull, 143ull, 100001ull}) {
    for (int i = 0; i < 2000; ++i) {
      const std::uint32_t shard = static_cast<std::uint32_t>(rng());
      const std::uint64_t owner = (static_cast<std::uint64_t>(shard) * batches) >> 32;
      int owners = 0;
      for (std::uint64_t b = owner > 0 ? owner - 1 : 0; b < std::min(batches, owner + 2); ++b) {
        owners += shard_range_for_batch(b, batches).contains(shard);
      }
      ASSERT_EQ(owners, 1) << shard << " in " << batches;
      ASSERT_TRUE(shard_range_for_batch(owner, batches).contains(shard));
    }
  }
}

}  // namespace
}  // namespace signer::records
