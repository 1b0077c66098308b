// Runs N iterations of one sign path, for instruction counting under callgrind, whose counts do
// not depend on what else the machine is doing (bench/run_sign_path.sh --instructions).
//   sign_path_count bare N   secp256k1_ecdsa_sign_recoverable on a precomputed hash
//   sign_path_count path N   salt + Keccak-256(salt + msg) + sign + serialize + hex
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "crypto/key_ring.h"
#include "crypto/message_signer.h"
#include "crypto/salt_generator.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s bare|path N\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const long n = std::atol(argv[2]);
  const auto ring = signer::crypto::KeyRing::generate(1);
  const signer::crypto::MessageSigner signer;
  signer::crypto::SaltGenerator salts;
  const std::string msg = "830f559b22b74bfcbb5631fae20462cb";
  std::size_t sink = 0;
  if (mode == "bare") {
    const auto hash = signer::crypto::keccak256_concat("b001ebc1-f2f7-44de-b5ff-1da0b16af05b", msg);
    secp256k1_ecdsa_recoverable_signature sig;
    for (long i = 0; i < n; ++i) {
      sink += static_cast<std::size_t>(
          secp256k1_ecdsa_sign_recoverable(signer.context().get(), &sig, hash.data(),
                                           ring.at(0).private_key.data(), nullptr, nullptr));
    }
  } else {
    for (long i = 0; i < n; ++i) {
      const std::string salt = salts.next();
      sink += signer.sign_salted(ring.at(0).private_key, salt, msg).size();
    }
  }
  std::printf("%zu\n", sink);
  return 0;
}
