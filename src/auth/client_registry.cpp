#include "auth/client_registry.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <sstream>

namespace signer::auth {
namespace {

std::string where(std::size_t position, const std::string& name) {
  std::string text = "client #" + std::to_string(position + 1);
  if (!name.empty()) text += " (" + name + ")";
  return text;
}

Client client_from_json(const nlohmann::json& entry, std::size_t position) {
  if (!entry.is_object()) throw ClientsFileError(where(position, "") + ": must be an object");
  Client client;
  const auto name = entry.find("name");
  if (name == entry.end() || !name->is_string() || name->get<std::string>().empty()) {
    throw ClientsFileError(where(position, "") + ": \"name\" must be a non-empty string");
  }
  client.name = name->get<std::string>();
  const std::string at = where(position, client.name);
  for (const auto& [field, value] : entry.items()) {
    if (field != "name" && field != "token_sha256" && field != "roles" && field != "keys" &&
        field != "cert_names" && field != "expires" && field != "previous_token_sha256" &&
        field != "previous_token_expires" && field != "schemes" && field != "eip712_domains") {
      throw ClientsFileError(at + ": unknown field \"" + field + "\"");
    }
  }
  if (const auto hash = entry.find("token_sha256"); hash != entry.end()) {
    TokenHash parsed{};
    if (!hash->is_string() || !parse_token_hash(hash->get<std::string>(), parsed)) {
      throw ClientsFileError(at +
                             ": \"token_sha256\" must be 64 hex characters (the SHA-256 "
                             "of the token, never the token itself)");
    }
    client.token_hash = parsed;
  }
  const auto roles = entry.find("roles");
  if (roles == entry.end() || !roles->is_array() || roles->empty()) {
    throw ClientsFileError(at + ": \"roles\" must list at least one of ingest, sign, read");
  }
  for (const auto& role : *roles) {
    const auto parsed = role.is_string() ? parse_role(role.get<std::string>()) : std::nullopt;
    if (!parsed) {
      throw ClientsFileError(at + ": unknown role " + role.dump() + " (ingest, sign or read)");
    }
    client.roles.add(*parsed);
  }
  if (const auto keys = entry.find("keys"); keys != entry.end()) {
    if (!keys->is_array()) throw ClientsFileError(at + ": \"keys\" must be an array");
    for (const auto& key : *keys) {
      if (key.is_number_unsigned()) {
        client.keys.push_back(std::to_string(key.get<std::uint64_t>()));
      } else if (key.is_string() && !key.get<std::string>().empty()) {
        client.keys.push_back(key.get<std::string>());
      } else {
        throw ClientsFileError(at + ": a key must be an index or an address, not " + key.dump());
      }
    }
  }
  try {
    client.scheme_limits = SchemeLimits::from_client_json(entry);
  } catch (const std::invalid_argument& e) {
    throw ClientsFileError(at + ": " + e.what());
  }
  if (const auto names = entry.find("cert_names"); names != entry.end()) {
    if (!names->is_array()) throw ClientsFileError(at + ": \"cert_names\" must be an array");
    for (const auto& cert_name : *names) {
      if (!cert_name.is_string() || cert_name.get<std::string>().empty()) {
        throw ClientsFileError(at + ": a cert name must be a non-empty string");
      }
      client.cert_names.push_back(cert_name.get<std::string>());
    }
  }
  if (!client.token_hash && client.cert_names.empty()) {
    throw ClientsFileError(at + ": needs \"token_sha256\" or \"cert_names\" to identify it");
  }
  const auto time_field = [&](const char* field) -> std::optional<std::int64_t> {
    const auto value = entry.find(field);
    if (value == entry.end()) return std::nullopt;
    const auto parsed =
        value->is_string() ? parse_utc_time(value->get<std::string>()) : std::nullopt;
    if (!parsed) {
      throw ClientsFileError(at + ": \"" + field +
                             "\" must be a UTC time like \"2027-01-31T00:00:00Z\"");
    }
    return parsed;
  };
  client.expires_unix_ms = time_field("expires");
  if (const auto previous = entry.find("previous_token_sha256"); previous != entry.end()) {
    TokenHash parsed{};
    if (!previous->is_string() || !parse_token_hash(previous->get<std::string>(), parsed)) {
      throw ClientsFileError(at + ": \"previous_token_sha256\" must be 64 hex characters");
    }
    const auto until = time_field("previous_token_expires");
    if (!until) {
      throw ClientsFileError(at + ": \"previous_token_sha256\" needs \"previous_token_expires\"");
    }
    client.previous_token_hash = parsed;
    client.previous_token_expires_unix_ms = *until;
  }
  return client;
}

}  // namespace

std::optional<std::int64_t> parse_utc_time(std::string_view text) {
  // Exactly YYYY-MM-DDTHH:MM:SSZ.
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != 'Z') {
    return std::nullopt;
  }
  std::tm tm{};
  const std::string copy(text);  // strptime needs a terminated string, and `end` points into it
  const char* end = strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const time_t seconds = timegm(&tm);
  if (format_utc_time(static_cast<std::int64_t>(seconds) * 1000) != text) return std::nullopt;
  return static_cast<std::int64_t>(seconds) * 1000;
}

std::string format_utc_time(std::int64_t unix_ms) {
  const time_t seconds = static_cast<time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string_view to_string(ClientChange::Kind kind) {
  switch (kind) {
    case ClientChange::Kind::kAdded: return "added";
    case ClientChange::Kind::kRemoved: return "removed";
    case ClientChange::Kind::kRotated: return "rotated";
    case ClientChange::Kind::kChanged: return "changed";
  }
  return "changed";
}

std::vector<ClientChange> diff_clients(const ClientRegistry& before, const ClientRegistry& after) {
  std::vector<ClientChange> changes;
  for (const Client& old : before.clients()) {
    if (after.find_by_name(old.name) == nullptr) {
      changes.push_back({ClientChange::Kind::kRemoved, old.name});
    }
  }
  for (const Client& now : after.clients()) {
    const Client* old = before.find_by_name(now.name);
    if (old == nullptr) {
      changes.push_back({ClientChange::Kind::kAdded, now.name});
    } else if (old->token_hash != now.token_hash) {
      changes.push_back({ClientChange::Kind::kRotated, now.name});
    } else if (old->roles.to_string() != now.roles.to_string() || old->keys != now.keys ||
               old->scheme_limits != now.scheme_limits || old->cert_names != now.cert_names ||
               old->expires_unix_ms != now.expires_unix_ms) {
      changes.push_back({ClientChange::Kind::kChanged, now.name});
    }
  }
  return changes;
}

ClientRegistry::ClientRegistry(std::vector<Client> clients) {
  for (Client& client : clients) add(std::move(client));
}

ClientRegistry ClientRegistry::parse(std::string_view json_text) {
  const nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded()) throw ClientsFileError("not valid JSON");
  if (!doc.is_object() || !doc.contains("clients") || !doc["clients"].is_array()) {
    throw ClientsFileError("must be an object with a \"clients\" array");
  }
  ClientRegistry registry;
  std::size_t position = 0;
  for (const auto& entry : doc["clients"]) {
    Client client = client_from_json(entry, position);
    registry.validate(client, position);
    registry.clients_.push_back(std::move(client));
    ++position;
  }
  return registry;
}

ClientRegistry ClientRegistry::load_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ClientsFileError("cannot read clients file " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return parse(text.str());
  } catch (const ClientsFileError& e) {
    throw ClientsFileError("clients file " + path.string() + ": " + e.what());
  }
}

std::string ClientRegistry::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const Client& client : clients_) {
    nlohmann::json entry = {{"name", client.name}};
    if (client.token_hash) entry["token_sha256"] = to_hex(*client.token_hash);
    nlohmann::json roles = nlohmann::json::array();
    for (Role role : {Role::kIngest, Role::kSign, Role::kRead}) {
      if (client.roles.has(role)) roles.push_back(std::string(to_string(role)));
    }
    entry["roles"] = roles;
    if (!client.keys.empty()) entry["keys"] = client.keys;
    client.scheme_limits.to_client_json(entry);
    if (!client.cert_names.empty()) entry["cert_names"] = client.cert_names;
    if (client.expires_unix_ms) entry["expires"] = format_utc_time(*client.expires_unix_ms);
    if (client.previous_token_hash) {
      entry["previous_token_sha256"] = to_hex(*client.previous_token_hash);
      entry["previous_token_expires"] = format_utc_time(client.previous_token_expires_unix_ms);
    }
    list.push_back(std::move(entry));
  }
  return nlohmann::json{{"clients", list}}.dump(2) + "\n";
}

const Client* ClientRegistry::find_by_token(std::string_view token,
                                            std::int64_t now_unix_ms) const {
  if (token.empty()) return nullptr;
  const TokenHash presented = hash_token(token);
  const Client* found = nullptr;
  for (const Client& client : clients_) {
    const bool current = client.token_hash && hashes_equal(*client.token_hash, presented);
    const bool previous = client.previous_token_hash &&
                          hashes_equal(*client.previous_token_hash, presented) &&
                          now_unix_ms < client.previous_token_expires_unix_ms;
    if ((current || previous) && found == nullptr) found = &client;
  }
  return found;
}

const Client* ClientRegistry::find_by_certificate_name(
    const std::vector<std::string>& names) const {
  for (const Client& client : clients_) {
    for (const std::string& name : names) {
      if (std::find(client.cert_names.begin(), client.cert_names.end(), name) !=
          client.cert_names.end()) {
        return &client;
      }
    }
  }
  return nullptr;
}

const Client* ClientRegistry::find_by_name(std::string_view name) const {
  for (const Client& client : clients_) {
    if (client.name == name) return &client;
  }
  return nullptr;
}

void ClientRegistry::add(Client client) {
  validate(client, clients_.size());
  clients_.push_back(std::move(client));
}

void ClientRegistry::remove(std::string_view name) {
  const auto it = std::find_if(clients_.begin(), clients_.end(),
                               [&](const Client& c) { return c.name == name; });
  if (it == clients_.end()) throw ClientsFileError("no client named " + std::string(name));
  clients_.erase(it);
}

void ClientRegistry::rotate(std::string_view name, const TokenHash& token_hash,
                            std::int64_t old_token_until_unix_ms, std::int64_t now_unix_ms) {
  const auto it = std::find_if(clients_.begin(), clients_.end(),
                               [&](const Client& c) { return c.name == name; });
  if (it == clients_.end()) throw ClientsFileError("no client named " + std::string(name));
  if (!it->token_hash) {
    throw ClientsFileError("client " + std::string(name) +
                           " has no token to rotate (it is identified by certificate)");
  }
  Client rotated = *it;
  rotated.previous_token_hash.reset();
  if (old_token_until_unix_ms > now_unix_ms) {
    rotated.previous_token_hash = it->token_hash;
    rotated.previous_token_expires_unix_ms = old_token_until_unix_ms;
  }
  rotated.token_hash = token_hash;
  Client old = std::move(*it);
  clients_.erase(it);
  try {
    add(std::move(rotated));
  } catch (...) {
    clients_.push_back(std::move(old));
    throw;
  }
}

void ClientRegistry::validate(const Client& client, std::size_t position) const {
  const std::string at = where(position, client.name);
  if (client.roles.empty()) throw ClientsFileError(at + ": needs at least one role");
  if (!client.token_hash && client.cert_names.empty()) {
    throw ClientsFileError(at + ": needs a token or a certificate name to identify it");
  }
  for (const Client& other : clients_) {
    if (other.name == client.name) throw ClientsFileError(at + ": the name is already taken");
    for (const auto& mine : {client.token_hash, client.previous_token_hash}) {
      for (const auto& theirs : {other.token_hash, other.previous_token_hash}) {
        if (mine && theirs && hashes_equal(*mine, *theirs)) {
          throw ClientsFileError(at + ": has the same token as client " + other.name);
        }
      }
    }
    for (const std::string& name : client.cert_names) {
      if (std::find(other.cert_names.begin(), other.cert_names.end(), name) !=
          other.cert_names.end()) {
        throw ClientsFileError(at + ": cert name " + name + " already identifies " + other.name);
      }
    }
  }
}

}  // namespace signer::auth
