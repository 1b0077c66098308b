// Verification of signed records by public-key recovery, with go-ethereum's strictness:
// the signature must be exactly 65 bytes, V must be 0 or 1 (not 27/28), S must be low, and the
// key recovered from Keccak-256(salt + msg) must equal the record's `key`.
#pragma once

#include <string_view>

#include "crypto/message_signer.h"

namespace signer::crypto {

enum class Verdict {
  kValid,
  kMalformedSignature,  // not "0x" + 130 hex
  kMalformedKey,        // not "0x04" + 128 hex
  kBadRecoveryId,       // V not in {0,1}
  kHighS,               // S above half the order (malleable form)
  kUnrecoverable,       // R or S zero / out of range, or no point recovers
  kKeyMismatch,         // a key recovers, but not the record's
};

// A short, stable, human-readable reason for `verdict` ("valid", "high S", …).
std::string_view describe(Verdict verdict);

// Checks that `sign` is a valid recoverable signature by `key` over Keccak-256(salt + msg).
// Never throws on bad input; every failure is a Verdict.
Verdict verify_signature(const MessageSigner& signer, std::string_view salt, std::string_view msg,
                         std::string_view sign, std::string_view key);

}  // namespace signer::crypto
