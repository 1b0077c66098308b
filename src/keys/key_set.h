// The keys a job signs with, whatever holds them: keys.csv and V3 keystore files (private keys in
// this process's locked memory) or a PKCS#11 token (the key never leaves it). The batch worker
// only asks a Key to sign; it does not know the source.
// A KeySet is immutable and shared: a job keeps the set it started with (a shared_ptr), so a
// reload that swaps the current set (KeySetHolder) never changes the keys of a running job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/key_ring.h"
#include "crypto/message_signer.h"

namespace signer::keys {

enum class KeySource { kCsv, kKeystore, kPkcs11 };

// "csv", "keystore", "pkcs11": the names /keys and the config file use.
std::string_view to_string(KeySource source);

// A key that could not sign just now (a token that failed or went away). The batch fails and is
// retried; no record is marked invalid. The message names the key, never a secret.
class SigningError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One signing key. Thread-safe: many workers sign with it at once.
class Key {
 public:
  virtual ~Key() = default;
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;

  const std::string& public_key() const { return public_key_; }  // "0x04" + 128 lowercase hex
  const std::string& address() const { return address_; }        // EIP-55 checksummed
  KeySource source() const { return source_; }
  // Where it came from, for operators: a file path, or "token/label". Never secret.
  const std::string& origin() const { return origin_; }

  // go-ethereum's crypto.Sign(`digest`): R||S||V with low S and V in {0,1}. `signer` belongs to
  // the calling worker thread. Throws SigningError when the key's device fails.
  virtual crypto::Signature65 sign_digest(crypto::MessageSigner& signer,
                                          const crypto::Hash256& digest) const = 0;

  // go-ethereum's crypto.Sign(Keccak256(salt + msg)) as "0x" + 130 lowercase hex (R||S||V, low
  // S, V in {0,1}): the raw scheme of the original. Throws SigningError as sign_digest does.
  std::string sign_salted(crypto::MessageSigner& signer, std::string_view salt,
                          std::string_view msg) const;
  // The same, written over `out`: a string that already has the capacity gets no allocation.
  void sign_salted_into(crypto::MessageSigner& signer, std::string_view salt, std::string_view msg,
                        std::string& out) const;

 protected:
  Key(std::string public_key, std::string address, KeySource source, std::string origin)
      : public_key_(std::move(public_key)),
        address_(std::move(address)),
        source_(source),
        origin_(std::move(origin)) {}

 private:
  std::string public_key_;
  std::string address_;
  KeySource source_;
  std::string origin_;
};

// A key whose private half is in a crypto::KeyRing (keys.csv or a decrypted keystore).
class RingKey final : public Key {
 public:
  RingKey(std::shared_ptr<const crypto::KeyRing> ring, std::size_t index, KeySource source,
          std::string origin);
  crypto::Signature65 sign_digest(crypto::MessageSigner& signer,
                                  const crypto::Hash256& digest) const override;

 private:
  std::shared_ptr<const crypto::KeyRing> ring_;  // keeps the private key alive
  const crypto::SigningKey& key_;
};

class KeySet {
 public:
  // `keys` in round-robin order (batch b of a job signs with key b mod K). Throws
  // std::invalid_argument when two keys have the same public key.
  KeySet(std::vector<std::unique_ptr<const Key>> keys, std::uint64_t version);

  // Every key of `ring`, as `source` keys from `origin`.
  static std::vector<std::unique_ptr<const Key>> keys_of(
      std::shared_ptr<const crypto::KeyRing> ring, KeySource source, const std::string& origin);

  std::size_t size() const { return keys_.size(); }
  const Key& at(std::size_t index) const { return *keys_.at(index); }
  // 1 for the set loaded at start, then one more for each successful reload.
  std::uint64_t version() const { return version_; }

  // Resolves a key selector: a decimal index ("0".."K-1"), a public key ("0x04…", any case) or
  // an address ("0x" + 40 hex, any case). nullopt when it names no key of this set.
  std::optional<std::size_t> find(std::string_view selector) const;

 private:
  std::vector<std::unique_ptr<const Key>> keys_;
  std::uint64_t version_;
};

}  // namespace signer::keys
