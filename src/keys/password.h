// The password that unlocks a V3 keystore file, and where it comes from.
// A password is a secret like a private key: it never comes from a flag value (that shows in
// `ps` and in shell history), only from a mounted file or a named environment variable, and it
// lives in a Password, which cannot be printed or copied and wipes its bytes when destroyed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <cryptopp/secblock.h>

namespace signer::keys {

class Password {
 public:
  // An empty password (go-ethereum allows one; keygen refuses to write with it).
  Password() = default;
  // Takes a copy of `bytes`. The caller still owns and must wipe its own buffer.
  explicit Password(std::span<const std::uint8_t> bytes);
  ~Password() = default;  // SecByteBlock wipes its allocation

  Password(const Password&) = delete;
  Password& operator=(const Password&) = delete;
  // Moves swap the buffers (SecByteBlock has no move and would copy); the moved-from password is
  // left empty and its old bytes are wiped.
  Password(Password&& other) noexcept;
  Password& operator=(Password&& other) noexcept;

  // The password's bytes, exactly as given (UTF-8 for text passwords, as go-ethereum reads them).
  std::span<const std::uint8_t> bytes() const { return {bytes_.data(), bytes_.size()}; }
  bool empty() const { return bytes_.empty(); }

 private:
  CryptoPP::SecByteBlock bytes_;
};

// Where a password is read from: a file (typically a mounted Kubernetes Secret) or the name of
// an environment variable. Neither holds the password itself, so both may be logged.
struct PasswordSource {
  enum class Kind { kFile, kEnvironment };
  Kind kind = Kind::kFile;
  std::string location;  // the file path, or the variable's name

  static PasswordSource file(std::string path) { return {Kind::kFile, std::move(path)}; }
  static PasswordSource environment(std::string name) {
    return {Kind::kEnvironment, std::move(name)};
  }
  // "password file PATH" or "environment variable NAME", for messages.
  std::string describe() const;
};

// A password that could not be read. what() names the source (file path or variable name) and
// the reason; it never holds password bytes.
class PasswordError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads the password from `source`. A password is one line: one trailing "\n" (or "\r\n") is
// stripped, as `echo pw > file`, `kubectl create secret --from-file` and a Secret mounted as an
// environment variable leave it, and any other line break is an error, because a multi-line
// value is almost surely the wrong one and would otherwise only show up as a MAC mismatch. An
// empty value gives an empty password (go-ethereum allows one).
// - A file is read whole into wiped, dont-dump pages (crypto::KeyFileBuffer). Appends a warning
//   to `warnings` when the file is readable by others or writable by group or others
//   (crypto::key_file_mode_warning's rule).
// - An environment variable is read with getenv; it must be set, though it may be empty.
// Throws PasswordError when the file cannot be read, the variable is not set, `location` is
// empty, or the value holds a line break other than the trailing one.
Password read_password_source(const PasswordSource& source, std::vector<std::string>& warnings);

}  // namespace signer::keys
