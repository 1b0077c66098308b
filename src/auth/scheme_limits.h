// What a client may sign under, next to its key list (client_registry.h): the signing schemes
// (schemes/signing_scheme.h) and, for eip712, the EIP-712 domains. In the clients file:
//   "schemes": ["eip191", "eip712:voucher"]      raw, eip191, eip712 (any scheme file) or
//                                                 eip712:<name> (that scheme file only);
//   "eip712_domains": [{"name": "Vouchers", "chainId": 1,
//                       "verifyingContract": "0x…"}]
//                                                 an eip712 job's domain must match one entry:
//                                                 each field an entry gives must equal the
//                                                 domain's (name alone, or name + chainId +
//                                                 verifyingContract, or any subset of the three).
// Both absent (or empty): every scheme and domain, as before the schemes existed. Plain data; auth/
// knows nothing of the schemes' code, the HTTP layer describes a job's scheme to it (SchemeUse).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace signer::auth {

struct DomainLimit {
  std::optional<std::string> name;
  std::optional<std::string> chain_id;            // decimal
  std::optional<std::string> verifying_contract;  // "0x" + 40 hex, compared ignoring case
  bool operator==(const DomainLimit&) const = default;
};

// The scheme a request would sign under, as the limits see it.
struct SchemeUse {
  std::string kind;  // "raw", "eip191" or "eip712"
  std::string name;  // "raw", "eip191" or "eip712:<scheme file name>"
  // The eip712 scheme's domain fields (absent when the domain lacks them); chain_id decimal.
  std::optional<std::string> domain_name;
  std::optional<std::string> domain_chain_id;
  std::optional<std::string> domain_verifying_contract;
};

struct SchemeLimits {
  std::vector<std::string> schemes;         // empty: every scheme
  std::vector<DomainLimit> eip712_domains;  // empty: every domain

  bool empty() const { return schemes.empty() && eip712_domains.empty(); }
  bool operator==(const SchemeLimits&) const = default;

  // Why `use` is refused, fit for a 403 body ("client C may not sign under raw (its clients-file
  // schemes: eip712)"), or nullopt when it is allowed. `client` names the client in the reason.
  std::optional<std::string> refusal(const std::string& client, const SchemeUse& use) const;

  // Reads "schemes" and "eip712_domains" of a clients-file entry (absent: no limit). Throws
  // std::invalid_argument naming the field: not an array, an unknown scheme, a domain entry that
  // is not an object, gives none of the three fields, an unknown field, a chainId that is not a
  // non-negative integer, a verifyingContract that is not "0x" + 40 hex.
  static SchemeLimits from_client_json(const nlohmann::json& entry);
  // Writes the limits into a clients-file entry (nothing when there are none).
  void to_client_json(nlohmann::json& entry) const;
};

}  // namespace signer::auth
