#include "crypto/secp256k1_library.h"

// Set for this file alone by CMakeLists.txt from cmake/Secp256k1.cmake.
#if !defined(SIGNER_SECP256K1_VERSION) || !defined(SIGNER_SECP256K1_LINKAGE) || \
    !defined(SIGNER_SECP256K1_MINIMUM_VERSION) || !defined(SIGNER_SECP256K1_CURRENT)
#error "secp256k1_library.cpp needs the SIGNER_SECP256K1_* definitions of cmake/Secp256k1.cmake"
#endif

namespace signer::crypto {

Secp256k1Library secp256k1_library() {
  return {SIGNER_SECP256K1_VERSION, SIGNER_SECP256K1_LINKAGE, SIGNER_SECP256K1_MINIMUM_VERSION,
          SIGNER_SECP256K1_CURRENT != 0};
}

std::string describe(const Secp256k1Library& library) {
  std::string out = "libsecp256k1 ";
  out += library.version;
  out += " (";
  out += library.linkage;
  out += ")";
  if (!library.current) {
    out += " OLD: older than ";
    out += library.minimum_version;
    out += ", not the library measured against go-ethereum";
  }
  return out;
}

}  // namespace signer::crypto
