// Hex encoding for signatures, public keys and hashes.
// Every value the service prints is lowercase hex with an optional "0x" prefix; these helpers are
// the one place that conversion happens, written to be cheap enough for the per-record hot path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace signer::crypto {

// Appends the lowercase hex of `bytes` to `out` (two characters a byte, no prefix).
void append_hex(std::string& out, std::span<const std::uint8_t> bytes);

// The length of "0x" + the hex of `bytes` bytes.
constexpr std::size_t prefixed_hex_size(std::size_t bytes) { return 2 + 2 * bytes; }

// Returns "0x" + lowercase hex of `bytes`.
std::string to_prefixed_hex(std::span<const std::uint8_t> bytes);

// Sets `out` to "0x" + lowercase hex of `bytes`, in its own buffer: a string that already has
// the capacity (prefixed_hex_size) gets no allocation.
void assign_prefixed_hex(std::string& out, std::span<const std::uint8_t> bytes);

// Decodes exactly out.size() bytes from `hex` (no prefix, either case).
// Returns false, leaving `out` unspecified, when `hex` has the wrong length or a non-hex character.
bool decode_hex(std::string_view hex, std::span<std::uint8_t> out);

// Strips a leading "0x" or "0X". Returns false when there is none.
bool strip_hex_prefix(std::string_view& text);

// The value 0-15 of one hex digit (either case), or -1 when `c` is not one.
int hex_digit_value(char c);

// Returns true when every character of `text` is a hex digit (either case).
bool is_hex(std::string_view text);

}  // namespace signer::crypto
