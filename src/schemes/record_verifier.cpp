#include "schemes/record_verifier.h"

#include "crypto/hex.h"
#include "crypto/salt_generator.h"
#include "crypto/signature_verifier.h"
#include "schemes/eip191.h"
#include "schemes/signing_scheme.h"

namespace signer::schemes {
namespace {

std::optional<std::string> signature_reason(crypto::Verdict verdict) {
  if (verdict == crypto::Verdict::kValid) return std::nullopt;
  if (verdict == crypto::Verdict::kMalformedSalt) return std::string(crypto::describe(verdict));
  return "signature " + std::string(crypto::describe(verdict));
}

}  // namespace

RecordVerifier::RecordVerifier(std::vector<std::shared_ptr<const TypedDataScheme>> typed)
    : typed_(std::move(typed)) {}

std::optional<std::string> RecordVerifier::check(const crypto::MessageSigner& signer,
                                                 const records::SignedRecord& r) const {
  const auto kind = r.scheme.empty() ? SchemeKind::kRaw : scheme_kind_from_string(r.scheme);
  if (!kind) return "unknown scheme " + r.scheme.substr(0, 32);
  if (*kind != SchemeKind::kEip712 && !r.digest.empty()) {
    return "a " + std::string(to_string(*kind)) + " record carries no digest";
  }
  if (!crypto::is_uuid_v4(r.salt)) {
    return signature_reason(crypto::Verdict::kMalformedSalt);
  }
  switch (*kind) {
    case SchemeKind::kRaw:
      return signature_reason(crypto::verify_signature(signer, r.salt, r.msg, r.sign, r.key));
    case SchemeKind::kEip191:
      return signature_reason(
          crypto::verify_digest(signer, eip191_hash(r.salt, r.msg), r.sign, r.key, 27));
    case SchemeKind::kEip712: break;
  }
  crypto::Hash256 stored{};
  std::string_view digest_hex = r.digest;
  if (!crypto::strip_hex_prefix(digest_hex) || !crypto::decode_hex(digest_hex, stored)) {
    return std::string("digest is not \"0x\" + 64 hex");
  }
  if (typed_.empty()) {
    return std::string("an eip712 record's digest cannot be checked without its scheme file");
  }
  std::string names;
  std::string misfit;
  bool matched = false;
  for (const auto& typed : typed_) {
    const auto digest = typed->digest(r.salt, r.msg);
    if (const auto* hash = std::get_if<crypto::Hash256>(&digest)) {
      matched = *hash == stored;
    } else {
      misfit = std::get<std::string>(digest);
    }
    if (matched) break;
    names += (names.empty() ? "eip712:" : ", eip712:") + typed->name();
  }
  if (!matched) {
    if (typed_.size() == 1 && !misfit.empty()) return "msg does not fit: " + misfit;
    return "digest is not the one msg and salt give under " + names;
  }
  return signature_reason(crypto::verify_digest(signer, stored, r.sign, r.key, 27));
}

}  // namespace signer::schemes
