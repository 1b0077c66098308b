#include "auth/bearer_token.h"

#include <cryptopp/misc.h>
#include <cryptopp/sha.h>
#include <sys/random.h>

#include <cctype>
#include <cerrno>
#include <stdexcept>

#include "crypto/hex.h"

namespace signer::auth {

std::string new_bearer_token() {
  std::array<std::uint8_t, 32> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("getrandom failed while making a token");
    }
    got += static_cast<std::size_t>(n);
  }
  std::string token = "mst_";
  crypto::append_hex(token, bytes);
  CryptoPP::SecureWipeBuffer(bytes.data(), bytes.size());
  return token;
}

TokenHash hash_token(std::string_view token) {
  TokenHash hash{};
  CryptoPP::SHA256 sha;
  sha.CalculateDigest(hash.data(), reinterpret_cast<const CryptoPP::byte*>(token.data()),
                      token.size());
  return hash;
}

std::string to_hex(const TokenHash& hash) {
  std::string hex;
  crypto::append_hex(hex, hash);
  return hex;
}

bool parse_token_hash(std::string_view hex, TokenHash& out) { return crypto::decode_hex(hex, out); }

bool hashes_equal(const TokenHash& a, const TokenHash& b) {
  return CryptoPP::VerifyBufsEqual(a.data(), b.data(), a.size());
}

std::string_view bearer_token_of(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return {};
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  return token;
}

}  // namespace signer::auth
