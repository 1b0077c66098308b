// Shards and batch ranges (DESIGN.md §3).
// A record's shard is a uint32 derived from its id; batch b of B owns the contiguous shard range
// [floor(b*2^32/B), floor((b+1)*2^32/B)). Stores index `shard`, so a batch reads only its own slice
// and a whole job reads every record once: O(records), not O(records x batches).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace signer::records {

// `id`'s first 8 characters read as hex (either case), when it has 8 and they all are hex digits.
std::optional<std::uint32_t> hex_prefix_of(std::string_view id);

// The shard of `id`: hex_prefix_of(id) when there is one; otherwise the first 4 bytes of
// Keccak-256(id), big-endian. Total: any id has a shard.
std::uint32_t shard_of(std::string_view id);

// Half-open range of shards [begin, end); end may be 2^32.
struct ShardRange {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;

  bool contains(std::uint32_t shard) const { return shard >= begin && shard < end; }
  friend bool operator==(const ShardRange&, const ShardRange&) = default;
};

// The shard range of batch `batch` of `batch_count`.
// Preconditions: batch_count >= 1 and batch < batch_count (the HTTP layer checks them).
// The ranges of batches 0..B-1 are disjoint and cover [0, 2^32) for every B up to 2^64-1.
ShardRange shard_range_for_batch(std::uint64_t batch, std::uint64_t batch_count);

}  // namespace signer::records
