#include "crypto/message_signer.h"

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <stdexcept>

#include "crypto/hex.h"
#include "crypto/rfc6979_nonce.h"

namespace signer::crypto {

bool MessageSigner::is_valid_private_key(const PrivateKey& key) const {
  return secp256k1_ec_seckey_verify(context_.get(), key.data()) == 1;
}

PublicKey65 MessageSigner::public_key(const PrivateKey& key) const {
  secp256k1_pubkey pub;
  if (!secp256k1_ec_pubkey_create(context_.get(), &pub, key.data())) {
    throw std::invalid_argument("invalid private key");
  }
  PublicKey65 out{};
  std::size_t len = out.size();
  secp256k1_ec_pubkey_serialize(context_.get(), out.data(), &len, &pub, SECP256K1_EC_UNCOMPRESSED);
  return out;
}

Signature65 MessageSigner::sign_hash(const PrivateKey& key, const Hash256& hash) const {
  secp256k1_ecdsa_recoverable_signature sig;
  // RFC 6979: the nonce of libsecp256k1's default function (go-ethereum's crypto.Sign passes
  // none), byte for byte, with a faster SHA-256 (crypto/rfc6979_nonce.h).
  if (!secp256k1_ecdsa_sign_recoverable(context_.get(), &sig, hash.data(), key.data(),
                                        rfc6979_nonce, nullptr)) {
    throw std::invalid_argument("invalid private key");
  }
  Signature65 out{};
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(context_.get(), out.data(), &recid, &sig);
  out[64] = static_cast<std::uint8_t>(recid);
  return out;
}

std::string MessageSigner::sign_salted(const PrivateKey& key, std::string_view salt,
                                       std::string_view msg) const {
  return to_prefixed_hex(sign_hash(key, keccak256_concat(salt, msg)));
}

bool MessageSigner::recover(const Hash256& hash, const Signature65& signature,
                            PublicKey65& out) const {
  if (signature[64] > 1) return false;
  secp256k1_ecdsa_recoverable_signature sig;
  if (!secp256k1_ecdsa_recoverable_signature_parse_compact(context_.get(), &sig, signature.data(),
                                                           signature[64])) {
    return false;
  }
  secp256k1_pubkey pub;
  if (!secp256k1_ecdsa_recover(context_.get(), &pub, &sig, hash.data())) return false;
  std::size_t len = out.size();
  secp256k1_ec_pubkey_serialize(context_.get(), out.data(), &len, &pub, SECP256K1_EC_UNCOMPRESSED);
  return true;
}

}  // namespace signer::crypto
