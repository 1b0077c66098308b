#include "schemes/typed_data_scheme.h"

#include <algorithm>

#include "crypto/hex.h"

namespace signer::schemes {
namespace {

bool is_scheme_name(std::string_view name) {
  const auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  return !name.empty() && name.size() <= 64 && name[0] != '_' && name[0] != '-' &&
         std::all_of(name.begin(), name.end(), ok);
}

}  // namespace

TypedDataScheme::TypedDataScheme(std::string name, Eip712Domain domain,
                                 std::vector<StructType> types, const std::string& primary_type,
                                 std::string salt_field)
    : name_(std::move(name)),
      domain_(std::move(domain)),
      types_(std::move(types), primary_type),
      salt_field_(std::move(salt_field)) {
  if (!is_scheme_name(name_)) {
    throw TypedDataError("name \"" + name_ +
                         "\" must be 1 to 64 of a-z, 0-9, _ and -, starting with a letter or "
                         "digit");
  }
  const StructType& primary = *types_.find(primary_type);
  const auto field = std::find_if(primary.fields.begin(), primary.fields.end(),
                                  [&](const StructField& f) { return f.name == salt_field_; });
  if (field == primary.fields.end()) {
    throw TypedDataError("saltField " + salt_field_ + " is not a field of the primary type " +
                         primary_type);
  }
  salt_index_ = static_cast<std::size_t>(field - primary.fields.begin());
  if (field->type == "bytes32" || field->type == "uint256" || field->type == "uint128") {
    salt_encoding_ = SaltEncoding::kWord;
  } else if (field->type == "bytes16") {
    salt_encoding_ = SaltEncoding::kBytes16;
  } else if (field->type == "string") {
    salt_encoding_ = SaltEncoding::kString;
  } else {
    throw TypedDataError("saltField " + salt_field_ + " is a " + field->type +
                         "; the salt fills a bytes32, uint256, uint128, bytes16 or string");
  }
  domain_separator_ = schemes::domain_separator(domain_);
  std::vector<std::uint8_t> data(domain_separator_.begin(), domain_separator_.end());
  const crypto::Hash256& type_hash = types_.type_hash(primary_type);
  data.insert(data.end(), type_hash.begin(), type_hash.end());
  data.insert(data.end(), salt_field_.begin(), salt_field_.end());
  fingerprint_ = crypto::to_prefixed_hex(crypto::keccak256(data));
}

nlohmann::json TypedDataScheme::to_json() const {
  nlohmann::json types = nlohmann::json::object();
  for (const StructType& s : types_.structs()) {
    nlohmann::json fields = nlohmann::json::array();
    for (const StructField& f : s.fields) fields.push_back({{"name", f.name}, {"type", f.type}});
    types[s.name] = std::move(fields);
  }
  return {{"name", name_},
          {"domain", domain_.to_json()},
          {"primaryType", types_.primary()},
          {"types", std::move(types)},
          {"saltField", salt_field_}};
}

std::variant<crypto::Hash256, std::string> TypedDataScheme::digest(std::string_view salt,
                                                                   std::string_view msg) const {
  FieldWord given{salt_index_, {}};
  if (salt_encoding_ == SaltEncoding::kString) {
    given.word = crypto::keccak256(
        std::span(reinterpret_cast<const std::uint8_t*>(salt.data()), salt.size()));
  } else {
    // The 32 hex digits of the UUID, without its hyphens.
    std::string hex;
    hex.reserve(32);
    for (const char c : salt) {
      if (c != '-') hex.push_back(c);
    }
    const std::size_t offset = salt_encoding_ == SaltEncoding::kWord ? 16 : 0;
    if (!crypto::decode_hex(hex, std::span(given.word).subspan(offset, 16))) {
      return std::string("salt is not a UUID");
    }
  }
  auto hash = types_.hash_struct(msg, &given);
  if (auto* error = std::get_if<std::string>(&hash)) return std::move(*error);
  return typed_data_digest(domain_separator_, std::get<crypto::Hash256>(hash));
}

}  // namespace signer::schemes
