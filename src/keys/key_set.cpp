#include "keys/key_set.h"

#include <stdexcept>
#include <unordered_set>

#include "crypto/hex.h"

namespace signer::keys {

std::string_view to_string(KeySource source) {
  switch (source) {
    case KeySource::kCsv: return "csv";
    case KeySource::kKeystore: return "keystore";
    case KeySource::kPkcs11: return "pkcs11";
  }
  return "unknown";
}

RingKey::RingKey(std::shared_ptr<const crypto::KeyRing> ring, std::size_t index, KeySource source,
                 std::string origin)
    : Key(ring->at(index).public_key, ring->at(index).address, source, std::move(origin)),
      ring_(std::move(ring)),
      key_(ring_->at(index)) {}

std::string Key::sign_salted(crypto::MessageSigner& signer, std::string_view salt,
                             std::string_view msg) const {
  std::string out;
  sign_salted_into(signer, salt, msg, out);
  return out;
}

void Key::sign_salted_into(crypto::MessageSigner& signer, std::string_view salt,
                           std::string_view msg, std::string& out) const {
  crypto::assign_prefixed_hex(out, sign_digest(signer, crypto::keccak256_concat(salt, msg)));
}

crypto::Signature65 RingKey::sign_digest(crypto::MessageSigner& signer,
                                         const crypto::Hash256& digest) const {
  return signer.sign_hash(key_.private_key, digest);
}

KeySet::KeySet(std::vector<std::unique_ptr<const Key>> keys, std::uint64_t version)
    : keys_(std::move(keys)), version_(version) {
  std::unordered_set<std::string_view> seen;
  for (const auto& key : keys_) {
    if (!seen.insert(key->public_key()).second) {
      throw std::invalid_argument("key " + key->address() + " is in the key set twice (" +
                                  key->origin() + ")");
    }
  }
}

std::vector<std::unique_ptr<const Key>> KeySet::keys_of(std::shared_ptr<const crypto::KeyRing> ring,
                                                        KeySource source,
                                                        const std::string& origin) {
  std::vector<std::unique_ptr<const Key>> keys;
  for (std::size_t i = 0; i < ring->size(); ++i) {
    keys.push_back(std::make_unique<RingKey>(ring, i, source, origin));
  }
  return keys;
}

std::optional<std::size_t> KeySet::find(std::string_view selector) const {
  return crypto::find_key(
      selector, keys_.size(),
      [&](std::size_t i) -> const std::string& { return keys_[i]->public_key(); },
      [&](std::size_t i) -> const std::string& { return keys_[i]->address(); });
}

}  // namespace signer::keys
