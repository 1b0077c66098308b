#include "keys/keystore_ring.h"

#include "keys/keystore.h"

namespace signer::keys {

crypto::KeyRing load_keystore_ring(std::span<const KeystoreSource> sources,
                                   std::vector<std::string>& warnings) {
  std::vector<crypto::PrivateKey> keys;  // each is wiped when moved into the ring
  keys.reserve(sources.size());
  for (const KeystoreSource& source : sources) {
    const Password password = read_password_source(source.password, warnings);
    keys.push_back(load_keystore(source.file, password, warnings));
  }
  try {
    crypto::KeyRing ring = crypto::KeyRing::from_private_keys(std::move(keys));
    if (!ring.memory_locked()) {
      warnings.push_back(
          "could not lock the key pages in RAM (mlock; raise RLIMIT_MEMLOCK): keys may be "
          "swapped out");
    }
    return ring;
  } catch (const crypto::KeyRingError& e) {
    // "key 2: duplicate key" alone does not say which file; line() is the key's position.
    const std::size_t position = e.line();
    if (position == 0 || position > sources.size()) throw;
    throw crypto::KeyRingError(
        "keystore file " + sources[position - 1].file.string() + ": " + e.what(), position);
  }
}

}  // namespace signer::keys
