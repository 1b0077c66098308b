// libFuzzer target: shard_of is total, and every shard falls in exactly the batch range that
// the arithmetic owner formula names, for batch counts drawn from the input.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "records/shard.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint64_t batches = 1;
  if (size >= 8) {
    std::memcpy(&batches, data, 8);
    data += 8;
    size -= 8;
  }
  if (batches == 0) batches = 1;
  const std::string id(reinterpret_cast<const char*>(data), size);
  const std::uint32_t shard = signer::records::shard_of(id);
  if (shard != signer::records::shard_of(id)) std::abort();  // deterministic
  __extension__ typedef unsigned __int128 u128;
  const std::uint64_t owner =
      static_cast<std::uint64_t>(((static_cast<u128>(shard) + 1) * batches - 1) >> 32);
  const auto range = signer::records::shard_range_for_batch(owner, batches);
  if (!range.contains(shard)) std::abort();
  if (owner + 1 < batches &&
      signer::records::shard_range_for_batch(owner + 1, batches).contains(shard)) {
    std::abort();
  }
  return 0;
}
