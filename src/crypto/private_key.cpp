#include "crypto/private_key.h"

#include <cstring>

namespace signer::crypto {

void secure_zero(void* data, std::size_t size) { explicit_bzero(data, size); }

PrivateKey::PrivateKey(std::span<const std::uint8_t, kSize> bytes) {
  std::memcpy(bytes_.data(), bytes.data(), kSize);
}

PrivateKey::~PrivateKey() { secure_zero(bytes_.data(), kSize); }

PrivateKey::PrivateKey(PrivateKey&& other) noexcept : bytes_(other.bytes_) {
  secure_zero(other.bytes_.data(), kSize);
}

PrivateKey& PrivateKey::operator=(PrivateKey&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    secure_zero(other.bytes_.data(), kSize);
  }
  return *this;
}

bool PrivateKey::is_wiped() const {
  std::uint8_t acc = 0;
  for (std::uint8_t b : bytes_) acc = static_cast<std::uint8_t>(acc | b);
  return acc == 0;
}

}  // namespace signer::crypto
