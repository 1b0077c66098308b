// libFuzzer target: a record's msg read as EIP-712 typed data (Boost.JSON's parse, then every
// kind of member the encoder knows), and the decimal/hex integer reader against a plain
// digit-by-digit reference. Anything must be refused with a reason or hashed, never crash, and
// the integer reader must agree with the reference on every input.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "schemes/abi_word.h"
#include "schemes/typed_data.h"

namespace {

using signer::schemes::Word;

// word = word * base + digit over bytes; nullopt past 2^256 or on a foreign character.
std::optional<Word> reference_uint256(std::string_view text) {
  unsigned base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  } else if (text.empty()) {
    return std::nullopt;
  }
  Word word{};
  for (const char c : text) {
    unsigned digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      digit = static_cast<unsigned>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    unsigned carry = digit;
    for (std::size_t i = word.size(); i-- > 0;) {
      const unsigned v = word[i] * base + carry;
      word[i] = static_cast<std::uint8_t>(v & 0xff);
      carry = v >> 8;
    }
    if (carry != 0) return std::nullopt;
  }
  return word;
}

const signer::schemes::Eip712Types& types() {
  static const signer::schemes::Eip712Types t(
      {{"Party", {{"name", "string"}, {"wallet", "address"}, {"tags", "bytes32[]"}}},
       {"Voucher",
        {{"to", "Party"},
         {"amount", "uint256"},
         {"delta", "int64"},
         {"ok", "bool"},
         {"data", "bytes"},
         {"pair", "uint8[2]"},
         {"more", "Party[]"},
         {"id", "bytes16"}}}},
      "Voucher");
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)types().hash_struct(input);
  const auto ours = signer::schemes::parse_uint256_text(input);
  const auto reference = reference_uint256(input);
  if (ours.has_value() != reference.has_value() || (ours && *ours != *reference)) std::abort();
  return 0;
}
