// An EIP-712 signing scheme as an operator's scheme file defines it (scheme_file.h): a name, the
// domain, the struct types with one primary type, and the primary type's field that each
// record's salt fills. Each record's msg is a JSON object with the primary type's other fields;
// the record signs typed_data_digest(domain separator, hashStruct(primary, msg + salt field)).
//
// The salt field's value is the record's salt (a UUIDv4) as:
//   bytes32, uint256, uint128: the UUID's 128 bits as a number (hex without hyphens), so the
//                              word is 16 zero bytes then the UUID's 16 bytes;
//                              in JavaScript "0x" + salt.replaceAll("-", "").padStart(64, "0")
//                              for bytes32, BigInt("0x" + salt.replaceAll("-", "")) for uints;
//   bytes16:                   the UUID's 16 bytes;
//   string:                    the salt as written.
// Immutable once built; shared by every signing thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/keccak.h"
#include "schemes/typed_data.h"

namespace signer::schemes {

class TypedDataScheme {
 public:
  // Throws TypedDataError when `name` is not 1-64 of [a-z0-9_-] starting with a letter or digit,
  // the types do not compile (typed_data.h), the domain does not hash, or `salt_field` is not a
  // field of the primary type whose type is bytes32, uint256, uint128, bytes16 or string.
  TypedDataScheme(std::string name, Eip712Domain domain, std::vector<StructType> types,
                  const std::string& primary_type, std::string salt_field);

  const std::string& name() const { return name_; }
  const Eip712Domain& domain() const { return domain_; }
  const Eip712Types& types() const { return types_; }
  const std::string& salt_field() const { return salt_field_; }
  const crypto::Hash256& domain_separator() const { return domain_separator_; }
  // "0x" + hex of Keccak-256(domain separator || typeHash(primary) || salt field name): two
  // schemes with the same fingerprint give every record the same digest.
  const std::string& fingerprint() const { return fingerprint_; }

  // The definition as a scheme file in JSON: {"name", "domain", "primaryType", "types",
  // "saltField"}. parse_scheme_file reads it back to an equal scheme.
  nlohmann::json to_json() const;

  // The digest that a record with `salt` (a UUIDv4 as the signer writes it) and `msg` signs, or
  // the reason msg does not fit: not JSON, not an object, a field missing, unknown or out of its
  // type, or the salt field given. Never throws.
  std::variant<crypto::Hash256, std::string> digest(std::string_view salt,
                                                    std::string_view msg) const;

 private:
  std::string name_;
  Eip712Domain domain_;
  Eip712Types types_;
  std::string salt_field_;
  std::size_t salt_index_ = 0;
  enum class SaltEncoding { kWord, kBytes16, kString } salt_encoding_ = SaltEncoding::kWord;
  crypto::Hash256 domain_separator_{};
  std::string fingerprint_;
};

}  // namespace signer::schemes
