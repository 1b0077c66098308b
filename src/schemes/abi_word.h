// The 32-byte words of EIP-712's encodeData, made from the JSON values people write: integers
// as JSON numbers or as strings (decimal, or 0x hex, for values past 2^64 that JSON numbers
// cannot carry exactly), addresses as "0x" + 40 hex (EIP-55 checked when mixed case), and
// "0x" hex byte strings. Each parser says why a value does not fit, in words fit for a record's
// rejection reason.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

namespace signer::schemes {

// One ABI word, big-endian.
using Word = std::array<std::uint8_t, 32>;

// A value that does not fit its type: the reason, without the field's name (the caller adds it).
struct ValueError {
  std::string reason;
};

// Parses an unsigned decimal ("1234") or hex ("0x4d2", either case) integer below 2^256.
// nullopt for anything else: empty, a sign, spaces, leading "+", a value of 2^256 or more.
std::optional<Word> parse_uint256_text(std::string_view text);

// The word of a uint<bits> (signed = false) or int<bits> (signed = true) value, bits in 8..256
// and a multiple of 8. `value` is a JSON integer or a string parse_uint256_text reads (with a
// leading '-' for int); ints are sign-extended two's complement. Returns the reason on failure:
// not an integer, negative for a uint, out of range for the width.
std::optional<ValueError> integer_word(const boost::json::value& value, unsigned bits,
                                       bool is_signed, Word& out);

// The word of an address: 12 zero bytes, then the 20 bytes. `text` is "0x" + 40 hex; when its
// letters are of mixed case they must be its EIP-55 checksum (as ethers' getAddress requires).
std::optional<ValueError> address_word(std::string_view text, Word& out);

// Decodes "0x" + an even number of hex digits (either case) into `out`.
std::optional<ValueError> decode_prefixed_hex(std::string_view text,
                                              std::vector<std::uint8_t>& out);

}  // namespace signer::schemes
