#include "crypto/salt_generator.h"

#include <cstring>
#include <span>

#include "crypto/secp256k1_context.h"

namespace signer::crypto {
namespace {
constexpr char kDigits[] = "0123456789abcdef";
}

void SaltGenerator::next_into(char* out) {
  if (used_ + 16 > kBlock) {
    fill_random(std::as_writable_bytes(std::span(pool_)));
    used_ = 0;
  }
  unsigned char b[16];
  std::memcpy(b, pool_.data() + used_, 16);
  used_ += 16;
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::size_t pos = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[pos++] = '-';
    out[pos++] = kDigits[b[i] >> 4];
    out[pos++] = kDigits[b[i] & 0x0f];
  }
}

std::string SaltGenerator::next() {
  std::string out(kSaltLength, '\0');
  next_into(out.data());
  return out;
}

bool is_uuid_v4(std::string_view text) {
  if (text.size() != SaltGenerator::kSaltLength) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  const char variant = text[19];
  return text[14] == '4' && (variant == '8' || variant == '9' || variant == 'a' || variant == 'b');
}

}  // namespace signer::crypto
