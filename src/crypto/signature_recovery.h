// Completing a plain ECDSA signature into go-ethereum's recoverable form.
// A signer that keeps its key to itself (a PKCS#11 token, an HSM) returns only (r, s): s may be
// high, and there is no recovery id. go-ethereum wants R||S||V with S low and V in {0,1}, so this
// file normalises S and finds V by recovering the public key for each candidate V and comparing
// it with the key the signature must belong to.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "crypto/keccak.h"
#include "crypto/message_signer.h"
#include "crypto/secp256k1_context.h"

namespace signer::crypto {

// Turns the ECDSA signature `rs` (32-byte big-endian r followed by 32-byte big-endian s, the
// layout PKCS#11's CKM_ECDSA returns) over the 32-byte `hash` into R||S||V: S is replaced by
// n - S when it is above n/2, and V is the recovery id in {0,1} under which the signature
// recovers `public_key` (0x04||X||Y).
// Returns nullopt when r or s is zero or not below the curve order n, or when neither V = 0 nor
// V = 1 recovers `public_key` (the signature is not by that key over that hash, or, with
// probability about 2^-128, r needed the x-overflow ids 2/3, which go-ethereum does not accept).
// Never returns a V outside {0,1}. Uses `ctx` read-only, so one context may serve many threads.
std::optional<Signature65> to_recoverable_signature(const Secp256k1Context& ctx,
                                                    std::span<const std::uint8_t, 64> rs,
                                                    const Hash256& hash,
                                                    const PublicKey65& public_key);

}  // namespace signer::crypto
