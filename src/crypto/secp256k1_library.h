// Which libsecp256k1 this binary signs with: the version CMake found through pkg-config
// (cmake/Secp256k1.cmake) and how it was linked. Linked statically by default, so the version
// named is the code the binary runs, wherever it runs. `signer version`, GET / and the
// signer_build_info metric name it; the benchmarks read it to refuse comparing an old library
// with go-ethereum.
#pragma once

#include <string>
#include <string_view>

namespace signer::crypto {

struct Secp256k1Library {
  std::string_view version;          // as pkg-config reported it at build time, e.g. "0.7.1"
  std::string_view linkage;          // "static" (libsecp256k1.a) or "shared"
  std::string_view minimum_version;  // the oldest version the project signs at full speed with
  bool current = false;              // version >= minimum_version
};

// The library this binary was built with. Never fails.
Secp256k1Library secp256k1_library();

// One line for people: "libsecp256k1 0.7.1 (static)", and for a library older than the minimum
// "libsecp256k1 0.2.0 (static) OLD: older than 0.7.0, not the library measured against
// go-ethereum".
std::string describe(const Secp256k1Library& library);

}  // namespace signer::crypto
