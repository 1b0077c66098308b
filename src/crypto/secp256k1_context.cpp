#include "crypto/secp256k1_context.h"

#include <secp256k1.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "crypto/private_key.h"

namespace signer::crypto {

void fill_random(std::span<std::byte> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    done += static_cast<std::size_t>(n);
  }
}

void Secp256k1Context::Deleter::operator()(secp256k1_context* ctx) const {
  secp256k1_context_destroy(ctx);
}

Secp256k1Context::Secp256k1Context() : ctx_(secp256k1_context_create(SECP256K1_CONTEXT_NONE)) {
  if (!ctx_) throw std::runtime_error("secp256k1_context_create failed");
  std::array<unsigned char, 32> seed{};
  fill_random(std::as_writable_bytes(std::span(seed)));
  const int ok = secp256k1_context_randomize(ctx_.get(), seed.data());
  secure_zero(seed.data(), seed.size());
  if (!ok) throw std::runtime_error("secp256k1_context_randomize failed");
}

}  // namespace signer::crypto
