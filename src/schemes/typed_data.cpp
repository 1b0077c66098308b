#include "schemes/typed_data.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <functional>
#include <set>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

namespace signer::schemes {
namespace {

bool is_identifier(std::string_view text) {
  if (text.empty()) return false;
  const auto start = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
  };
  if (!start(text[0])) return false;
  return std::all_of(text.begin() + 1, text.end(),
                     [&](char c) { return start(c) || (c >= '0' && c <= '9'); });
}

// The N of "<prefix>N" when `text` is exactly that with N a decimal number without leading zero.
std::optional<unsigned> suffix_number(std::string_view text, std::string_view prefix) {
  if (text.substr(0, prefix.size()) != prefix || text.size() == prefix.size()) return std::nullopt;
  const std::string_view digits = text.substr(prefix.size());
  if (digits[0] == '0') return std::nullopt;
  unsigned n = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return n;
}

// bool, address, string, bytes, bytesN, uintN, intN, whatever N: names a struct may not take.
bool is_builtin_type(std::string_view name) {
  return name == "bool" || name == "address" || name == "string" || name == "bytes" ||
         suffix_number(name, "bytes") || suffix_number(name, "uint") || suffix_number(name, "int");
}

crypto::Hash256 keccak_bytes(std::span<const std::uint8_t> bytes) {
  return crypto::keccak256(bytes);
}

crypto::Hash256 keccak_text(std::string_view text) {
  return crypto::keccak256(
      std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

std::string field_named(const std::string& path) { return "field \"" + path + "\""; }

}  // namespace

Eip712Types::Eip712Types(std::vector<StructType> structs, const std::string& primary)
    : definitions_(std::move(structs)) {
  for (std::size_t i = 0; i < definitions_.size(); ++i) {
    const StructType& s = definitions_[i];
    if (!is_identifier(s.name)) {
      throw TypedDataError("type name \"" + s.name + "\" is not an identifier");
    }
    if (is_builtin_type(s.name)) {
      throw TypedDataError("type name " + s.name + " is the name of a built-in type");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (definitions_[j].name == s.name) {
        throw TypedDataError("type " + s.name + " is defined twice");
      }
    }
  }
  const auto found = std::find_if(definitions_.begin(), definitions_.end(),
                                  [&](const StructType& s) { return s.name == primary; });
  if (found == definitions_.end()) {
    throw TypedDataError("the primary type " + primary + " is not defined");
  }
  primary_ = static_cast<std::size_t>(found - definitions_.begin());

  compiled_.resize(definitions_.size());
  for (std::size_t i = 0; i < definitions_.size(); ++i) {
    const StructType& s = definitions_[i];
    if (s.fields.empty()) throw TypedDataError("type " + s.name + " has no fields");
    for (const StructField& f : s.fields) {
      const std::string where = s.name + "." + f.name;
      if (!is_identifier(f.name)) {
        throw TypedDataError("field name \"" + f.name + "\" of type " + s.name +
                             " is not an identifier");
      }
      for (const auto& [name, type] : compiled_[i].fields) {
        if (name == f.name) throw TypedDataError("type " + s.name + " has two fields " + f.name);
      }
      const std::size_t type = compile_type(f.type, where);
      compiled_[i].fields.emplace_back(f.name, type);
      std::size_t t = type;
      while (types_[t].kind == Type::Kind::kArray) t = types_[t].ref;
      if (types_[t].kind == Type::Kind::kStruct) compiled_[i].references.insert(types_[t].ref);
    }
  }

  // Every struct each one reaches (the dependencies encodeType appends), refusing cycles: no
  // value of a type that contains itself can be finite, and ethers refuses such types too.
  std::vector<std::set<std::size_t>> reach(definitions_.size());
  for (std::size_t i = 0; i < definitions_.size(); ++i) {
    std::vector<std::size_t> stack(compiled_[i].references.begin(), compiled_[i].references.end());
    while (!stack.empty()) {
      const std::size_t s = stack.back();
      stack.pop_back();
      if (s == i) {
        throw TypedDataError("type " + definitions_[i].name + " contains itself");
      }
      if (reach[i].insert(s).second) {
        stack.insert(stack.end(), compiled_[s].references.begin(), compiled_[s].references.end());
      }
    }
  }
  for (std::size_t i = 0; i < definitions_.size(); ++i) {
    if (i != primary_ && !reach[primary_].contains(i)) {
      throw TypedDataError("type " + definitions_[i].name + " is not used by the primary type " +
                           primary);
    }
  }
  const auto own = [&](std::size_t i) {
    std::string text = definitions_[i].name + "(";
    for (std::size_t f = 0; f < definitions_[i].fields.size(); ++f) {
      if (f > 0) text += ",";
      text += definitions_[i].fields[f].type + " " + definitions_[i].fields[f].name;
    }
    return text + ")";
  };
  for (std::size_t i = 0; i < definitions_.size(); ++i) {
    std::vector<std::size_t> deps(reach[i].begin(), reach[i].end());
    std::sort(deps.begin(), deps.end(), [&](std::size_t a, std::size_t b) {
      return definitions_[a].name < definitions_[b].name;
    });
    std::string text = own(i);
    for (const std::size_t d : deps) text += own(d);
    compiled_[i].type_hash = keccak_text(text);
    compiled_[i].encoded_type = std::move(text);
  }
}

std::size_t Eip712Types::compile_type(const std::string& text, const std::string& where) {
  Type t;
  if (!text.empty() && text.back() == ']') {
    const std::size_t open = text.rfind('[');
    if (open == std::string::npos || open == 0) {
      throw TypedDataError(where + ": type \"" + text + "\" is not a type");
    }
    const std::string length = text.substr(open + 1, text.size() - open - 2);
    if (!length.empty()) {
      const auto n = suffix_number(length, "");
      if (!n) throw TypedDataError(where + ": array length in \"" + text + "\" is not a number");
      t.length = *n;
    }
    t.kind = Type::Kind::kArray;
    t.ref = compile_type(text.substr(0, open), where);
  } else if (text == "bool") {
    t.kind = Type::Kind::kBool;
  } else if (text == "address") {
    t.kind = Type::Kind::kAddress;
  } else if (text == "string") {
    t.kind = Type::Kind::kString;
  } else if (text == "bytes") {
    t.kind = Type::Kind::kBytes;
  } else if (const auto n = suffix_number(text, "bytes")) {
    if (*n > 32) throw TypedDataError(where + ": " + text + " is wider than bytes32");
    t.kind = Type::Kind::kFixedBytes;
    t.size = *n;
  } else if (const auto u = text.rfind("uint", 0) == 0 ? suffix_number(text, "uint")
                                                       : suffix_number(text, "int")) {
    if (*u % 8 != 0 || *u > 256) {
      throw TypedDataError(where + ": " + text + " is not an integer type (8 to 256 bits, in 8s)");
    }
    t.kind = text[0] == 'u' ? Type::Kind::kUint : Type::Kind::kInt;
    t.size = *u;
  } else {
    const auto found = std::find_if(definitions_.begin(), definitions_.end(),
                                    [&](const StructType& s) { return s.name == text; });
    if (found == definitions_.end()) {
      throw TypedDataError(where + ": type \"" + text + "\" is not defined" +
                           (text == "uint" || text == "int" || text == "byte"
                                ? " (write the width: uint256, int256, bytes1)"
                                : ""));
    }
    t.kind = Type::Kind::kStruct;
    t.ref = static_cast<std::size_t>(found - definitions_.begin());
  }
  types_.push_back(t);
  return types_.size() - 1;
}

const std::string& Eip712Types::primary() const { return definitions_[primary_].name; }

const StructType* Eip712Types::find(std::string_view name) const {
  for (const StructType& s : definitions_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const std::string& Eip712Types::encode_type(std::string_view name) const {
  return compiled_[static_cast<std::size_t>(find(name) - definitions_.data())].encoded_type;
}

const crypto::Hash256& Eip712Types::type_hash(std::string_view name) const {
  return compiled_[static_cast<std::size_t>(find(name) - definitions_.data())].type_hash;
}

std::variant<crypto::Hash256, std::string> Eip712Types::hash_struct(std::string_view json,
                                                                    const FieldWord* given) const {
  // A msg of a few hundred bytes parses without touching the heap.
  alignas(std::max_align_t) unsigned char arena[4096];
  boost::json::monotonic_resource resource(arena, sizeof arena);
  boost::system::error_code parse_error;
  const boost::json::value value = boost::json::parse(json, parse_error, &resource);
  if (parse_error) return std::string("msg is not JSON");
  std::string path;
  crypto::Hash256 out{};
  if (auto error = hash_struct_of(primary_, value, path, given, out)) return std::move(*error);
  return out;
}

std::optional<std::string> Eip712Types::hash_struct_of(std::size_t index,
                                                       const boost::json::value& value,
                                                       std::string& path, const FieldWord* given,
                                                       crypto::Hash256& out) const {
  if (!value.is_object()) {
    return (path.empty() ? std::string("msg") : field_named(path)) + " is not a JSON object (a " +
           definitions_[index].name + ")";
  }
  const boost::json::object& object = value.get_object();
  const Compiled& c = compiled_[index];
  std::vector<std::uint8_t> data(32 * (1 + c.fields.size()));
  std::copy(c.type_hash.begin(), c.type_hash.end(), data.begin());
  const std::size_t path_length = path.size();
  std::size_t present = 0;
  for (std::size_t f = 0; f < c.fields.size(); ++f) {
    const auto& [name, type] = c.fields[f];
    Word word{};
    const auto it = object.find(name);
    path.resize(path_length);
    if (path_length > 0) path += ".";
    path += name;
    if (given != nullptr && given->field == f) {
      if (it != object.end())
        return field_named(path) + " is filled by the salt; msg must not give it";
      word = given->word;
    } else {
      if (it == object.end()) return "missing " + field_named(path);
      ++present;
      if (auto error = encode_value(type, it->value(), path, word)) return error;
    }
    std::copy(word.begin(), word.end(), data.begin() + static_cast<std::ptrdiff_t>(32 * (1 + f)));
  }
  path.resize(path_length);
  if (object.size() != present) {
    for (const auto& member : object) {
      const std::string_view key = member.key();
      const bool known = std::any_of(c.fields.begin(), c.fields.end(),
                                     [&](const auto& field) { return field.first == key; });
      if (!known) {
        const std::string name(key);
        return "unknown " + field_named(path.empty() ? name : path + "." + name) + " (" +
               definitions_[index].name + " has no such field)";
      }
    }
  }
  out = keccak_bytes(data);
  return std::nullopt;
}

std::optional<std::string> Eip712Types::encode_value(std::size_t type,
                                                     const boost::json::value& value,
                                                     std::string& path, Word& out) const {
  const Type& t = types_[type];
  const auto fail = [&](const std::string& reason) { return field_named(path) + " " + reason; };
  switch (t.kind) {
    case Type::Kind::kBool:
      if (!value.is_bool()) return fail("must be true or false");
      out.fill(0);
      out[31] = value.get_bool() ? 1 : 0;
      return std::nullopt;
    case Type::Kind::kAddress:
      if (!value.is_string()) return fail("is not an address (\"0x\" + 40 hex digits)");
      if (auto e = address_word(value.get_string(), out)) return fail(e->reason);
      return std::nullopt;
    case Type::Kind::kUint:
    case Type::Kind::kInt:
      if (auto e = integer_word(value, t.size, t.kind == Type::Kind::kInt, out)) {
        return fail(e->reason);
      }
      return std::nullopt;
    case Type::Kind::kFixedBytes:
    case Type::Kind::kBytes: {
      if (!value.is_string()) return fail("is not \"0x\" + hex bytes");
      std::vector<std::uint8_t> bytes;
      if (auto e = decode_prefixed_hex(value.get_string(), bytes)) {
        return fail(e->reason);
      }
      if (t.kind == Type::Kind::kBytes) {
        out = keccak_bytes(bytes);
        return std::nullopt;
      }
      if (bytes.size() != t.size) {
        return fail("must be " + std::to_string(t.size) + " bytes (\"0x\" + " +
                    std::to_string(2 * t.size) + " hex digits), not " +
                    std::to_string(bytes.size()));
      }
      out.fill(0);
      std::copy(bytes.begin(), bytes.end(), out.begin());
      return std::nullopt;
    }
    case Type::Kind::kString:
      if (!value.is_string()) return fail("must be a string");
      out = keccak_text(value.get_string());
      return std::nullopt;
    case Type::Kind::kStruct: {
      crypto::Hash256 hash{};
      if (auto e = hash_struct_of(t.ref, value, path, nullptr, hash)) return e;
      out = hash;
      return std::nullopt;
    }
    case Type::Kind::kArray: {
      if (!value.is_array()) return fail("must be a JSON array");
      const boost::json::array& elements = value.get_array();
      if (t.length != 0 && elements.size() != t.length) {
        return fail("must hold " + std::to_string(t.length) + " elements, not " +
                    std::to_string(elements.size()));
      }
      std::vector<std::uint8_t> data(32 * elements.size());
      const std::size_t path_length = path.size();
      for (std::size_t i = 0; i < elements.size(); ++i) {
        path.resize(path_length);
        path += '[';
        path += std::to_string(i);
        path += ']';
        Word word{};
        if (auto e = encode_value(t.ref, elements[i], path, word)) return e;
        std::copy(word.begin(), word.end(), data.begin() + static_cast<std::ptrdiff_t>(32 * i));
      }
      path.resize(path_length);
      out = keccak_bytes(data);
      return std::nullopt;
    }
  }
  return fail("has an unknown type");
}

nlohmann::json Eip712Domain::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  if (name) j["name"] = *name;
  if (version) j["version"] = *version;
  if (chain_id) j["chainId"] = *chain_id;
  if (verifying_contract) j["verifyingContract"] = *verifying_contract;
  return j;
}

StructType Eip712Domain::struct_type() const {
  StructType s{"EIP712Domain", {}};
  if (name) s.fields.push_back({"name", "string"});
  if (version) s.fields.push_back({"version", "string"});
  if (chain_id) s.fields.push_back({"chainId", "uint256"});
  if (verifying_contract) s.fields.push_back({"verifyingContract", "address"});
  return s;
}

crypto::Hash256 domain_separator(const Eip712Domain& domain) {
  StructType type = domain.struct_type();
  if (type.fields.empty()) {
    throw TypedDataError(
        "the domain needs at least one of name, version, chainId, "
        "verifyingContract");
  }
  const Eip712Types types({std::move(type)}, "EIP712Domain");
  auto hash = types.hash_struct(domain.to_json().dump());
  if (auto* error = std::get_if<std::string>(&hash)) throw TypedDataError("domain: " + *error);
  return std::get<crypto::Hash256>(hash);
}

crypto::Hash256 typed_data_digest(const crypto::Hash256& domain_separator,
                                  const crypto::Hash256& struct_hash) {
  std::array<std::uint8_t, 66> data{};
  data[0] = 0x19;
  data[1] = 0x01;
  std::copy(domain_separator.begin(), domain_separator.end(), data.begin() + 2);
  std::copy(struct_hash.begin(), struct_hash.end(), data.begin() + 34);
  return crypto::keccak256(data);
}

}  // namespace signer::schemes
