#include "crypto/signature_verifier.h"

#include <secp256k1.h>

#include <algorithm>

#include "crypto/hex.h"
#include "crypto/keccak.h"
#include "crypto/salt_generator.h"

namespace signer::crypto {

std::string_view describe(Verdict verdict) {
  switch (verdict) {
    case Verdict::kValid: return "valid";
    case Verdict::kMalformedSalt: return "salt is not a lowercase UUIDv4";
    case Verdict::kMalformedSignature: return "malformed signature";
    case Verdict::kMalformedKey: return "malformed key";
    case Verdict::kBadRecoveryId: return "recovery id is not 0 or 1";
    case Verdict::kBadRecoveryId27: return "V is not 27 or 28";
    case Verdict::kHighS: return "high S";
    case Verdict::kUnrecoverable: return "signature does not recover a key";
    case Verdict::kKeyMismatch: return "signature is not by this key";
  }
  return "unknown";
}

Verdict verify_signature(const MessageSigner& signer, std::string_view salt, std::string_view msg,
                         std::string_view sign, std::string_view key) {
  if (!is_uuid_v4(salt)) return Verdict::kMalformedSalt;
  return verify_digest(signer, keccak256_concat(salt, msg), sign, key, 0);
}

Verdict verify_digest(const MessageSigner& signer, const Hash256& digest, std::string_view sign,
                      std::string_view key, std::uint8_t v_base) {
  Signature65 signature{};
  if (!strip_hex_prefix(sign) || !decode_hex(sign, signature)) return Verdict::kMalformedSignature;
  PublicKey65 expected{};
  if (!strip_hex_prefix(key) || !decode_hex(key, expected) || expected[0] != 0x04) {
    return Verdict::kMalformedKey;
  }
  if (signature[64] < v_base || signature[64] - v_base > 1) {
    return v_base == 0 ? Verdict::kBadRecoveryId : Verdict::kBadRecoveryId27;
  }
  signature[64] = static_cast<std::uint8_t>(signature[64] - v_base);

  secp256k1_ecdsa_signature plain;
  if (!secp256k1_ecdsa_signature_parse_compact(signer.context().get(), &plain, signature.data())) {
    return Verdict::kUnrecoverable;
  }
  // normalize() returns 1 when the input was in high-S form.
  if (secp256k1_ecdsa_signature_normalize(signer.context().get(), nullptr, &plain)) {
    return Verdict::kHighS;
  }
  PublicKey65 recovered{};
  if (!signer.recover(digest, signature, recovered)) return Verdict::kUnrecoverable;
  return std::equal(recovered.begin(), recovered.end(), expected.begin()) ? Verdict::kValid
                                                                          : Verdict::kKeyMismatch;
}

}  // namespace signer::crypto
