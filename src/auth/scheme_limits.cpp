#include "auth/scheme_limits.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace signer::auth {
namespace {

bool valid_scheme_name(const std::string& s) {
  if (s == "raw" || s == "eip191" || s == "eip712") return true;
  if (s.rfind("eip712:", 0) != 0 || s.size() == 7 || s.size() > 7 + 64) return false;
  return std::all_of(s.begin() + 7, s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool is_address(const std::string& s) {
  return s.size() == 42 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
         std::all_of(s.begin() + 2, s.end(), [](char c) { return std::isxdigit(c) != 0; });
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool scheme_allowed(const std::vector<std::string>& allowed, const SchemeUse& use) {
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
    return a == use.name || (a == "eip712" && use.kind == "eip712");
  });
}

bool domain_matches(const DomainLimit& limit, const SchemeUse& use) {
  if (limit.name && limit.name != use.domain_name) return false;
  if (limit.chain_id && limit.chain_id != use.domain_chain_id) return false;
  if (limit.verifying_contract &&
      (!use.domain_verifying_contract ||
       lower(*limit.verifying_contract) != lower(*use.domain_verifying_contract))) {
    return false;
  }
  return true;
}

std::string describe(const DomainLimit& d) {
  std::string out;
  const auto add = [&](std::string_view field, const std::optional<std::string>& value) {
    if (!value) return;
    if (!out.empty()) out += ' ';
    out.append(field).append("=").append(*value);
  };
  add("name", d.name);
  add("chainId", d.chain_id);
  add("verifyingContract", d.verifying_contract);
  return "{" + out + "}";
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

}  // namespace

std::optional<std::string> SchemeLimits::refusal(const std::string& client,
                                                 const SchemeUse& use) const {
  if (!schemes.empty() && !scheme_allowed(schemes, use)) {
    return "client " + client + " may not sign under " + use.name +
           " (its clients-file schemes: " + join(schemes) + ")";
  }
  if (use.kind == "eip712" && !eip712_domains.empty() &&
      std::none_of(eip712_domains.begin(), eip712_domains.end(),
                   [&](const DomainLimit& d) { return domain_matches(d, use); })) {
    std::vector<std::string> allowed;
    for (const DomainLimit& d : eip712_domains) allowed.push_back(describe(d));
    return "client " + client + " may not sign under " + use.name + ": its EIP-712 domain " +
           describe({use.domain_name, use.domain_chain_id, use.domain_verifying_contract}) +
           " is not one of its clients-file eip712_domains: " + join(allowed);
  }
  return std::nullopt;
}

SchemeLimits SchemeLimits::from_client_json(const nlohmann::json& entry) {
  SchemeLimits limits;
  if (const auto schemes = entry.find("schemes"); schemes != entry.end()) {
    if (!schemes->is_array()) throw std::invalid_argument("\"schemes\" must be an array");
    for (const auto& s : *schemes) {
      if (!s.is_string() || !valid_scheme_name(s.get<std::string>())) {
        throw std::invalid_argument("unknown scheme " + s.dump() +
                                    " (raw, eip191, eip712 or eip712:<name>)");
      }
      limits.schemes.push_back(s.get<std::string>());
    }
  }
  if (const auto domains = entry.find("eip712_domains"); domains != entry.end()) {
    if (!domains->is_array()) throw std::invalid_argument("\"eip712_domains\" must be an array");
    for (const auto& d : *domains) {
      if (!d.is_object()) throw std::invalid_argument("an eip712_domains entry must be an object");
      DomainLimit limit;
      for (const auto& [field, value] : d.items()) {
        if (field == "name" && value.is_string()) {
          limit.name = value.get<std::string>();
        } else if (field == "chainId" && value.is_number_unsigned()) {
          limit.chain_id = std::to_string(value.get<std::uint64_t>());
        } else if (field == "chainId" && value.is_string() && !value.get<std::string>().empty() &&
                   std::all_of(value.get_ref<const std::string&>().begin(),
                               value.get_ref<const std::string&>().end(),
                               [](char c) { return c >= '0' && c <= '9'; })) {
          limit.chain_id = value.get<std::string>();
        } else if (field == "verifyingContract" && value.is_string() &&
                   is_address(value.get<std::string>())) {
          limit.verifying_contract = value.get<std::string>();
        } else if (field == "name" || field == "chainId" || field == "verifyingContract") {
          throw std::invalid_argument("eip712_domains: \"" + field + "\" must be " +
                                      (field == "name"      ? "a string"
                                       : field == "chainId" ? "a non-negative integer"
                                                            : "\"0x\" + 40 hex"));
        } else {
          throw std::invalid_argument("eip712_domains: unknown field \"" + field +
                                      "\" (name, chainId, verifyingContract)");
        }
      }
      if (!limit.name && !limit.chain_id && !limit.verifying_contract) {
        throw std::invalid_argument(
            "an eip712_domains entry needs name, chainId or verifyingContract");
      }
      limits.eip712_domains.push_back(std::move(limit));
    }
  }
  return limits;
}

void SchemeLimits::to_client_json(nlohmann::json& entry) const {
  if (!schemes.empty()) entry["schemes"] = schemes;
  if (eip712_domains.empty()) return;
  nlohmann::json domains = nlohmann::json::array();
  for (const DomainLimit& d : eip712_domains) {
    nlohmann::json j = nlohmann::json::object();
    if (d.name) j["name"] = *d.name;
    if (d.chain_id) j["chainId"] = *d.chain_id;
    if (d.verifying_contract) j["verifyingContract"] = *d.verifying_contract;
    domains.push_back(std::move(j));
  }
  entry["eip712_domains"] = std::move(domains);
}

}  // namespace signer::auth
