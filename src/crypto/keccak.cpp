#include "crypto/keccak.h"

#include <cryptopp/keccak.h>

namespace signer::crypto {
namespace {

const CryptoPP::byte* as_bytes(std::string_view s) {
  return reinterpret_cast<const CryptoPP::byte*>(s.data());
}

// The calling thread's hasher, reused: Final() restarts it (zeroes its state), so the hot path
// does not make and wipe a hasher for each record.
CryptoPP::Keccak_256& thread_hasher() {
  thread_local CryptoPP::Keccak_256 hasher;
  return hasher;
}

}  // namespace

Hash256 keccak256(std::span<const std::uint8_t> data) {
  Hash256 out{};
  thread_hasher().CalculateDigest(out.data(), data.data(), data.size());
  return out;
}

Hash256 keccak256_concat(std::string_view first, std::string_view second) {
  CryptoPP::Keccak_256& hasher = thread_hasher();
  hasher.Update(as_bytes(first), first.size());
  hasher.Update(as_bytes(second), second.size());
  Hash256 out{};
  hasher.Final(out.data());
  return out;
}

}  // namespace signer::crypto
