// EIP-712 structured data: the types of a typed-data scheme, compiled once, and hashStruct of
// JSON values of them, as the EIP-712 specification defines encodeType, typeHash, encodeData
// and hashStruct. Supported member types: bool, address, uint8..uint256 and int8..int256 (steps
// of 8), bytes1..bytes32, bytes, string, struct types defined alongside, and arrays of any of
// these (T[] and T[n], nested). A value must fit its type exactly: every field present, no field
// more, integers in range, byte strings of the right length (see abi_word.h for how values are
// written). Everything here is pure computation: no I/O, and one compiled Eip712Types may be
// used by many threads at once.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/json/value.hpp>
#include <nlohmann/json.hpp>

#include "crypto/keccak.h"
#include "schemes/abi_word.h"

namespace signer::schemes {

// A set of types that cannot be compiled. what() names the type and field at fault.
class TypedDataError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct StructField {
  std::string name;
  std::string type;  // as written: "address", "uint256", "Person", "Person[]", "bytes32[2]"
};

struct StructType {
  std::string name;
  std::vector<StructField> fields;  // in order: the order is part of the type's hash
};

// One field of the primary struct whose encoded word is given instead of read from the value
// (the scheme's salt field). The value must not carry that field.
struct FieldWord {
  std::size_t field = 0;  // index in the primary type's fields
  Word word{};            // its encodeData word (for a string, its Keccak-256)
};

class Eip712Types {
 public:
  // Compiles `structs` for values of `primary`. Throws TypedDataError when a struct or field
  // name is not an identifier, a name is defined twice, a struct has no fields or two of the
  // same name, a field's type is neither a supported type nor a defined struct, a struct refers
  // to itself (directly or not), a struct is not reachable from `primary`, or `primary` is not
  // defined.
  Eip712Types(std::vector<StructType> structs, const std::string& primary);

  const std::string& primary() const;
  // The structs as given, in the order given.
  const std::vector<StructType>& structs() const { return definitions_; }
  // The struct `name`, or nullptr.
  const StructType* find(std::string_view name) const;

  // encodeType of the struct `name`: "Mail(Person from,Person to,string contents)Person(string
  // name,address wallet)". Precondition: find(name) != nullptr.
  const std::string& encode_type(std::string_view name) const;
  // Keccak-256(encode_type(name)). Precondition: find(name) != nullptr.
  const crypto::Hash256& type_hash(std::string_view name) const;

  // hashStruct(primary, value), `json` being the value's JSON text (a record's msg). Returns the
  // reason when the text is not JSON ("msg is not JSON") or the value does not fit the primary
  // type, naming the field by its path ("from.wallet", "items[2]"). With `given`, that field of
  // the primary struct takes given->word and must be absent from the value. Never throws.
  // Parsed with Boost.JSON into a stack arena: this is on every EIP-712 record's sign path.
  std::variant<crypto::Hash256, std::string> hash_struct(std::string_view json,
                                                         const FieldWord* given = nullptr) const;

 private:
  struct Type {
    enum class Kind { kBool, kAddress, kUint, kInt, kFixedBytes, kBytes, kString, kStruct, kArray };
    Kind kind = Kind::kBool;
    unsigned size = 0;       // bits of kUint/kInt, bytes of kFixedBytes
    std::size_t ref = 0;     // kStruct: struct index; kArray: element type index
    std::size_t length = 0;  // kArray: its fixed length, 0 when dynamic
  };
  struct Compiled {
    std::vector<std::pair<std::string, std::size_t>> fields;  // name, type index
    std::set<std::size_t> references;                         // structs its fields name
    std::string encoded_type;
    crypto::Hash256 type_hash{};
  };
  std::size_t compile_type(const std::string& text, const std::string& where);
  std::optional<std::string> encode_value(std::size_t type, const boost::json::value& value,
                                          std::string& path, Word& out) const;
  std::optional<std::string> hash_struct_of(std::size_t index, const boost::json::value& value,
                                            std::string& path, const FieldWord* given,
                                            crypto::Hash256& out) const;

  std::vector<StructType> definitions_;
  std::vector<Type> types_;
  std::vector<Compiled> compiled_;  // parallel to definitions_
  std::size_t primary_ = 0;
};

// The EIP-712 domain: the fields a scheme file may give, each optional (at least one), hashed as
// the EIP712Domain struct made of the fields present, in the specification's order.
struct Eip712Domain {
  std::optional<std::string> name;
  std::optional<std::string> version;
  std::optional<nlohmann::json> chain_id;         // a JSON integer or integer string, below 2^256
  std::optional<std::string> verifying_contract;  // "0x" + 40 hex

  // {"name", "version", "chainId", "verifyingContract"} with the fields present, as ethers'
  // TypedDataDomain and eth_signTypedData_v4 write them.
  nlohmann::json to_json() const;
  // The EIP712Domain struct of the fields present.
  StructType struct_type() const;
};

// hashStruct(EIP712Domain, domain). Throws TypedDataError when the domain has no field, or a
// chainId or verifyingContract that does not fit its type.
crypto::Hash256 domain_separator(const Eip712Domain& domain);

// Keccak-256(0x19 0x01 || domain_separator || struct_hash): the digest that is signed.
crypto::Hash256 typed_data_digest(const crypto::Hash256& domain_separator,
                                  const crypto::Hash256& struct_hash);

}  // namespace signer::schemes
