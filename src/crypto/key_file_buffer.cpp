#include "crypto/key_file_buffer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace signer::crypto {
namespace {

// Closes a file descriptor on every exit path.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

bool KeyFileBuffer::read(const std::filesystem::path& path, std::string& error,
                         std::string_view what) {
  const std::string label(what);
  wipe();
  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    error = "cannot read " + label + " " + path.string() + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    error = "cannot stat " + label + " " + path.string() + ": " + std::strerror(errno);
    return false;
  }
  mode_ = st.st_mode & 07777;
  const auto size = static_cast<std::size_t>(st.st_size < 0 ? 0 : st.st_size);
  if (size > kMaxFileBytes) {
    error =
        label + " " + path.string() + " is larger than " + std::to_string(kMaxFileBytes) + " bytes";
    return false;
  }
  // One spare byte shows a file that grew between fstat and read.
  if (!arena_ || arena_->bytes().size() < size + 1) {
    arena_.reset();
    arena_ = std::make_unique<SecureArena>(size + 1);
  }
  const std::span<std::uint8_t> buffer = arena_->bytes();
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    const ssize_t n = ::read(fd.get(), buffer.data() + filled, buffer.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      wipe();
      error = "cannot read " + label + " " + path.string() + ": " + std::strerror(errno);
      return false;
    }
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  if (filled > size) {
    wipe();
    error = label + " " + path.string() + " changed while it was read";
    return false;
  }
  length_ = filled;
  return true;
}

std::string_view KeyFileBuffer::text() const {
  if (!arena_) return {};
  return {reinterpret_cast<const char*>(arena_->bytes().data()), length_};
}

void KeyFileBuffer::wipe() noexcept {
  if (arena_) arena_->wipe();
  length_ = 0;
}

std::span<const std::uint8_t> KeyFileBuffer::storage() const {
  if (!arena_) return {};
  return arena_->bytes();
}

}  // namespace signer::crypto
