#include "crypto/hex.h"

#include <array>

namespace signer::crypto {
namespace {

constexpr char kDigits[] = "0123456789abcdef";

constexpr std::array<std::int8_t, 256> make_nibble_table() {
  std::array<std::int8_t, 256> table{};
  for (auto& v : table) v = -1;
  for (int c = '0'; c <= '9'; ++c)
    table[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c)
    table[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c)
    table[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - 'A' + 10);
  return table;
}
constexpr auto kNibble = make_nibble_table();

}  // namespace

int hex_digit_value(char c) { return kNibble[static_cast<unsigned char>(c)]; }

void append_hex(std::string& out, std::span<const std::uint8_t> bytes) {
  const std::size_t start = out.size();
  out.resize(start + bytes.size() * 2);
  char* p = out.data() + start;
  for (std::uint8_t b : bytes) {
    *p++ = kDigits[b >> 4];
    *p++ = kDigits[b & 0x0f];
  }
}

std::string to_prefixed_hex(std::span<const std::uint8_t> bytes) {
  std::string out;
  assign_prefixed_hex(out, bytes);
  return out;
}

void assign_prefixed_hex(std::string& out, std::span<const std::uint8_t> bytes) {
  out.reserve(prefixed_hex_size(bytes.size()));
  out.assign("0x");
  append_hex(out, bytes);
}

bool decode_hex(std::string_view hex, std::span<std::uint8_t> out) {
  if (hex.size() != out.size() * 2) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = kNibble[static_cast<unsigned char>(hex[2 * i])];
    const int lo = kNibble[static_cast<unsigned char>(hex[2 * i + 1])];
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return true;
}

bool strip_hex_prefix(std::string_view& text) {
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
    return true;
  }
  return false;
}

bool is_hex(std::string_view text) {
  for (char c : text) {
    if (kNibble[static_cast<unsigned char>(c)] < 0) return false;
  }
  return true;
}

}  // namespace signer::crypto
