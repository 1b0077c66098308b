// The key-set config file (YAML, read with yaml-cpp): which keys a signer signs with, in
// round-robin order, and where each comes from. Without one, the signer reads keys.csv as the
// original did ($BS_KEYS_DIR/keys.csv or --keys).
//
//   keys:
//     - source: csv                 # every key of a keys.csv file, in its order
//       file: /etc/message-signer/keys/keys.csv
//     - source: keystore            # one go-ethereum V3 keystore file
//       file: keystores/UTC--2026-12-02T03-00-00.000000000Z--<address>
//       password_file: /etc/message-signer/keystore-password/password   # or password_env: NAME
//     - source: pkcs11              # one key on a PKCS#11 token (HSM); it never leaves it
//       module: /usr/lib/softhsm/libsofthsm2.so
//       token: signer               # the token label (or slot: N, or both)
//       key_label: key-1            # the key's CKA_LABEL (or key_id: hex CKA_ID, or both)
//       pin_file: /etc/message-signer/pkcs11-pin/pin                     # or pin_env: NAME
//
// Relative paths are relative to the config file's directory. Secrets (passwords) are never in
// the file itself: only where to read them.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "keys/key_set.h"
#include "keys/password.h"
#include "keys/pkcs11_key.h"

namespace signer::keys {

// A config file that cannot be used. what() names the file, and the line when it is about one.
class KeyConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct KeyEntry {
  KeySource source = KeySource::kCsv;
  std::filesystem::path file;  // csv, keystore
  PasswordSource password;     // keystore
  Pkcs11KeyConfig pkcs11;      // pkcs11
};

struct KeySetConfig {
  std::filesystem::path path;  // the config file ("" for the keys.csv default)
  std::vector<KeyEntry> entries;

  // The config of a plain keys.csv (no config file).
  static KeySetConfig csv_file(const std::filesystem::path& keys_csv);

  // Where the set comes from, for logs: the config file, else its one key's file or token.
  std::string describe() const;

  // Every file loading this config reads: the config file itself, key files, password files.
  // A change to any of them (a Kubernetes Secret update swaps their symlinks) calls for a reload.
  std::vector<std::filesystem::path> watched_files() const;
};

// Parses the config file at `path`. Throws KeyConfigError.
KeySetConfig read_key_set_config(const std::filesystem::path& path);

// Parses `yaml` as if read from `path` (for tests and error messages). Throws KeyConfigError.
KeySetConfig parse_key_set_config(const std::string& yaml, const std::filesystem::path& path);

// Loads every key of `config` (reading password files, decrypting keystores once) into a set
// with `version`. Appends permission and mlock warnings to `warnings`. Throws KeyConfigError,
// crypto::KeyRingError, KeystoreError or PasswordError naming the file at fault, never key
// material.
std::shared_ptr<const KeySet> load_key_set(const KeySetConfig& config, std::uint64_t version,
                                           std::vector<std::string>& warnings);

}  // namespace signer::keys
