#include "keys/key_set_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "keys/keystore_ring.h"

namespace signer::keys {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const YAML::Node& node,
                       const std::string& message) {
  const YAML::Mark mark = node.Mark();
  std::string where = "key config " + path.string();
  if (mark.line >= 0) where += ": line " + std::to_string(mark.line + 1);
  throw KeyConfigError(where + ": " + message);
}

std::string scalar(const std::filesystem::path& path, const YAML::Node& entry, const char* field) {
  const YAML::Node value = entry[field];
  // A missing field is an invalid node, on which IsScalar() would throw.
  if (!value.IsDefined() || !value.IsScalar() || value.Scalar().empty()) {
    fail(path, entry, std::string("`") + field + "` must be a non-empty string");
  }
  return value.Scalar();
}

std::filesystem::path resolve(const std::filesystem::path& config, const std::string& file) {
  const std::filesystem::path p(file);
  return p.is_absolute() ? p : config.parent_path() / p;
}

KeyEntry parse_entry(const std::filesystem::path& path, const YAML::Node& entry) {
  if (!entry.IsMap()) fail(path, entry, "each key must be a mapping with a `source`");
  const std::string source = scalar(path, entry, "source");
  const std::set<std::string> allowed =
      source == "csv" ? std::set<std::string>{"source", "file"}
      : source == "keystore"
          ? std::set<std::string>{"source", "file", "password_file", "password_env"}
          : std::set<std::string>{};
  if (allowed.empty()) {
    fail(path, entry, "unknown source `" + source + "` (known: csv, keystore)");
  }
  for (const auto& field : entry) {
    const std::string name = field.first.as<std::string>();
    if (!allowed.contains(name)) {
      fail(path, field.first, "unknown field `" + name + "` for a " + source + " key");
    }
  }
  KeyEntry out;
  out.file = resolve(path, scalar(path, entry, "file"));
  if (source == "csv") {
    out.source = KeySource::kCsv;
    return out;
  }
  out.source = KeySource::kKeystore;
  const bool has_file = entry["password_file"].IsDefined();
  const bool has_env = entry["password_env"].IsDefined();
  if (has_file == has_env) {
    fail(path, entry, "a keystore key needs exactly one of `password_file` and `password_env`");
  }
  out.password =
      has_file ? PasswordSource::file(resolve(path, scalar(path, entry, "password_file")).string())
               : PasswordSource::environment(scalar(path, entry, "password_env"));
  return out;
}

}  // namespace

KeySetConfig KeySetConfig::csv_file(const std::filesystem::path& keys_csv) {
  KeySetConfig config;
  config.entries.push_back({KeySource::kCsv, keys_csv, {}});
  return config;
}

std::vector<std::filesystem::path> KeySetConfig::watched_files() const {
  std::vector<std::filesystem::path> files;
  if (!path.empty()) files.push_back(path);
  for (const KeyEntry& e : entries) {
    files.push_back(e.file);
    if (e.source == KeySource::kKeystore && e.password.kind == PasswordSource::Kind::kFile) {
      files.emplace_back(e.password.location);
    }
  }
  return files;
}

KeySetConfig parse_key_set_config(const std::string& yaml, const std::filesystem::path& path) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw KeyConfigError("key config " + path.string() + ": line " +
                         std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) fail(path, root, "the file must be a mapping with a `keys` list");
  for (const auto& field : root) {
    const std::string name = field.first.as<std::string>();
    if (name != "keys") fail(path, field.first, "unknown field `" + name + "` (known: keys)");
  }
  const YAML::Node keys = root["keys"];
  if (!keys.IsDefined() || !keys.IsSequence() || keys.size() == 0) {
    fail(path, root, "`keys` must be a non-empty list");
  }
  KeySetConfig config;
  config.path = path;
  for (const YAML::Node& entry : keys) config.entries.push_back(parse_entry(path, entry));
  return config;
}

KeySetConfig read_key_set_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KeyConfigError("key config " + path.string() + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_key_set_config(text.str(), path);
}

std::shared_ptr<const KeySet> load_key_set(const KeySetConfig& config, std::uint64_t version,
                                           std::vector<std::string>& warnings) {
  std::vector<std::unique_ptr<const Key>> keys;
  for (const KeyEntry& entry : config.entries) {
    std::shared_ptr<const crypto::KeyRing> ring;
    if (entry.source == KeySource::kCsv) {
      ring =
          std::make_shared<const crypto::KeyRing>(crypto::KeyRing::load_file(entry.file, warnings));
    } else {
      const KeystoreSource source{entry.file, entry.password};
      ring = std::make_shared<const crypto::KeyRing>(
          load_keystore_ring(std::span<const KeystoreSource>(&source, 1), warnings));
    }
    for (auto& key : KeySet::keys_of(ring, entry.source, entry.file.string())) {
      keys.push_back(std::move(key));
    }
  }
  try {
    return std::make_shared<const KeySet>(std::move(keys), version);
  } catch (const std::invalid_argument& e) {
    throw KeyConfigError(
        (config.path.empty() ? std::string("key set") : "key config " + config.path.string()) +
        ": " + e.what());
  }
}

}  // namespace signer::keys
