// go-ethereum's V3 keystore ("Web3 Secret Storage") format: one private key per JSON file,
// encrypted with AES-128-CTR under a key derived from a password by scrypt or PBKDF2-HMAC-SHA256,
// with a Keccak-256 MAC over the second half of the derived key and the ciphertext.
// This is the at-rest alternative to keys.csv: decryption happens once, when the key set is
// loaded; after that a keystore's key lives in a KeyRing like any other (see keystore_ring.h).
// Crypto is Crypto++ (scrypt, PBKDF2, AES, Keccak), as for the rest of the signer.
//
// Layout (what go-ethereum's keystore.EncryptKey writes, and what we write):
//   {"address":"<40 lowercase hex>",
//    "crypto":{"cipher":"aes-128-ctr","ciphertext":"<hex>","cipherparams":{"iv":"<32 hex>"},
//              "kdf":"scrypt","kdfparams":{"dklen":32,"n":N,"p":P,"r":8,"salt":"<64 hex>"},
//              "mac":"<64 hex>"},
//    "id":"<UUIDv4>","version":3}
// AES key = derived[0:16]; MAC = Keccak256(derived[16:32] ++ ciphertext). A PBKDF2 file has
// "kdf":"pbkdf2" and kdfparams {"c", "dklen", "prf":"hmac-sha256", "salt"}.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/private_key.h"
#include "keys/password.h"

namespace signer::keys {

// scrypt's cost: N (CPU/memory), r (block size) and p (parallelization).
struct ScryptParams {
  std::uint64_t n = 0;
  std::uint32_t r = 0;
  std::uint32_t p = 0;
};

// go-ethereum's StandardScryptN/P (256 MiB, about a second) and LightScryptN/P (4 MiB).
inline constexpr ScryptParams kStandardScrypt{1u << 18, 8, 1};
inline constexpr ScryptParams kLightScrypt{1u << 12, 8, 6};

// Limits on the cost a keystore file may ask for, so that a corrupt or hostile file fails with a
// clear error instead of exhausting memory or running for hours. Each is far above what
// go-ethereum, clef, web3.js or ethers write (standard scrypt: 256 MiB, work 2^28; PBKDF2: 2^18).
inline constexpr std::uint64_t kMaxScryptMemoryBytes = std::uint64_t{1} << 30;  // 128·r·N
inline constexpr std::uint64_t kMaxScryptWorkBytes = std::uint64_t{1} << 32;    // 128·r·N·p
inline constexpr std::uint64_t kMaxPbkdf2Iterations = std::uint64_t{1} << 24;
inline constexpr std::uint64_t kMaxDerivedKeyLength = 1024;

// Returns why `params` cannot be used, or nullopt when they can: N must be a power of 2 above 1,
// r and p at least 1 with r·p < 2^30 (RFC 7914), and the memory and work within the limits
// above.
std::optional<std::string> scrypt_params_problem(const ScryptParams& params);

enum class KeystoreErrorKind {
  kUnreadable,       // the file cannot be read
  kMalformed,        // not JSON, or a field is missing or has the wrong type or length
  kUnsupported,      // a version, cipher, KDF, PRF or parameter this reader refuses
  kWrongPassword,    // the MAC does not match: a wrong password, or a corrupt ciphertext or MAC
  kInvalidKey,       // decrypts (the MAC matches) to something that is not a secp256k1 key
  kAddressMismatch,  // the "address" field names another key than the one decrypted
};

// A short name for `kind` ("malformed", "wrong password", …).
std::string_view to_string(KeystoreErrorKind kind);

// A keystore that cannot be used. what() is "keystore file FILE: REASON"; it never holds the
// password, the derived key or the private key (the public address may appear).
class KeystoreError : public std::runtime_error {
 public:
  KeystoreError(KeystoreErrorKind kind, const std::string& file, const std::string& reason);
  KeystoreErrorKind kind() const { return kind_; }
  const std::string& file() const { return file_; }

 private:
  KeystoreErrorKind kind_;
  std::string file_;
};

// Decrypts the V3 keystore JSON `text` with `password`. `file` names the keystore in errors.
// Accepts what go-ethereum's keystore.DecryptKey accepts for version 3: kdf "scrypt" or
// "pbkdf2" (prf "hmac-sha256"), cipher "aes-128-ctr", and a "crypto" object spelled "crypto" or
// "Crypto" (older wallets). Numbers must be JSON integers; "address" is optional ("0x" prefix
// and either case allowed) and, when present, must be the decrypted key's address.
// Returns the private key. Throws KeystoreError:
//   kMalformed    invalid JSON, a missing field, a wrong type, bad hex, an IV that is not 16
//                 bytes, a MAC that is not 32 bytes;
//   kUnsupported  version other than 3, another cipher, KDF or PRF, dklen below 32 or above
//                 kMaxDerivedKeyLength, scrypt_params_problem(), PBKDF2 c of 0 or above
//                 kMaxPbkdf2Iterations;
//   kWrongPassword  the MAC, compared in constant time, does not match;
//   kInvalidKey   the plaintext is not 32 bytes (go-ethereum's DecryptKey refuses 30- and
//                 31-byte keys too), or is zero or not below the curve order;
//   kAddressMismatch  as above.
// Every buffer that held the derived key or the plaintext is wiped before this returns or
// throws.
crypto::PrivateKey decrypt_keystore(std::string_view text, const Password& password,
                                    std::string_view file);

// Reads `path` (into wiped, dont-dump pages) and decrypts it as decrypt_keystore() does.
// Appends a warning to `warnings` when the file is readable by others or writable by group or
// others: the ciphertext is what an offline password search needs. Throws KeystoreError
// (kUnreadable when the file cannot be read).
crypto::PrivateKey load_keystore(const std::filesystem::path& path, const Password& password,
                                 std::vector<std::string>& warnings);

// Encrypts `key` into a V3 keystore, as go-ethereum's keystore.EncryptKey does: scrypt with
// `params` (r is written as given; go-ethereum always uses 8) and dklen 32, a fresh 32-byte salt,
// a fresh 16-byte IV, a fresh UUIDv4 id, and the key's lowercase address without "0x".
// Returns the compact JSON, with keys in go-ethereum's order.
// Preconditions: `key` is a valid secp256k1 key. Throws std::invalid_argument when `params`
// fail scrypt_params_problem() or `password` is empty (a keystore without a password protects
// nothing).
std::string encrypt_keystore(const crypto::PrivateKey& key, const Password& password,
                             const ScryptParams& params);

// Returns go-ethereum's file name for a keystore written at `when`:
// "UTC--2016-03-22T12-57-55.920751759Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8".
// `address` is the key's address, "0x" + 40 hex (any case) or just the 40 hex; it is written in
// lowercase without the prefix. Throws std::invalid_argument for any other `address`.
std::string keystore_file_name(std::string_view address,
                               std::chrono::system_clock::time_point when);

}  // namespace signer::keys
