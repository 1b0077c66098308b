#include "schemes/eip191.h"

#include <cryptopp/keccak.h>

#include <charconv>

namespace signer::schemes {
namespace {

const CryptoPP::byte* as_bytes(std::string_view s) {
  return reinterpret_cast<const CryptoPP::byte*>(s.data());
}

}  // namespace

crypto::Hash256 eip191_hash(std::string_view first, std::string_view second) {
  char length[24];
  const auto written = std::to_chars(length, length + sizeof(length), first.size() + second.size());
  CryptoPP::Keccak_256 hasher;
  hasher.Update(as_bytes(kEip191Prefix), kEip191Prefix.size());
  hasher.Update(reinterpret_cast<const CryptoPP::byte*>(length),
                static_cast<std::size_t>(written.ptr - length));
  hasher.Update(as_bytes(first), first.size());
  hasher.Update(as_bytes(second), second.size());
  crypto::Hash256 out{};
  hasher.Final(out.data());
  return out;
}

}  // namespace signer::schemes
