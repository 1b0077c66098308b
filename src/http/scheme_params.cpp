#include "http/scheme_params.h"

#include <charconv>

namespace signer::http {
namespace {

// A domain's chainId (a JSON integer or integer string, decimal or 0x-hex) as a decimal; a value
// that does not fit 64 bits is kept as written.
std::string decimal_chain_id(const nlohmann::json& chain_id) {
  if (chain_id.is_number_unsigned()) return std::to_string(chain_id.get<std::uint64_t>());
  if (!chain_id.is_string()) return chain_id.dump();
  const std::string& text = chain_id.get_ref<const std::string&>();
  if (text.rfind("0x", 0) == 0 || text.rfind("0X", 0) == 0) {
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data() + 2, text.data() + text.size(), value, 16);
    if (ec == std::errc() && end == text.data() + text.size()) return std::to_string(value);
  }
  return text;
}

}  // namespace

std::variant<schemes::SigningScheme, SchemeParamError> scheme_param(
    const schemes::SchemeRegistry& registry, const Request& req, bool read_fingerprint) {
  if (req.has_param("scheme") && req.get_param_value("scheme").empty()) {
    return SchemeParamError{"scheme must be raw, eip191, eip712 or eip712:<name>"};
  }
  auto resolved = registry.resolve(req.get_param_value("scheme"));
  if (auto* reason = std::get_if<std::string>(&resolved)) return SchemeParamError{*reason};
  schemes::SigningScheme scheme = std::get<schemes::SigningScheme>(std::move(resolved));
  if (read_fingerprint && req.has_param("scheme_fingerprint")) {
    const std::string wanted = req.get_param_value("scheme_fingerprint");
    const schemes::TypedDataScheme* typed = scheme.typed_data();
    if (typed == nullptr) {
      return SchemeParamError{"scheme_fingerprint is for an eip712 scheme only"};
    }
    if (wanted != typed->fingerprint()) {
      const std::string name = scheme.name();
      return SchemeParamError{"the scheme file " + name + " of this process (" +
                                  typed->fingerprint().substr(0, 18) +
                                  "…) is not the one asked for (" + wanted.substr(0, 18) +
                                  "…): every pod must mount the same scheme file",
                              true};
    }
  }
  return scheme;
}

auth::SchemeUse scheme_use(const schemes::SigningScheme& scheme) {
  auth::SchemeUse use{std::string(schemes::to_string(scheme.kind())), scheme.name(), {}, {}, {}};
  if (const schemes::TypedDataScheme* typed = scheme.typed_data()) {
    const schemes::Eip712Domain& domain = typed->domain();
    use.domain_name = domain.name;
    if (domain.chain_id) use.domain_chain_id = decimal_chain_id(*domain.chain_id);
    use.domain_verifying_contract = domain.verifying_contract;
  }
  return use;
}

}  // namespace signer::http
