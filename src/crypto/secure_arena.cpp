#include "crypto/secure_arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "crypto/private_key.h"

namespace signer::crypto {
namespace {

std::size_t page_size() {
  const long page = ::sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<std::size_t>(page) : 4096;
}

}  // namespace

SecureArena::SecureArena(std::size_t capacity) {
  const std::size_t page = page_size();
  size_ = capacity == 0 ? page : (capacity + page - 1) / page * page;
  void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap secure arena");
  base_ = static_cast<std::uint8_t*>(p);
#ifdef MADV_DONTDUMP
  dont_dump_ = ::madvise(base_, size_, MADV_DONTDUMP) == 0;
#endif
  locked_ = ::mlock(base_, size_) == 0;
}

SecureArena::~SecureArena() {
  secure_zero(base_, size_);
  if (locked_) ::munlock(base_, size_);
  ::munmap(base_, size_);
}

void* SecureArena::allocate(std::size_t size, std::size_t alignment) {
  const std::size_t start = (used_ + alignment - 1) & ~(alignment - 1);
  if (start > size_ || size > size_ - start) throw std::bad_alloc();
  used_ = start + size;
  return base_ + start;
}

void SecureArena::release(void* block, std::size_t size) noexcept { secure_zero(block, size); }

void SecureArena::wipe() noexcept {
  secure_zero(base_, size_);
  used_ = 0;
}

}  // namespace signer::crypto
