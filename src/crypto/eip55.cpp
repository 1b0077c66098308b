#include "crypto/eip55.h"

#include <cstdint>
#include <span>

#include "crypto/keccak.h"

namespace signer::crypto {

std::string eip55_address(std::string_view lower40) {
  const Hash256 check =
      keccak256(std::span(reinterpret_cast<const std::uint8_t*>(lower40.data()), lower40.size()));
  std::string out = "0x";
  out.reserve(2 + lower40.size());
  for (std::size_t i = 0; i < lower40.size(); ++i) {
    const std::uint8_t nibble = (i % 2 == 0) ? (check[i / 2] >> 4) : (check[i / 2] & 0x0f);
    const char c = lower40[i];
    out.push_back((c >= 'a' && nibble >= 8) ? static_cast<char>(c - 'a' + 'A') : c);
  }
  return out;
}

}  // namespace signer::crypto
