// Random UUIDv4 salts, one per signed record.
// Salts come from the kernel CSPRNG (getrandom) but are drawn in 4 KiB blocks, so a salt costs a
// memcpy and 32 table look-ups instead of a system call. Not thread-safe: one generator a thread.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace signer::crypto {

class SaltGenerator {
 public:
  static constexpr std::size_t kSaltLength = 36;

  SaltGenerator() = default;
  SaltGenerator(const SaltGenerator&) = delete;
  SaltGenerator& operator=(const SaltGenerator&) = delete;

  // Returns a fresh random UUIDv4, lowercase with hyphens (36 characters).
  // Throws std::system_error only if the kernel CSPRNG fails.
  std::string next();

  // Writes a fresh UUIDv4 into `out` (exactly 36 characters, no terminator).
  void next_into(char* out);

 private:
  static constexpr std::size_t kBlock = 4096;
  std::array<unsigned char, kBlock> pool_{};
  std::size_t used_ = kBlock;
};

// True when `text` is a salt exactly as SaltGenerator writes it: 36 characters, lowercase hex
// with hyphens at 8, 13, 18 and 23, version nibble '4' and RFC 4122 variant '8'..'b'.
// Anything else (uppercase, braces, no hyphens, another version, empty) is false.
bool is_uuid_v4(std::string_view text);

}  // namespace signer::crypto
