// Prints what `signer version` prints about libsecp256k1, after one call into the library, so
// the program links the libsecp256k1 the module chose.
#include <secp256k1.h>

#include <iostream>

#include "crypto/secp256k1_library.h"

int main() {
  secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  if (ctx == nullptr) return 1;
  secp256k1_context_destroy(ctx);
  std::cout << signer::crypto::describe(signer::crypto::secp256k1_library()) << "\n";
  return 0;
}
