#include "crypto/rfc6979_nonce.h"

#include <nettle/hmac.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "crypto/private_key.h"

namespace signer::crypto {
namespace {

using Bytes32 = std::array<std::uint8_t, 32>;

// The order n of secp256k1's group, big-endian.
constexpr Bytes32 kOrder = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                            0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48,
                            0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41};

// msg32 mod n, big-endian, as libsecp256k1 seeds the generator (bits2octets of RFC 6979 2.3.4).
// A 256-bit value is below 2n, so one subtraction is enough. msg32 is a public hash.
void reduce_mod_order(const unsigned char* msg32, std::uint8_t* out) {
  std::memcpy(out, msg32, 32);
  if (std::memcmp(msg32, kOrder.data(), 32) < 0) return;
  unsigned borrow = 0;
  for (std::size_t i = 32; i-- > 0;) {
    const unsigned diff = 256U + msg32[i] - kOrder[i] - borrow;
    out[i] = static_cast<std::uint8_t>(diff & 0xFFU);
    borrow = diff < 256U ? 1U : 0U;
  }
}

// RFC 6979 section 3.2's HMAC-DRBG over HMAC-SHA256.
class HmacDrbg {
 public:
  explicit HmacDrbg(const std::uint8_t* seed, std::size_t seed_size) {
    v_.fill(0x01);                  // 3.2 b
    k_.fill(0x00);                  // 3.2 c
    update(0x00, seed, seed_size);  // 3.2 d, e
    update(0x01, seed, seed_size);  // 3.2 f, g
  }
  ~HmacDrbg() {
    secure_zero(k_.data(), k_.size());
    secure_zero(v_.data(), v_.size());
    secure_zero(&mac_, sizeof mac_);
  }
  HmacDrbg(const HmacDrbg&) = delete;
  HmacDrbg& operator=(const HmacDrbg&) = delete;

  // 3.2 h: the next 32 bytes; before every output but the first, K and V are updated as in
  // step h.3.
  void generate(unsigned char* out32) {
    if (retry_) update(0x00, nullptr, 0);
    next_v();
    std::memcpy(out32, v_.data(), v_.size());
    retry_ = true;
  }

 private:
  // K = HMAC_K(V || separator || extra); V = HMAC_K(V).
  void update(std::uint8_t separator, const std::uint8_t* extra, std::size_t extra_size) {
    hmac_sha256_set_key(&mac_, k_.size(), k_.data());
    hmac_sha256_update(&mac_, v_.size(), v_.data());
    hmac_sha256_update(&mac_, 1, &separator);
    if (extra_size > 0) hmac_sha256_update(&mac_, extra_size, extra);
    hmac_sha256_digest(&mac_, k_.size(), k_.data());
    next_v();
  }

  // V = HMAC_K(V).
  void next_v() {
    hmac_sha256_set_key(&mac_, k_.size(), k_.data());
    hmac_sha256_update(&mac_, v_.size(), v_.data());
    hmac_sha256_digest(&mac_, v_.size(), v_.data());
  }

  Bytes32 k_{};
  Bytes32 v_{};
  bool retry_ = false;
  hmac_sha256_ctx mac_{};
};

}  // namespace

int rfc6979_nonce(unsigned char* nonce32, const unsigned char* msg32, const unsigned char* key32,
                  const unsigned char* algo16, void* data, unsigned int counter) {
  // key32 || msg32 mod n || data (32) || algo16 (16): each part has a fixed length, so no two
  // mixtures of them give the same seed.
  std::array<std::uint8_t, 32 + 32 + 32 + 16> seed{};
  std::size_t size = 0;
  std::memcpy(seed.data(), key32, 32);
  size += 32;
  reduce_mod_order(msg32, seed.data() + size);
  size += 32;
  if (data != nullptr) {
    std::memcpy(seed.data() + size, data, 32);
    size += 32;
  }
  if (algo16 != nullptr) {
    std::memcpy(seed.data() + size, algo16, 16);
    size += 16;
  }
  {
    HmacDrbg drbg(seed.data(), size);
    secure_zero(seed.data(), seed.size());
    for (unsigned int i = 0; i <= counter; ++i) drbg.generate(nonce32);
  }
  return 1;
}

}  // namespace signer::crypto
