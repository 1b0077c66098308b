#include "crypto/key_ring.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <functional>
#include <iterator>
#include <sstream>
#include <unordered_set>

#include "crypto/eip55.h"
#include "crypto/hex.h"
#include "crypto/keccak.h"
#include "crypto/message_signer.h"
#include "crypto/secp256k1_context.h"

namespace signer::crypto {
namespace {

constexpr std::size_t kPublicHexLength = 130;  // "04" + 128
constexpr std::size_t kPrivateHexLength = 64;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string line_error(std::size_t line, const std::string& rule) {
  return "keys file line " + std::to_string(line) + ": " + rule;
}

// A buffer that wipes itself, for the private key bytes while they are parsed.
struct ScratchKey {
  std::array<std::uint8_t, PrivateKey::kSize> bytes{};
  ~ScratchKey() { secure_zero(bytes.data(), bytes.size()); }
};

SigningKey make_signing_key(const MessageSigner& signer, PrivateKey key) {
  const PublicKey65 pub = signer.public_key(key);
  std::string pub_hex = to_prefixed_hex(pub);
  std::string address = ethereum_address(std::string_view(pub_hex).substr(4));
  return SigningKey{std::move(key), std::move(pub_hex), std::move(address)};
}

// Upper bound on the keys `csv` can hold: its non-blank lines.
std::size_t count_candidate_lines(std::string_view csv) {
  std::size_t count = 0;
  while (!csv.empty()) {
    const std::size_t nl = csv.find('\n');
    if (!trim(csv.substr(0, nl)).empty()) ++count;
    csv = nl == std::string_view::npos ? std::string_view{} : csv.substr(nl + 1);
  }
  return count;
}

}  // namespace

KeyRing::KeyRing(std::size_t capacity)
    : arena_(
          std::make_unique<SecureArena>(std::max<std::size_t>(capacity, 1) * sizeof(SigningKey))),
      keys_(SecureAllocator<SigningKey>(arena_.get())) {
  keys_.reserve(capacity);
}

KeyRing& KeyRing::operator=(KeyRing&& other) noexcept {
  std::swap(arena_, other.arena_);
  keys_.swap(other.keys_);
  return *this;
}

std::optional<std::string> key_file_mode_warning(const std::string& path, unsigned mode,
                                                 std::string_view what) {
  constexpr unsigned kTooOpen = S_IWGRP | S_IXGRP | S_IRWXO;
  if ((mode & kTooOpen) == 0) return std::nullopt;
  std::ostringstream text;
  text << std::oct << (mode & 0777);
  return std::string(what) + " " + path + " has mode 0" + text.str() +
         ": writable by group or others, or readable by others; chmod 600 it (0400, or 0440 on a "
         "read-only Secret mount, are fine too)";
}

std::string ethereum_address(std::string_view public_xy_hex) {
  std::array<std::uint8_t, 64> xy{};
  if (!decode_hex(public_xy_hex, xy)) return {};
  const Hash256 h = keccak256(xy);
  std::string lower;
  append_hex(lower, std::span(h).subspan(12));
  return eip55_address(lower);
}

KeyRing KeyRing::parse(std::string_view csv) {
  const MessageSigner signer;
  KeyRing ring(count_candidate_lines(csv));
  std::unordered_set<std::string> seen;
  std::size_t line_no = 0;
  while (!csv.empty()) {
    ++line_no;
    const std::size_t nl = csv.find('\n');
    std::string_view line = trim(csv.substr(0, nl));
    csv = nl == std::string_view::npos ? std::string_view{} : csv.substr(nl + 1);
    if (line.empty()) continue;

    const std::size_t comma = line.find(',');
    if (comma == std::string_view::npos || line.find(',', comma + 1) != std::string_view::npos) {
      throw KeyRingError(line_error(line_no, "expected two fields \"0x04<public>,0x<private>\""),
                         line_no);
    }
    std::string_view pub = trim(line.substr(0, comma));
    std::string_view priv = trim(line.substr(comma + 1));
    if (!strip_hex_prefix(pub) || !strip_hex_prefix(priv)) {
      throw KeyRingError(line_error(line_no, "both fields must start with 0x"), line_no);
    }
    if (pub.size() != kPublicHexLength || pub.substr(0, 2) != "04" || !is_hex(pub)) {
      throw KeyRingError(
          line_error(line_no, "public key must be 0x04 followed by 128 hex characters"), line_no);
    }
    ScratchKey scratch;
    if (priv.size() != kPrivateHexLength || !decode_hex(priv, scratch.bytes)) {
      throw KeyRingError(
          line_error(line_no, "private key must be 0x followed by 64 hex characters"), line_no);
    }
    PrivateKey key(scratch.bytes);
    if (!signer.is_valid_private_key(key)) {
      throw KeyRingError(
          line_error(line_no, "private key is zero or not below the secp256k1 curve order"),
          line_no);
    }
    SigningKey signing = make_signing_key(signer, std::move(key));
    std::string given = "0x";
    std::transform(pub.begin(), pub.end(), std::back_inserter(given),
                   [](char c) { return static_cast<char>((c >= 'A' && c <= 'F') ? c + 32 : c); });
    if (given != signing.public_key) {
      throw KeyRingError(line_error(line_no, "public key does not match the private key"), line_no);
    }
    if (!seen.insert(signing.public_key).second) {
      throw KeyRingError(line_error(line_no, "duplicate key"), line_no);
    }
    ring.keys_.push_back(std::move(signing));
  }
  if (ring.keys_.empty()) throw KeyRingError("keys file holds no keys", 0);
  return ring;
}

KeyRing KeyRing::load_file(const std::filesystem::path& path, std::vector<std::string>& warnings) {
  KeyFileBuffer buffer;
  return load_file(path, warnings, buffer);
}

KeyRing KeyRing::load_file(const std::filesystem::path& path, std::vector<std::string>& warnings,
                           KeyFileBuffer& buffer) {
  struct WipeOnExit {
    KeyFileBuffer& buffer;
    ~WipeOnExit() { buffer.wipe(); }
  } wipe{buffer};
  std::string error;
  if (!buffer.read(path, error)) throw KeyRingError(error, 0);
  if (auto warning = key_file_mode_warning(path.string(), buffer.mode())) {
    warnings.push_back(std::move(*warning));
  }
  try {
    KeyRing ring = parse(buffer.text());
    if (!ring.memory_locked()) {
      warnings.push_back(
          "could not lock the key pages in RAM (mlock; raise RLIMIT_MEMLOCK): keys may be "
          "swapped out");
    }
    return ring;
  } catch (const KeyRingError& e) {
    throw KeyRingError(path.string() + ": " + e.what(), e.line());
  }
}

KeyRing KeyRing::generate(std::size_t count) {
  const MessageSigner signer;
  KeyRing ring(count);
  while (ring.keys_.size() < count) {
    ScratchKey scratch;
    fill_random(std::as_writable_bytes(std::span(scratch.bytes)));
    PrivateKey key(scratch.bytes);
    if (!signer.is_valid_private_key(key)) continue;  // probability ~2^-128
    ring.keys_.push_back(make_signing_key(signer, std::move(key)));
  }
  return ring;
}

KeyRing KeyRing::from_private_keys(std::vector<PrivateKey> keys) {
  if (keys.empty()) throw KeyRingError("no keys given", 0);
  const MessageSigner signer;
  KeyRing ring(keys.size());
  std::unordered_set<std::string> seen;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::size_t position = i + 1;
    if (!signer.is_valid_private_key(keys[i])) {
      throw KeyRingError(
          "key " + std::to_string(position) + ": zero or not below the secp256k1 curve order",
          position);
    }
    SigningKey signing = make_signing_key(signer, std::move(keys[i]));
    if (!seen.insert(signing.public_key).second) {
      throw KeyRingError("key " + std::to_string(position) + ": duplicate key", position);
    }
    ring.keys_.push_back(std::move(signing));
  }
  return ring;
}

std::string KeyRing::to_csv() const {
  std::string out;
  out.reserve(keys_.size() * 200);
  for (const SigningKey& k : keys_) {
    out += k.public_key;
    out += ",0x";
    append_hex(out, std::span<const std::uint8_t>(k.private_key.data(), PrivateKey::kSize));
    out += '\n';
  }
  return out;
}

std::optional<std::size_t> find_key(
    std::string_view selector, std::size_t count,
    const std::function<const std::string&(std::size_t)>& public_key,
    const std::function<const std::string&(std::size_t)>& address) {
  if (selector.empty()) return std::nullopt;
  if (selector.size() <= 20 &&
      std::all_of(selector.begin(), selector.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::size_t index = 0;
    auto [ptr, ec] = std::from_chars(selector.data(), selector.data() + selector.size(), index);
    if (ec != std::errc() || ptr != selector.data() + selector.size()) return std::nullopt;
    if (index < count) return index;
    return std::nullopt;
  }
  const auto lowercase = [](std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c); });
    return lower;
  };
  const std::string lower = lowercase(selector);
  if (selector.size() == 2 + kPublicHexLength) {
    for (std::size_t i = 0; i < count; ++i) {
      if (public_key(i) == lower) return i;
    }
  } else if (selector.size() == 42) {  // an address, "0x" + 40 hex, checksummed or not
    for (std::size_t i = 0; i < count; ++i) {
      if (lowercase(address(i)) == lower) return i;
    }
  }
  return std::nullopt;
}

std::optional<std::size_t> KeyRing::find(std::string_view selector) const {
  return find_key(
      selector, keys_.size(),
      [&](std::size_t i) -> const std::string& { return keys_[i].public_key; },
      [&](std::size_t i) -> const std::string& { return keys_[i].address; });
}

}  // namespace signer::crypto
