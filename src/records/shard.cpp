#include "records/shard.h"

#include "crypto/hex.h"
#include "crypto/keccak.h"

namespace signer::records {
namespace {

__extension__ typedef unsigned __int128 uint128;

// floor(b * 2^32 / B) without overflow: b < B <= 2^64-1, so use 128-bit arithmetic.
std::uint64_t range_start(std::uint64_t batch, std::uint64_t batch_count) {
  const uint128 scaled = static_cast<uint128>(batch) << 32;
  return static_cast<std::uint64_t>(scaled / batch_count);
}

}  // namespace

std::optional<std::uint32_t> hex_prefix_of(std::string_view id) {
  if (id.size() < 8) return std::nullopt;
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    const int v = crypto::hex_digit_value(id[i]);
    if (v < 0) return std::nullopt;
    value = (value << 4) | static_cast<std::uint32_t>(v);
  }
  return value;
}

std::uint32_t shard_of(std::string_view id) {
  if (const auto prefix = hex_prefix_of(id)) return *prefix;
  const crypto::Hash256 h = crypto::keccak256_concat(id, {});
  return (static_cast<std::uint32_t>(h[0]) << 24) | (static_cast<std::uint32_t>(h[1]) << 16) |
         (static_cast<std::uint32_t>(h[2]) << 8) | static_cast<std::uint32_t>(h[3]);
}

ShardRange shard_range_for_batch(std::uint64_t batch, std::uint64_t batch_count) {
  return ShardRange{range_start(batch, batch_count), range_start(batch + 1, batch_count)};
}

}  // namespace signer::records
