// Who may call the service: the clients file. Each client has a name, the SHA-256 of its bearer
// token (never the token), its roles, optionally the certificate names that identify it under mTLS,
// and optionally the keys its jobs may sign with. The file is JSON, mounted from a Secret:
//   {"clients": [{"name": "ops", "token_sha256": "<64 hex>", "roles": ["ingest", "sign", "read"],
//                 "keys": [1, "0x<address>"], "cert_names": ["ops.example"]}]}
// Loaded once at startup; `signer client add` appends to it.
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "auth/bearer_token.h"
#include "auth/role.h"

namespace signer::auth {

struct Client {
  std::string name;
  std::optional<TokenHash> token_hash;  // absent for certificate-only clients
  Roles roles;
  std::vector<std::string> keys;        // key selectors (index, address or public key); empty: all
  std::vector<std::string> cert_names;  // CN or SAN values that identify this client under mTLS
};

class ClientsFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ClientRegistry {
 public:
  ClientRegistry() = default;
  explicit ClientRegistry(std::vector<Client> clients);

  // Parses a clients file's text. Throws ClientsFileError naming the client (by position and name)
  // and the field that is wrong: missing name, duplicate name, bad hash, unknown role, no roles, no
  // credential (neither token_sha256 nor cert_names), a token hash or cert name used twice.
  static ClientRegistry parse(std::string_view json_text);
  // Reads and parses `path`; a missing file is an error.
  static ClientRegistry load_file(const std::filesystem::path& path);

  // Renders the registry as a clients file.
  std::string to_json() const;

  // The client whose token hashes to the stored hash, or nullptr. Compares against every client
  // in constant time per comparison, without stopping at the first match.
  const Client* find_by_token(std::string_view token) const;

  // The client that one of `names` (a verified certificate's CN and SANs) identifies, or nullptr.
  const Client* find_by_certificate_name(const std::vector<std::string>& names) const;

  const Client* find_by_name(std::string_view name) const;

  // Adds a client. Throws ClientsFileError when the name, token hash or a cert name is taken.
  void add(Client client);

  const std::vector<Client>& clients() const { return clients_; }
  bool empty() const { return clients_.empty(); }

 private:
  void validate(const Client& client, std::size_t position) const;
  std::vector<Client> clients_;
};

}  // namespace signer::auth
