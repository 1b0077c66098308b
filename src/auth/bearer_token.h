// Bearer tokens: made from 32 random bytes, shown once, and stored only as their SHA-256. A stolen
// clients file therefore gives no token, and comparing hashes in constant time gives away nothing
// about how much of a guess was right.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace signer::auth {

using TokenHash = std::array<std::uint8_t, 32>;

// Returns a new token: "mst_" + 64 lowercase hex characters from getrandom(2).
// Throws std::runtime_error when the kernel's random source fails.
std::string new_bearer_token();

// SHA-256 of the token's bytes.
TokenHash hash_token(std::string_view token);

// Lowercase hex of a hash, as the clients file stores it.
std::string to_hex(const TokenHash& hash);

// Parses 64 hex characters. Returns false (and leaves `out` unspecified) for anything else.
bool parse_token_hash(std::string_view hex, TokenHash& out);

// Compares two hashes in time independent of their contents.
bool hashes_equal(const TokenHash& a, const TokenHash& b);

// Extracts the token from an Authorization header value "Bearer <token>" (scheme case-insensitive).
// Returns an empty view when the header is absent or uses another scheme.
std::string_view bearer_token_of(std::string_view authorization);

}  // namespace signer::auth
