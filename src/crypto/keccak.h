// Keccak-256 as Ethereum uses it: the original Keccak padding (0x01), not NIST SHA3-256 (0x06).
// Backed by Crypto++'s Keccak_256; OpenSSL 3.0 has no Keccak-256.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace signer::crypto {

using Hash256 = std::array<std::uint8_t, 32>;

// Returns Keccak-256 of `data`. Never fails.
Hash256 keccak256(std::span<const std::uint8_t> data);

// Returns Keccak-256 of the bytes of `first` followed by the bytes of `second`, with no separator.
// This is the record hash of the compatibility contract: keccak256_concat(salt, msg).
Hash256 keccak256_concat(std::string_view first, std::string_view second);

}  // namespace signer::crypto
