#include "schemes/scheme_file.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <initializer_list>
#include <sstream>

namespace signer::schemes {
namespace {

class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const {
    const YAML::Mark mark = node.Mark();
    std::string at = "scheme file " + where_;
    if (mark.line >= 0) at += ": line " + std::to_string(mark.line + 1);
    throw SchemeFileError(at + ": " + message);
  }

  [[noreturn]] void fail(const std::string& message) const {
    throw SchemeFileError("scheme file " + where_ + ": " + message);
  }

  void only_keys(const YAML::Node& map, const std::string& what,
                 std::initializer_list<const char*> keys) const {
    if (!map.IsMap()) fail(map, what + " must be a mapping");
    for (const auto& entry : map) {
      const std::string key = entry.first.as<std::string>();
      bool known = false;
      for (const char* k : keys) known = known || key == k;
      if (!known) {
        std::string list;
        for (const char* k : keys) list += std::string(list.empty() ? "" : ", ") + k;
        fail(entry.first, "unknown key `" + key + "` in " + what + " (expected " + list + ")");
      }
    }
  }

  std::string text(const YAML::Node& parent, const char* key, const std::string& what) const {
    const YAML::Node value = parent[key];
    if (!value.IsDefined()) fail(parent, what + " needs `" + key + "`");
    if (!value.IsScalar()) fail(value, what + " `" + key + "` must be a string");
    return value.Scalar();
  }

 private:
  std::string where_;
};

// chainId as a JSON value: a number when it is a decimal that fits 64 bits, else the text (a
// larger decimal or 0x hex), which the domain's hashing checks.
nlohmann::json chain_id_value(const std::string& text) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc() && end == text.data() + text.size() && (text == "0" || text[0] != '0')) {
    return n;
  }
  return text;
}

std::shared_ptr<const TypedDataScheme> scheme_from(const YAML::Node& root, const Reader& r) {
  r.only_keys(root, "the scheme file", {"name", "domain", "primaryType", "types", "saltField"});
  const std::string name = r.text(root, "name", "the scheme file");

  const YAML::Node domain_node = root["domain"];
  if (!domain_node.IsDefined()) r.fail(root, "the scheme file needs `domain`");
  r.only_keys(domain_node, "domain", {"name", "version", "chainId", "verifyingContract"});
  Eip712Domain domain;
  if (domain_node["name"].IsDefined()) domain.name = r.text(domain_node, "name", "domain");
  if (domain_node["version"].IsDefined()) {
    domain.version = r.text(domain_node, "version", "domain");
  }
  if (domain_node["chainId"].IsDefined()) {
    domain.chain_id = chain_id_value(r.text(domain_node, "chainId", "domain"));
  }
  if (domain_node["verifyingContract"].IsDefined()) {
    domain.verifying_contract = r.text(domain_node, "verifyingContract", "domain");
  }

  const std::string primary = r.text(root, "primaryType", "the scheme file");
  const YAML::Node types_node = root["types"];
  if (!types_node.IsDefined()) r.fail(root, "the scheme file needs `types`");
  if (!types_node.IsMap()) r.fail(types_node, "`types` must map each type name to its fields");
  std::vector<StructType> types;
  for (const auto& entry : types_node) {
    StructType type{entry.first.as<std::string>(), {}};
    if (type.name == "EIP712Domain") {
      r.fail(entry.first, "EIP712Domain is made from `domain`; do not define it under `types`");
    }
    const std::string what = "type " + type.name;
    if (!entry.second.IsSequence()) {
      r.fail(entry.second, what + " must be a list of {name, type} fields");
    }
    for (const YAML::Node& field : entry.second) {
      r.only_keys(field, "a field of " + type.name, {"name", "type"});
      type.fields.push_back({r.text(field, "name", "a field of " + type.name),
                             r.text(field, "type", "a field of " + type.name)});
    }
    types.push_back(std::move(type));
  }
  const std::string salt_field = r.text(root, "saltField", "the scheme file");
  try {
    return std::make_shared<const TypedDataScheme>(name, std::move(domain), std::move(types),
                                                   primary, salt_field);
  } catch (const TypedDataError& e) {
    r.fail(e.what());
  }
}

}  // namespace

std::shared_ptr<const TypedDataScheme> parse_scheme_file(const std::string& text,
                                                         const std::string& where) {
  const Reader r(where);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw SchemeFileError("scheme file " + where + ": line " + std::to_string(e.mark.line + 1) +
                          ": not valid YAML or JSON: " + e.msg);
  }
  try {
    return scheme_from(root, r);
  } catch (const YAML::Exception& e) {
    r.fail(root, std::string("unexpected YAML: ") + e.what());
  }
}

std::shared_ptr<const TypedDataScheme> read_scheme_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SchemeFileError("cannot read scheme file " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return parse_scheme_file(text.str(), path.string());
}

}  // namespace signer::schemes
