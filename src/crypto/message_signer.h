// Recoverable secp256k1 signing with go-ethereum's output format.
// One MessageSigner per thread: it owns that thread's randomized libsecp256k1 context.
// sign() gives the same bytes as go-ethereum's crypto.Sign: RFC 6979 nonce, low S, V in {0,1}.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/keccak.h"
#include "crypto/private_key.h"
#include "crypto/secp256k1_context.h"

namespace signer::crypto {

// 65 bytes R||S||V, V in {0,1}.
using Signature65 = std::array<std::uint8_t, 65>;
// 65 bytes 0x04||X||Y.
using PublicKey65 = std::array<std::uint8_t, 65>;

class MessageSigner {
 public:
  MessageSigner() = default;

  // True when `key` is a valid secp256k1 scalar: non-zero and below the curve order.
  bool is_valid_private_key(const PrivateKey& key) const;

  // Returns the uncompressed public key of `key`.
  // Precondition: is_valid_private_key(key). Throws std::invalid_argument otherwise.
  PublicKey65 public_key(const PrivateKey& key) const;

  // Signs the 32-byte `hash` (not hashed again). Returns R||S||V with low S, V in {0,1}.
  // Precondition: is_valid_private_key(key); keys are validated when the key ring loads.
  // Throws std::invalid_argument for an invalid key.
  Signature65 sign_hash(const PrivateKey& key, const Hash256& hash) const;

  // Signs Keccak-256(salt + msg) with `key`.
  // Returns "0x" + 130 lowercase hex of R||S||V; V is 0 or 1, S is low.
  std::string sign_salted(const PrivateKey& key, std::string_view salt, std::string_view msg) const;

  // Recovers the public key from `signature` over `hash`. Returns false when the signature does
  // not parse (R or S zero or not below the order), V is not 0/1, or recovery fails.
  bool recover(const Hash256& hash, const Signature65& signature, PublicKey65& out) const;

  const Secp256k1Context& context() const { return context_; }

 private:
  Secp256k1Context context_;
};

}  // namespace signer::crypto
