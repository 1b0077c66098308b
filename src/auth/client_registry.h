// Who may call the service: the clients file. Each client has a name, the SHA-256 of its bearer
// token (never the token), its roles, optionally the certificate names that identify it under mTLS,
// and optionally the keys its jobs may sign with. The file is JSON, mounted from a Secret:
//   {"clients": [{"name": "ops", "token_sha256": "<64 hex>", "roles": ["ingest", "sign", "read"],
//                 "keys": [1, "0x<address>"], "cert_names": ["ops.example"],
//                 "schemes": ["eip712"], "eip712_domains": [{"name": "Vouchers"}]}]}
// ("schemes" and "eip712_domains": auth/scheme_limits.h).
// Optional per client: "expires" (RFC 3339 UTC, e.g. "2027-01-31T00:00:00Z"): after it every
// credential of the client is refused (401, saying so); and, after `signer client rotate`, the
// previous token's hash with the time it stops working ("previous_token_sha256",
// "previous_token_expires"), so callers can switch within a grace period.
// `signer client add/rotate/remove` write it; `serve` reloads it on SIGHUP and when it changes
// (auth/client_registry_holder.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "auth/bearer_token.h"
#include "auth/role.h"
#include "auth/scheme_limits.h"

namespace signer::auth {

struct Client {
  std::string name;
  std::optional<TokenHash> token_hash;  // absent for certificate-only clients
  Roles roles;
  std::vector<std::string> keys;        // key selectors (index, address or public key); empty: all
  SchemeLimits scheme_limits;           // the schemes and EIP-712 domains it may sign under
  std::vector<std::string> cert_names;  // CN or DNS SAN values that identify it under mTLS
  std::optional<std::int64_t> expires_unix_ms;  // after it, every credential is refused
  // After a rotation: the old token, valid until previous_token_expires_unix_ms.
  std::optional<TokenHash> previous_token_hash;
  std::int64_t previous_token_expires_unix_ms = 0;

  // True when the client's credentials have expired at `now_unix_ms`.
  bool expired(std::int64_t now_unix_ms) const {
    return expires_unix_ms && now_unix_ms >= *expires_unix_ms;
  }
};

// "2027-01-31T00:00:00Z" <-> milliseconds since the epoch (UTC; whole seconds). nullopt when
// `text` is not such a time.
std::optional<std::int64_t> parse_utc_time(std::string_view text);
std::string format_utc_time(std::int64_t unix_ms);

// What changed between two clients files, for the audit trail: a client added or removed, its
// token rotated, or its roles, keys, scheme limits, certificate names or expiry changed.
struct ClientChange {
  enum class Kind { kAdded, kRemoved, kRotated, kChanged };
  Kind kind;
  std::string name;
};
std::string_view to_string(ClientChange::Kind kind);

class ClientRegistry;
// The changes from `before` to `after`, in the order of the clients.
std::vector<ClientChange> diff_clients(const ClientRegistry& before, const ClientRegistry& after);

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

  // The client whose token hashes to the stored hash (or to its previous token's, before that
  // one's grace period ends at `now_unix_ms`), or nullptr. Compares against every client in
  // constant time per comparison, without stopping at the first match.
  const Client* find_by_token(std::string_view token, std::int64_t now_unix_ms) const;

  // The client that one of `names` (a verified certificate's CN and SANs) identifies, or nullptr.
  const Client* find_by_certificate_name(const std::vector<std::string>& names) const;

  const Client* find_by_name(std::string_view name) const;

  // Adds a client. Throws ClientsFileError when the name, token hash or a cert name is taken.
  void add(Client client);
  // Removes the client `name`. Throws ClientsFileError when there is none.
  void remove(std::string_view name);
  // Gives client `name` the token hash `token_hash`; its current token keeps working until
  // `old_token_until_unix_ms` (nothing when that is not in the future). Throws ClientsFileError
  // when there is no such client or it has no token (a certificate-only client).
  void rotate(std::string_view name, const TokenHash& token_hash,
              std::int64_t old_token_until_unix_ms, std::int64_t now_unix_ms);

  const std::vector<Client>& clients() const { return clients_; }
  bool empty() const { return clients_.empty(); }

 private:
  void validate(const Client& client, std::size_t position) const;
  std::vector<Client> clients_;
};

}  // namespace signer::auth
