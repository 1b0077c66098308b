// The ordered set of signing keys, loaded from keys.csv.
// File format (the original service's): one key a line, "0x04<128 hex pub>,0x<64 hex priv>".
// Order matters: batch b signs with key b mod K. A KeyRing is immutable after loading and safe to
// read from many threads. Private keys live in the ring's SecureArena (dont-dump pages, locked in
// RAM where the platform allows) and are wiped when the ring is destroyed.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <memory>

#include "crypto/key_file_buffer.h"
#include "crypto/private_key.h"
#include "crypto/secure_arena.h"

namespace signer::crypto {

struct SigningKey {
  PrivateKey private_key;
  std::string public_key;  // "0x04" + 128 lowercase hex
  std::string address;     // EIP-55 checksummed Ethereum address, "0x" + 40 hex
};

// The ring's storage: every SigningKey (and so every PrivateKey's bytes) is in the ring's arena.
using SigningKeys = std::vector<SigningKey, SecureAllocator<SigningKey>>;

// Returns a warning for a key file whose permission bits `mode` let others in: any write or
// execute bit for group or others, or read for others. Owner-only modes (0600, 0400) and the
// chart's read-only Secret mount (0440, group read for fsGroup) are quiet: returns nullopt.
// `what` names the file in the warning ("keys file", "keystore file", "password file").
std::optional<std::string> key_file_mode_warning(const std::string& path, unsigned mode,
                                                 std::string_view what = "keys file");

// A rejected key file. what() names the file line (1-based) and the rule broken, never key text.
class KeyRingError : public std::runtime_error {
 public:
  KeyRingError(const std::string& message, std::size_t line)
      : std::runtime_error(message), line_(line) {}
  // 1-based line number of the offending line, or 0 when the error is about the whole file.
  std::size_t line() const { return line_; }

 private:
  std::size_t line_;
};

class KeyRing {
 public:
  // Parses keys.csv content. Blank lines and a trailing CR are tolerated.
  // Throws KeyRingError on: a malformed line (missing 0x/0x04, wrong length, bad hex, wrong number
  // of fields), a private key that is zero or >= the curve order, a public half that does not
  // match the private half, a duplicated key, or no keys at all.
  static KeyRing parse(std::string_view csv);

  // Reads and parses `path`. Throws KeyRingError as parse() does, or when the file cannot be read.
  // Appends a warning to `warnings` when key_file_mode_warning() finds the mode too open, and when
  // the key pages could not be locked in RAM (mlock refused, e.g. by RLIMIT_MEMLOCK).
  static KeyRing load_file(const std::filesystem::path& path, std::vector<std::string>& warnings);

  // As above, reading the file into `buffer`, which is wiped before this returns or throws (the
  // overload above passes its own; tests pass one to check the wipe).
  static KeyRing load_file(const std::filesystem::path& path, std::vector<std::string>& warnings,
                           KeyFileBuffer& buffer);

  // Returns `count` fresh keys from the CSPRNG. count must be > 0.
  static KeyRing generate(std::size_t count);

  // Builds a ring, in the given order, from keys that come from another source than keys.csv
  // (V3 keystore files, src/keys). Every key is moved into the ring's arena, which wipes the
  // element of `keys` it came from. Throws KeyRingError when `keys` is empty, or when a key is
  // zero or not below the secp256k1 curve order, or repeats an earlier one; line() is then the
  // key's 1-based position in `keys`.
  static KeyRing from_private_keys(std::vector<PrivateKey> keys);

  // Renders the ring in keys.csv format. This is the only writer of private key hex; the caller
  // must write it straight to a 0600 file and wipe the string (secure_zero) afterwards.
  std::string to_csv() const;

  KeyRing(KeyRing&& other) noexcept = default;
  // Swaps, so the old keys are wiped by `other`'s destructor before its arena is unmapped.
  KeyRing& operator=(KeyRing&& other) noexcept;
  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;
  ~KeyRing() = default;

  std::size_t size() const { return keys_.size(); }
  const SigningKey& at(std::size_t index) const { return keys_.at(index); }
  const SigningKeys& keys() const { return keys_; }

  // True when the pages holding the private keys are locked in RAM (mlock succeeded).
  bool memory_locked() const { return arena_ && arena_->locked(); }

  // Resolves a key selector: a decimal index ("0".."K-1"), a public key ("0x04…", any case) or an
  // address ("0x" + 40 hex, any case).
  // Returns nullopt when it names no key of this ring.
  std::optional<std::size_t> find(std::string_view selector) const;

 private:
  // Room for `capacity` keys in a fresh arena.
  explicit KeyRing(std::size_t capacity);

  // Declared before keys_ so that the keys are destroyed (wiped) before the arena is unmapped.
  std::unique_ptr<SecureArena> arena_;
  SigningKeys keys_;
};

// Resolves a key selector among `count` keys: a decimal index ("0".."count-1"), a public key
// ("0x04…", any case; public_key(i) is lowercase) or an address ("0x" + 40 hex, any case).
std::optional<std::size_t> find_key(
    std::string_view selector, std::size_t count,
    const std::function<const std::string&(std::size_t)>& public_key,
    const std::function<const std::string&(std::size_t)>& address);

// Returns the EIP-55 checksummed address of an uncompressed public key given as 128 hex (X||Y).
std::string ethereum_address(std::string_view public_xy_hex);

}  // namespace signer::crypto
