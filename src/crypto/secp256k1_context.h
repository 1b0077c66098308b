// RAII owner of a libsecp256k1 context, randomized from the kernel CSPRNG.
// Contexts are not shared between threads: each signing thread builds its own, so randomization
// (which mutates the context) never races with signing.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

struct secp256k1_context_struct;
typedef struct secp256k1_context_struct secp256k1_context;

namespace signer::crypto {

// Fills `out` from getrandom(2). Throws std::system_error if the kernel refuses.
void fill_random(std::span<std::byte> out);

class Secp256k1Context {
 public:
  // Creates a context and randomizes it with 32 bytes from the CSPRNG (side-channel blinding).
  // Throws std::runtime_error if libsecp256k1 refuses either step.
  Secp256k1Context();

  const secp256k1_context* get() const { return ctx_.get(); }

 private:
  struct Deleter {
    void operator()(secp256k1_context* ctx) const;
  };
  std::unique_ptr<secp256k1_context, Deleter> ctx_;
};

}  // namespace signer::crypto
