#include "schemes/abi_word.h"

#include <algorithm>

#include "crypto/eip55.h"
#include "crypto/hex.h"

namespace signer::schemes {
namespace {

// A 256-bit unsigned integer as four 64-bit limbs, least significant first, for parsing text:
// one multiply-add per chunk of up to 19 decimal digits (a few hundred instructions for a
// 78-digit value) rather than one byte-wise pass per digit.
using Limbs = std::array<std::uint64_t, 4>;
__extension__ using Wide = unsigned __int128;

// limbs = limbs * factor + addend; false on overflow past 2^256.
bool multiply_add(Limbs& limbs, std::uint64_t factor, std::uint64_t addend) {
  std::uint64_t carry = addend;
  for (std::uint64_t& limb : limbs) {
    const Wide v = static_cast<Wide>(limb) * factor + carry;
    limb = static_cast<std::uint64_t>(v);
    carry = static_cast<std::uint64_t>(v >> 64);
  }
  return carry == 0;
}

Word word_of_limbs(const Limbs& limbs) {
  Word word{};
  for (std::size_t i = 0; i < 32; ++i) {
    word[31 - i] = static_cast<std::uint8_t>(limbs[i / 8] >> (8 * (i % 8)));
  }
  return word;
}

// The number of significant bits of `word` (0 for zero).
unsigned bit_length(const Word& word) {
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (word[i] != 0) {
      unsigned bits = 0;
      for (unsigned b = word[i]; b != 0; b >>= 1) ++bits;
      return static_cast<unsigned>((word.size() - 1 - i) * 8) + bits;
    }
  }
  return 0;
}

// True when word == 2^(bits) exactly.
bool is_power_of_two(const Word& word, unsigned bits) {
  Word expected{};
  expected[word.size() - 1 - bits / 8] = static_cast<std::uint8_t>(1u << (bits % 8));
  return word == expected;
}

void negate(Word& word) {
  unsigned carry = 1;
  for (std::size_t i = word.size(); i-- > 0;) {
    const unsigned v = static_cast<std::uint8_t>(~word[i]) + carry;
    word[i] = static_cast<std::uint8_t>(v & 0xff);
    carry = v >> 8;
  }
}

}  // namespace

std::optional<Word> parse_uint256_text(std::string_view text) {
  Limbs limbs{};
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    for (const char c : text.substr(2)) {
      const int v = crypto::hex_digit_value(c);
      if (v < 0 || !multiply_add(limbs, 16, static_cast<std::uint64_t>(v))) return std::nullopt;
    }
    return word_of_limbs(limbs);
  }
  if (text.empty()) return std::nullopt;
  // Chunks of up to 19 digits: 10^19 < 2^64.
  while (!text.empty()) {
    const std::size_t n = std::min<std::size_t>(text.size(), 19);
    std::uint64_t chunk = 0;
    std::uint64_t scale = 1;
    for (const char c : text.substr(0, n)) {
      if (c < '0' || c > '9') return std::nullopt;
      chunk = chunk * 10 + static_cast<std::uint64_t>(c - '0');
      scale *= 10;
    }
    if (!multiply_add(limbs, scale, chunk)) return std::nullopt;
    text.remove_prefix(n);
  }
  return word_of_limbs(limbs);
}

std::optional<ValueError> integer_word(const boost::json::value& value, unsigned bits,
                                       bool is_signed, Word& out) {
  bool negative = false;
  Word magnitude{};
  if (value.is_uint64()) {
    magnitude = word_of_limbs({value.get_uint64(), 0, 0, 0});
  } else if (value.is_int64()) {
    const std::int64_t v = value.get_int64();
    negative = v < 0;
    // The magnitude of INT64_MIN does not fit an int64; it does fit a uint64.
    magnitude = word_of_limbs(
        {negative ? ~static_cast<std::uint64_t>(v) + 1 : static_cast<std::uint64_t>(v), 0, 0, 0});
  } else if (value.is_string()) {
    std::string_view text = value.get_string();
    if (!text.empty() && text[0] == '-') {
      negative = true;
      text.remove_prefix(1);
    }
    const auto parsed = parse_uint256_text(text);
    if (!parsed) {
      return ValueError{"is not an integer (a JSON number, or a decimal or 0x-hex string)"};
    }
    magnitude = *parsed;
  } else {
    return ValueError{value.is_double()
                          ? "is not an integer (JSON numbers past 2^64 or with a fraction cannot "
                            "be exact: give big integers as strings)"
                          : "is not an integer (a JSON number, or a decimal or 0x-hex string)"};
  }
  const bool zero = bit_length(magnitude) == 0;
  if (negative && zero) negative = false;  // "-0" is 0
  const std::string type = (is_signed ? "int" : "uint") + std::to_string(bits);
  if (!is_signed) {
    if (negative) return ValueError{"is negative, and " + type + " is unsigned"};
    if (bit_length(magnitude) > bits) return ValueError{"does not fit " + type};
    out = magnitude;
    return std::nullopt;
  }
  // int<bits>: -2^(bits-1) <= v < 2^(bits-1).
  const unsigned length = bit_length(magnitude);
  const bool fits = negative
                        ? length < bits || (length == bits && is_power_of_two(magnitude, bits - 1))
                        : length < bits;
  if (!fits) return ValueError{"does not fit " + type};
  out = magnitude;
  if (negative) negate(out);
  return std::nullopt;
}

std::optional<ValueError> address_word(std::string_view text, Word& out) {
  std::string_view hex = text;
  if (!crypto::strip_hex_prefix(hex) || hex.size() != 40 || !crypto::is_hex(hex)) {
    return ValueError{"is not an address (\"0x\" + 40 hex digits)"};
  }
  const bool has_lower = std::any_of(hex.begin(), hex.end(), [](char c) { return c >= 'a'; });
  const bool has_upper =
      std::any_of(hex.begin(), hex.end(), [](char c) { return c >= 'A' && c <= 'F'; });
  if (has_lower && has_upper) {
    std::string lower(hex);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return c >= 'A' && c <= 'F' ? static_cast<char>(c + 32) : c; });
    if (crypto::eip55_address(lower).substr(2) != hex) {
      return ValueError{"has mixed case that is not its EIP-55 checksum"};
    }
  }
  out.fill(0);
  crypto::decode_hex(hex, std::span(out).subspan(12));
  return std::nullopt;
}

std::optional<ValueError> decode_prefixed_hex(std::string_view text,
                                              std::vector<std::uint8_t>& out) {
  std::string_view hex = text;
  if (!crypto::strip_hex_prefix(hex) || hex.size() % 2 != 0 || !crypto::is_hex(hex)) {
    return ValueError{"is not \"0x\" + hex bytes"};
  }
  out.resize(hex.size() / 2);
  crypto::decode_hex(hex, out);
  return std::nullopt;
}

}  // namespace signer::schemes
