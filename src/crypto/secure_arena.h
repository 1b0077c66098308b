// Page-aligned memory for secrets: private key bytes and the key file while it is parsed.
// The pages are mapped privately, kept out of core dumps (madvise MADV_DONTDUMP) and, where the
// platform allows, locked in RAM (mlock) so they are never written to swap. Allocation is a bump
// pointer over a fixed capacity chosen at construction; released blocks and the whole arena are
// wiped (explicit_bzero) before the pages go back to the kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <type_traits>

namespace signer::crypto {

class SecureArena {
 public:
  // Maps at least `capacity` bytes (rounded up to whole pages; at least one page), marks them
  // dont-dump and tries to lock them. Throws std::system_error only when mmap fails. A failed
  // mlock (RLIMIT_MEMLOCK, no CAP_IPC_LOCK) or madvise is not an error: see locked() and
  // dont_dump().
  explicit SecureArena(std::size_t capacity);
  // Wipes every page, unlocks and unmaps them.
  ~SecureArena();

  // Neither copyable nor movable: blocks handed out point into this object's pages.
  SecureArena(const SecureArena&) = delete;
  SecureArena& operator=(const SecureArena&) = delete;

  // Returns `size` zeroed bytes aligned to `alignment` (a power of two, at most a page).
  // Throws std::bad_alloc when the arena has no room left; memory is never reused.
  void* allocate(std::size_t size, std::size_t alignment);

  // Wipes a block returned by allocate(); the space is not reused.
  void release(void* block, std::size_t size) noexcept;

  // Wipes the whole arena (every byte, used or not) and makes all of it free again.
  void wipe() noexcept;

  // Every byte of the mapping, for inspection (tests) and for buffers that use the whole arena.
  std::span<std::uint8_t> bytes() const { return {base_, size_}; }

  bool locked() const { return locked_; }
  bool dont_dump() const { return dont_dump_; }

 private:
  std::uint8_t* base_ = nullptr;
  std::size_t size_ = 0;
  std::size_t used_ = 0;
  bool locked_ = false;
  bool dont_dump_ = false;
};

// A std::allocator for containers whose elements hold secrets (KeyRing's keys): every element
// lives in `arena`. Elements moved out of a block on reallocation leave wiped memory behind,
// because the block is released through SecureArena::release.
template <typename T>
class SecureAllocator {
 public:
  using value_type = T;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using propagate_on_container_copy_assignment = std::true_type;

  SecureAllocator() noexcept = default;
  explicit SecureAllocator(SecureArena* arena) noexcept : arena_(arena) {}
  template <typename U>
  SecureAllocator(const SecureAllocator<U>& other) noexcept  // NOLINT: rebinding is implicit
      : arena_(other.arena()) {}

  T* allocate(std::size_t n) {
    if (arena_ == nullptr) throw std::bad_alloc();
    return static_cast<T*>(arena_->allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (arena_ != nullptr) arena_->release(p, n * sizeof(T));
  }
  SecureArena* arena() const noexcept { return arena_; }

  template <typename U>
  bool operator==(const SecureAllocator<U>& other) const noexcept {
    return arena_ == other.arena();
  }

 private:
  SecureArena* arena_ = nullptr;
};

}  // namespace signer::crypto
