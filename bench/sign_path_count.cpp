// Runs N iterations of one sign path, for instruction counting under callgrind, whose counts do
// not depend on what else the machine is doing (bench/run_sign_path.sh --instructions).
//   sign_path_count bare N   secp256k1_ecdsa_sign_recoverable on a precomputed hash
//   sign_path_count path N   salt + Keccak-256(salt + msg) + sign + serialize + hex
//   sign_path_count raw|eip191|eip712 N   one voucher record signed under that scheme, as
//                            `signer sign-message` signs it (signing::sign_record;
//                            scheme_fixture.h)
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "crypto/key_ring.h"
#include "crypto/message_signer.h"
#include "crypto/salt_generator.h"
#include "keys/key_set.h"
#include "scheme_fixture.h"
#include "signing/record_signer.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s bare|path|raw|eip191|eip712 N\n", argv[0]);
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
  } else if (mode == "path") {
    for (long i = 0; i < n; ++i) {
      const std::string salt = salts.next();
      sink += signer.sign_salted(ring.at(0).private_key, salt, msg).size();
    }
  } else {
    const char* names[] = {"raw", "eip191", "eip712"};
    std::size_t which = 0;
    while (which < 3 && mode != names[which]) ++which;
    if (which == 3) {
      std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
      return 2;
    }
    const auto& scheme = signer::bench::voucher_scheme(which);
    const signer::keys::KeySet keys(
        signer::keys::KeySet::keys_of(
            std::make_shared<signer::crypto::KeyRing>(signer::crypto::KeyRing::generate(1)),
            signer::keys::KeySource::kCsv, "bench"),
        1);
    signer::crypto::MessageSigner worker;
    signer::records::SignedRecord record;
    for (long i = 0; i < n; ++i) {
      record.salt = salts.next();
      record.msg = signer::bench::kVoucherMsg;
      if (signer::signing::sign_record(scheme, keys.at(0), worker, record)) return 1;
      sink += record.sign.size();
    }
  }
  std::printf("%zu\n", sink);
  return 0;
}
