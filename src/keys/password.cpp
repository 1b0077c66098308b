#include "keys/password.h"

#include <cstdlib>
#include <cstring>

#include "crypto/key_file_buffer.h"
#include "crypto/key_ring.h"

namespace signer::keys {
namespace {

// Strips one trailing "\n" or "\r\n" from `value`. Returns false when a line break remains.
bool strip_single_line(std::string_view& value) {
  if (!value.empty() && value.back() == '\n') {
    value.remove_suffix(1);
    if (!value.empty() && value.back() == '\r') value.remove_suffix(1);
  }
  return value.find_first_of("\r\n") == std::string_view::npos;
}

std::span<const std::uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

Password from_single_line(const PasswordSource& source, std::string_view value) {
  if (!strip_single_line(value)) {
    throw PasswordError(source.describe() +
                        " holds more than one line; it must hold the password alone (one "
                        "trailing newline is allowed)");
  }
  return Password(as_bytes(value));
}

}  // namespace

Password::Password(std::span<const std::uint8_t> bytes) : bytes_(bytes.data(), bytes.size()) {}

Password::Password(Password&& other) noexcept { bytes_.swap(other.bytes_); }

Password& Password::operator=(Password&& other) noexcept {
  if (this != &other) {
    bytes_.swap(other.bytes_);
    other.bytes_.New(0);  // frees (and so wipes) the bytes this password held before
  }
  return *this;
}

std::string PasswordSource::describe() const {
  return (kind == Kind::kFile ? "password file " : "environment variable ") + location;
}

Password read_password_source(const PasswordSource& source, std::vector<std::string>& warnings) {
  if (source.location.empty()) {
    throw PasswordError(source.kind == PasswordSource::Kind::kFile
                            ? "password file: no path given"
                            : "password environment variable: no name given");
  }
  if (source.kind == PasswordSource::Kind::kEnvironment) {
    const char* value = std::getenv(source.location.c_str());
    if (value == nullptr) throw PasswordError(source.describe() + " is not set");
    return from_single_line(source, std::string_view(value, std::strlen(value)));
  }
  crypto::KeyFileBuffer buffer;  // wiped by its destructor on every path
  std::string error;
  if (!buffer.read(source.location, error, "password file")) throw PasswordError(error);
  if (auto warning =
          crypto::key_file_mode_warning(source.location, buffer.mode(), "password file")) {
    warnings.push_back(std::move(*warning));
  }
  return from_single_line(source, buffer.text());
}

}  // namespace signer::keys
