// crypto/signature_recovery.h: turning a plain (r, s), as a PKCS#11 token returns it, into
// go-ethereum's R||S||V. Known answers come from MessageSigner (libsecp256k1, the same bytes as
// go-ethereum's crypto.Sign); each rejection path has its own test.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include "crypto/keccak.h"
#include "crypto/key_ring.h"
#include "crypto/message_signer.h"
#include "crypto/signature_recovery.h"
#include "test_support.h"

namespace signer::crypto {
namespace {

using Scalar = std::array<std::uint8_t, 32>;

constexpr const Scalar& kOrder = testing::kSecp256k1Order;

// a - b for big-endian 256-bit values, a >= b.
Scalar subtract(const Scalar& a, std::span<const std::uint8_t> b) {
  Scalar out{};
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    const int d = a[i] - b[i] - borrow;
    borrow = d < 0 ? 1 : 0;
    out[i] = static_cast<std::uint8_t>(d + 256 * borrow);
  }
  return out;
}

struct Signed {
  Hash256 hash;
  PublicKey65 public_key;
  Signature65 signature;  // from MessageSigner: low S, V in {0,1}
};

Signed sign_with_fresh_key(const MessageSigner& signer, int i) {
  const KeyRing ring = KeyRing::generate(1);
  Signed out;
  out.hash = keccak256_concat("signature recovery test ", std::to_string(i));
  out.public_key = signer.public_key(ring.at(0).private_key);
  out.signature = signer.sign_hash(ring.at(0).private_key, out.hash);
  return out;
}

std::array<std::uint8_t, 64> rs_of(const Signature65& sig) {
  std::array<std::uint8_t, 64> rs{};
  std::copy_n(sig.begin(), 64, rs.begin());
  return rs;
}

TEST(SignatureRecovery, RestoresTheRecoveryIdOfLowSSignatures) {
  const MessageSigner signer;
  int seen_v[2] = {0, 0};
  for (int i = 0; i < 64; ++i) {
    const Signed s = sign_with_fresh_key(signer, i);
    const auto out =
        to_recoverable_signature(signer.context(), rs_of(s.signature), s.hash, s.public_key);
    ASSERT_TRUE(out.has_value()) << i;
    EXPECT_EQ(*out, s.signature) << i;
    ++seen_v[s.signature[64]];
  }
  // Both ids occur (each with probability 1/2), so both branches of the search ran.
  EXPECT_GT(seen_v[0], 0);
  EXPECT_GT(seen_v[1], 0);
}

TEST(SignatureRecovery, NormalisesHighSAndFlipsTheRecoveryId) {
  const MessageSigner signer;
  for (int i = 0; i < 16; ++i) {
    const Signed s = sign_with_fresh_key(signer, i);
    // The malleable twin (r, n - s): what a token that does not normalise returns half the time.
    std::array<std::uint8_t, 64> high = rs_of(s.signature);
    const Scalar negated = subtract(kOrder, std::span(high).subspan(32, 32));
    std::copy(negated.begin(), negated.end(), high.begin() + 32);
    ASSERT_NE(high, rs_of(s.signature));
    const auto out = to_recoverable_signature(signer.context(), high, s.hash, s.public_key);
    ASSERT_TRUE(out.has_value()) << i;
    EXPECT_EQ(*out, s.signature) << "low S and the low-S signature's V, byte for byte";
  }
}

TEST(SignatureRecovery, RefusesSignatureOfAnotherKey) {
  const MessageSigner signer;
  const Signed s = sign_with_fresh_key(signer, 1);
  const Signed other = sign_with_fresh_key(signer, 1);
  EXPECT_FALSE(
      to_recoverable_signature(signer.context(), rs_of(s.signature), s.hash, other.public_key));
}

TEST(SignatureRecovery, RefusesSignatureOverAnotherHash) {
  const MessageSigner signer;
  const Signed s = sign_with_fresh_key(signer, 1);
  Hash256 other = s.hash;
  other[0] ^= 1;
  EXPECT_FALSE(to_recoverable_signature(signer.context(), rs_of(s.signature), other, s.public_key));
}

TEST(SignatureRecovery, RefusesZeroR) {
  const MessageSigner signer;
  const Signed s = sign_with_fresh_key(signer, 2);
  std::array<std::uint8_t, 64> rs = rs_of(s.signature);
  std::fill_n(rs.begin(), 32, 0);
  EXPECT_FALSE(to_recoverable_signature(signer.context(), rs, s.hash, s.public_key));
}

TEST(SignatureRecovery, RefusesZeroS) {
  const MessageSigner signer;
  const Signed s = sign_with_fresh_key(signer, 3);
  std::array<std::uint8_t, 64> rs = rs_of(s.signature);
  std::fill_n(rs.begin() + 32, 32, 0);
  EXPECT_FALSE(to_recoverable_signature(signer.context(), rs, s.hash, s.public_key));
}

TEST(SignatureRecovery, RefusesROrSNotBelowTheOrder) {
  const MessageSigner signer;
  const Signed s = sign_with_fresh_key(signer, 4);
  for (const std::size_t offset : {std::size_t{0}, std::size_t{32}}) {
    std::array<std::uint8_t, 64> rs = rs_of(s.signature);
    std::copy(kOrder.begin(), kOrder.end(), rs.begin() + static_cast<std::ptrdiff_t>(offset));
    EXPECT_FALSE(to_recoverable_signature(signer.context(), rs, s.hash, s.public_key)) << offset;
  }
}

}  // namespace
}  // namespace signer::crypto
