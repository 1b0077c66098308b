#include "keys/key_set_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "crypto/hex.h"
#include "crypto/keccak.h"
#include "keys/keystore_ring.h"
#include "keys/pkcs11_error.h"
#include "keys/pkcs11_module.h"

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

// Which of two fields are present: at least one must be, and both only when `both_ok`.
std::pair<bool, bool> one_of(const std::filesystem::path& path, const YAML::Node& entry,
                             const char* a, const char* b, bool both_ok) {
  const bool has_a = entry[a].IsDefined();
  const bool has_b = entry[b].IsDefined();
  if (!has_a && !has_b) {
    fail(path, entry, std::string("a pkcs11 key needs `") + a + "` or `" + b + "`");
  }
  if (has_a && has_b && !both_ok) {
    fail(path, entry, std::string("give one of `") + a + "` and `" + b + "`, not both");
  }
  return {has_a, has_b};
}

KeyEntry parse_pkcs11(const std::filesystem::path& path, const YAML::Node& entry) {
  KeyEntry out;
  out.source = KeySource::kPkcs11;
  Pkcs11KeyConfig& c = out.pkcs11;
  c.module = scalar(path, entry, "module");  // a library path, as given (dlopen's search rules)
  const auto [has_token, has_slot] = one_of(path, entry, "token", "slot", true);
  if (has_token) c.token_label = scalar(path, entry, "token");
  if (has_slot) {
    try {
      c.slot_id = entry["slot"].as<std::uint64_t>();
    } catch (const YAML::Exception&) {
      fail(path, entry["slot"], "`slot` must be a slot number");
    }
  }
  const auto [has_label, has_id] = one_of(path, entry, "key_label", "key_id", true);
  if (has_label) c.key_label = scalar(path, entry, "key_label");
  if (has_id) {
    std::string_view hex = scalar(path, entry, "key_id");
    crypto::strip_hex_prefix(hex);
    c.key_id.resize(hex.size() / 2);
    if (hex.empty() || hex.size() % 2 != 0 || !crypto::decode_hex(hex, c.key_id)) {
      fail(path, entry["key_id"], "`key_id` must be hex (the key's CKA_ID)");
    }
  }
  const auto [has_pin_file, has_pin_env] = one_of(path, entry, "pin_file", "pin_env", false);
  (void)has_pin_env;
  c.pin = has_pin_file
              ? PasswordSource::file(resolve(path, scalar(path, entry, "pin_file")).string())
              : PasswordSource::environment(scalar(path, entry, "pin_env"));
  return out;
}

KeyEntry parse_entry(const std::filesystem::path& path, const YAML::Node& entry) {
  if (!entry.IsMap()) fail(path, entry, "each key must be a mapping with a `source`");
  const std::string source = scalar(path, entry, "source");
  const std::map<std::string, std::set<std::string>> fields_of{
      {"csv", {"source", "file"}},
      {"keystore", {"source", "file", "password_file", "password_env"}},
      {"pkcs11",
       {"source", "module", "token", "slot", "key_label", "key_id", "pin_file", "pin_env"}}};
  const auto known = fields_of.find(source);
  if (known == fields_of.end()) {
    fail(path, entry, "unknown source `" + source + "` (known: csv, keystore, pkcs11)");
  }
  const std::set<std::string>& allowed = known->second;
  for (const auto& field : entry) {
    const std::string name = field.first.as<std::string>();
    if (!allowed.contains(name)) {
      fail(path, field.first, "unknown field `" + name + "` for a " + source + " key");
    }
  }
  if (source == "pkcs11") return parse_pkcs11(path, entry);
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

// A key on a PKCS#11 token: the digest is signed there; this process never sees the private key.
class TokenKey final : public Key {
 public:
  explicit TokenKey(std::shared_ptr<const Pkcs11Key> key)
      : Key(key->public_key(), key->address(), KeySource::kPkcs11, key->describe()),
        key_(std::move(key)) {}

  crypto::Signature65 sign_digest(crypto::MessageSigner&,
                                  const crypto::Hash256& digest) const override {
    try {
      return key_->sign_digest(std::span<const std::uint8_t, 32>(digest));
    } catch (const Pkcs11Error& e) {
      throw SigningError(std::string("PKCS#11 key ") + address() + ": " + e.what());
    }
  }

 private:
  std::shared_ptr<const Pkcs11Key> key_;
};

// One Pkcs11Module per module file in this process: C_Initialize may run only once, and the
// keys of the current and the previous key set (and of a set being loaded) share it.
std::shared_ptr<const Pkcs11Module> shared_module(const std::filesystem::path& path) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<const Pkcs11Module>> modules;
  std::lock_guard lock(mutex);
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::weakly_canonical(path, ec);
  std::weak_ptr<const Pkcs11Module>& slot = modules[ec ? path.string() : canonical.string()];
  if (auto module = slot.lock()) return module;
  auto module = Pkcs11Module::load(path);
  slot = module;
  return module;
}

}  // namespace

KeySetConfig KeySetConfig::csv_file(const std::filesystem::path& keys_csv) {
  KeySetConfig config;
  KeyEntry entry;
  entry.file = keys_csv;
  config.entries.push_back(std::move(entry));
  return config;
}

std::string KeySetConfig::describe() const {
  if (!path.empty() || entries.empty()) return path.string();
  const KeyEntry& first = entries.front();
  return first.source == KeySource::kPkcs11 ? first.pkcs11.describe() : first.file.string();
}

std::vector<std::filesystem::path> KeySetConfig::watched_files() const {
  std::vector<std::filesystem::path> files;
  if (!path.empty()) files.push_back(path);
  for (const KeyEntry& e : entries) {
    const PasswordSource& secret = e.source == KeySource::kPkcs11 ? e.pkcs11.pin : e.password;
    if (e.source != KeySource::kPkcs11) files.push_back(e.file);
    if (e.source != KeySource::kCsv && secret.kind == PasswordSource::Kind::kFile) {
      files.emplace_back(secret.location);
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
    if (entry.source == KeySource::kPkcs11) {
      keys.push_back(std::make_unique<TokenKey>(std::make_shared<const Pkcs11Key>(
          shared_module(entry.pkcs11.module), entry.pkcs11, warnings)));
      continue;
    }
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
