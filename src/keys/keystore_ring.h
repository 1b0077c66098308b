// A key ring made of V3 keystore files, each unlocked by its own password source. This is the
// loader a key-set config builds on: it reads every password, decrypts every keystore once, and
// hands the keys to a crypto::KeyRing, after which signing sees no difference from keys.csv.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "crypto/key_ring.h"
#include "keys/password.h"

namespace signer::keys {

// One keystore file and where its password comes from.
struct KeystoreSource {
  std::filesystem::path file;
  PasswordSource password;
};

// Loads `sources`, in order (key i of the ring is sources[i]), decrypting each keystore once.
// A password read for one source is wiped before the next is read, and each decrypted key is
// moved into the ring's arena (crypto::KeyRing::from_private_keys), wiping the copy it came from.
// Appends to `warnings` what read_password_source() and load_keystore() warn about, and that the
// key pages could not be locked in RAM when mlock is refused.
// Throws PasswordError or KeystoreError (naming the file or source) for the first source that
// fails, and crypto::KeyRingError when `sources` is empty or two keystores hold the same key.
crypto::KeyRing load_keystore_ring(std::span<const KeystoreSource> sources,
                                   std::vector<std::string>& warnings);

}  // namespace signer::keys
