// libFuzzer target: the signed-record verifier. Input lines are salt, msg, sign, key; the
// verifier must classify anything without crashing, and must never call a high-S or V>1
// signature valid, nor one whose salt is not a UUIDv4 as the signer writes it.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "crypto/hex.h"
#include "crypto/salt_generator.h"
#include "crypto/signature_verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const signer::crypto::MessageSigner signer;
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> f;
  std::size_t start = 0;
  while (f.size() < 4) {
    const std::size_t nl = input.find('\n', start);
    f.push_back(input.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  while (f.size() < 4) f.emplace_back();
  const auto verdict = signer::crypto::verify_signature(signer, f[0], f[1], f[2], f[3]);
  if (verdict == signer::crypto::Verdict::kValid) {
    std::string_view sign = f[2];
    signer::crypto::strip_hex_prefix(sign);
    std::array<std::uint8_t, 65> sig{};
    if (!signer::crypto::decode_hex(sign, sig) || sig[64] > 1) std::abort();
    if (!signer::crypto::is_uuid_v4(f[0])) std::abort();  // the salt pins the salt/msg boundary
  }
  return 0;
}
