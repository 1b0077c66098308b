// The secret half of a signing key, as a type that cannot leak by accident.
// A PrivateKey has no stream operator, no to_string and no formatter; its bytes are wiped when it
// is destroyed or moved from. Hex of a private key exists only inside the key-file parser/writer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace signer::crypto {

// Overwrites `bytes` with zeros in a way the compiler may not elide.
void secure_zero(void* data, std::size_t size);

class PrivateKey {
 public:
  static constexpr std::size_t kSize = 32;

  // Takes a copy of `bytes` (exactly 32). The caller still owns and must wipe its own buffer.
  // Does not validate the scalar; KeyRing and MessageSigner::is_valid_private_key do.
  explicit PrivateKey(std::span<const std::uint8_t, kSize> bytes);
  ~PrivateKey();

  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;
  PrivateKey(PrivateKey&& other) noexcept;
  PrivateKey& operator=(PrivateKey&& other) noexcept;

  // The 32 secret bytes, big-endian. Only crypto code should call this.
  const std::uint8_t* data() const { return bytes_.data(); }

  // True when every byte is zero (a wiped or moved-from key).
  bool is_wiped() const;

 private:
  std::array<std::uint8_t, kSize> bytes_;
};

}  // namespace signer::crypto
