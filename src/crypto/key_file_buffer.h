// The bytes of keys.csv while they are parsed, held in a SecureArena instead of a std::string or
// an ifstream buffer: the file is read with ::read straight into dont-dump (and, where allowed,
// locked) pages sized from fstat, so no reallocation leaves a copy of the private key hex behind,
// and the pages are wiped by wipe() and by the destructor.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string_view>

#include "crypto/secure_arena.h"

namespace signer::crypto {

class KeyFileBuffer {
 public:
  // Largest key file read: far above any real keys.csv (about 200 bytes a key).
  static constexpr std::size_t kMaxFileBytes = 16 * 1024 * 1024;

  KeyFileBuffer() = default;
  ~KeyFileBuffer() = default;  // the arena wipes its pages
  KeyFileBuffer(const KeyFileBuffer&) = delete;
  KeyFileBuffer& operator=(const KeyFileBuffer&) = delete;

  // Reads the whole of `path` (any previous content is wiped first). Returns false and sets
  // `error` to a message without file content when the file cannot be opened, stat'ed or read,
  // is larger than kMaxFileBytes, or grows while being read. `what` names the file in `error`
  // ("keys file", "password file", …).
  bool read(const std::filesystem::path& path, std::string& error,
            std::string_view what = "keys file");

  // The file's content, valid until wipe() or destruction.
  std::string_view text() const;
  // The file's permission bits (st_mode & 07777) from fstat of the opened file.
  mode_t mode() const { return mode_; }

  // Zeroes every byte the buffer holds (all of its pages); text() is then empty.
  void wipe() noexcept;

  // All the pages the content was read into, for tests that check the wipe. Empty before read().
  std::span<const std::uint8_t> storage() const;

 private:
  std::unique_ptr<SecureArena> arena_;
  std::size_t length_ = 0;
  mode_t mode_ = 0;
};

}  // namespace signer::crypto
