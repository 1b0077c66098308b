#include "audit/job_id.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace signer::audit {
namespace {

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

std::string new_job_id(std::int64_t unix_ms) {
  unsigned char bytes[8];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    got += static_cast<std::size_t>(n);
  }
  char text[kJobIdLength + 1];
  std::snprintf(text, sizeof text, "j-%012llx-",
                static_cast<unsigned long long>(unix_ms) & 0xffffffffffffULL);
  for (std::size_t i = 0; i < sizeof bytes; ++i) {
    std::snprintf(text + 15 + 2 * i, 3, "%02x", bytes[i]);
  }
  return std::string(text, kJobIdLength);
}

bool is_valid_job_id(std::string_view id) {
  if (id.size() != kJobIdLength || id.substr(0, 2) != "j-" || id[14] != '-') return false;
  for (std::size_t i = 2; i < kJobIdLength; ++i) {
    if (i != 14 && !is_lower_hex(id[i])) return false;
  }
  return true;
}

}  // namespace signer::audit
