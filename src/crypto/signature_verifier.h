// Verification of signed records by public-key recovery, with go-ethereum's strictness:
// the salt must be a lowercase UUIDv4 exactly as the signer writes it, the signature must be
// exactly 65 bytes, V must be 0 or 1 (not 27/28), S must be low, and the key recovered from
// Keccak-256(salt + msg) must equal the record's `key`.
// Why the salt rule: the hash has no separator between salt and msg (DESIGN.md §2), so a record
// whose salt/msg boundary is moved (salt "…05", msg "b666" instead of salt "…05b", msg "666")
// hashes the same bytes. Only a fixed-format salt pins the boundary.
// What is NOT covered: the record's id. The signature is over salt + msg only; see
// docs/SECURITY.md "What a signature binds".
#pragma once

#include <string_view>

#include "crypto/message_signer.h"

namespace signer::crypto {

enum class Verdict {
  kValid,
  kMalformedSalt,       // not a lowercase UUIDv4 with hyphens (salt_generator.h is_uuid_v4)
  kMalformedSignature,  // not "0x" + 130 hex
  kMalformedKey,        // not "0x04" + 128 hex
  kBadRecoveryId,       // V not in {0,1}
  kBadRecoveryId27,     // V not in {27,28} (verify_digest with v_base 27)
  kHighS,               // S above half the order (malleable form)
  kUnrecoverable,       // R or S zero / out of range, or no point recovers
  kKeyMismatch,         // a key recovers, but not the record's
};

// A short, stable, human-readable reason for `verdict` ("valid", "high S", …).
std::string_view describe(Verdict verdict);

// Checks that `salt` is a UUIDv4 as the signer writes it and that `sign` is a valid recoverable
// signature by `key` over Keccak-256(salt + msg). The salt is checked first, so a bad salt is
// kMalformedSalt whatever the signature. Never throws on bad input; every failure is a Verdict.
Verdict verify_signature(const MessageSigner& signer, std::string_view salt, std::string_view msg,
                         std::string_view sign, std::string_view key);

// Checks that `sign` is a valid recoverable signature by `key` over `digest`, with V equal to
// v_base + the recovery id: v_base 0 is go-ethereum's form (V in {0,1}), 27 the wallets' and
// Solidity's (V in {27,28}). The other checks are verify_signature's. Never throws.
Verdict verify_digest(const MessageSigner& signer, const Hash256& digest, std::string_view sign,
                      std::string_view key, std::uint8_t v_base);

}  // namespace signer::crypto
