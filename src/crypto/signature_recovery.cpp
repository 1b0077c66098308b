#include "crypto/signature_recovery.h"

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <algorithm>

namespace signer::crypto {

std::optional<Signature65> to_recoverable_signature(const Secp256k1Context& ctx,
                                                    std::span<const std::uint8_t, 64> rs,
                                                    const Hash256& hash,
                                                    const PublicKey65& public_key) {
  secp256k1_ecdsa_signature plain;
  // Fails when r or s is not below n; zero values parse but never recover below.
  if (!secp256k1_ecdsa_signature_parse_compact(ctx.get(), &plain, rs.data())) return std::nullopt;
  secp256k1_ecdsa_signature_normalize(ctx.get(), &plain, &plain);
  Signature65 out{};
  secp256k1_ecdsa_signature_serialize_compact(ctx.get(), out.data(), &plain);
  // Normalising S negates the nonce point's contribution, which flips the recovery id; trying
  // both ids after normalising covers either case without tracking the flip.
  for (int recid = 0; recid <= 1; ++recid) {
    secp256k1_ecdsa_recoverable_signature sig;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx.get(), &sig, out.data(), recid)) {
      return std::nullopt;
    }
    secp256k1_pubkey recovered;
    if (!secp256k1_ecdsa_recover(ctx.get(), &recovered, &sig, hash.data())) continue;
    PublicKey65 candidate{};
    std::size_t len = candidate.size();
    secp256k1_ec_pubkey_serialize(ctx.get(), candidate.data(), &len, &recovered,
                                  SECP256K1_EC_UNCOMPRESSED);
    if (std::equal(candidate.begin(), candidate.end(), public_key.begin())) {
      out[64] = static_cast<std::uint8_t>(recid);
      return out;
    }
  }
  return std::nullopt;
}

}  // namespace signer::crypto
