// libFuzzer target: crypto::rfc6979_nonce gives the same 32 bytes as libsecp256k1's own
// secp256k1_nonce_function_rfc6979 for any key, message, counter, extra data and algorithm name.
// Input: a flags byte (bit 0: pass data, bit 1: pass algo16, bits 2-4: counter), then key (32),
// message (32), data (32) and algo16 (16) bytes; missing bytes are zero.
#include <secp256k1.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "crypto/rfc6979_nonce.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::array<unsigned char, 1 + 32 + 32 + 32 + 16> in{};
  std::memcpy(in.data(), data, size < in.size() ? size : in.size());
  const unsigned flags = in[0];
  const unsigned char* key = in.data() + 1;
  const unsigned char* msg = key + 32;
  unsigned char* extra = in.data() + 1 + 64;
  const unsigned char* algo16 = extra + 32;
  const unsigned counter = (flags >> 2) & 7U;
  void* extra_arg = (flags & 1U) != 0 ? extra : nullptr;
  const unsigned char* algo_arg = (flags & 2U) != 0 ? algo16 : nullptr;
  std::array<unsigned char, 32> theirs{};
  std::array<unsigned char, 32> ours{};
  if (secp256k1_nonce_function_rfc6979(theirs.data(), msg, key, algo_arg, extra_arg, counter) !=
          1 ||
      signer::crypto::rfc6979_nonce(ours.data(), msg, key, algo_arg, extra_arg, counter) != 1 ||
      ours != theirs) {
    std::abort();
  }
  return 0;
}
