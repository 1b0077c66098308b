// libFuzzer target: the keys.csv parser must never crash, and a rejection must never quote key
// text (it names a line number and a rule only).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "crypto/key_ring.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  try {
    const auto ring = signer::crypto::KeyRing::parse(input);
    for (std::size_t i = 0; i < ring.size(); ++i) {
      if (ring.find(std::to_string(i)) != i) std::abort();
      if (ring.find(ring.at(i).public_key) != i) std::abort();
    }
  } catch (const signer::crypto::KeyRingError& e) {
    const std::string what = e.what();
    // Any 64-hex run in the message would be key material.
    std::size_t run = 0;
    for (char c : what) {
      const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      run = hex ? run + 1 : 0;
      if (run >= 64) std::abort();
    }
  }
  return 0;
}
