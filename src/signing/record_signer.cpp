#include "signing/record_signer.h"

#include "crypto/hex.h"

namespace signer::signing {

std::optional<std::string> sign_record(const schemes::SigningScheme& scheme, const keys::Key& key,
                                       crypto::MessageSigner& signer,
                                       records::SignedRecord& record) {
  record.key = key.public_key();
  if (scheme.kind() == schemes::SchemeKind::kRaw) {
    key.sign_salted_into(signer, record.salt, record.msg, record.sign);
    record.scheme.clear();
    record.digest.clear();
    return std::nullopt;
  }
  auto digest = scheme.digest(record.salt, record.msg);
  if (auto* reason = std::get_if<std::string>(&digest)) {
    record.sign.clear();
    return std::move(*reason);
  }
  const crypto::Hash256& hash = std::get<crypto::Hash256>(digest);
  crypto::Signature65 signature = key.sign_digest(signer, hash);
  signature[64] = static_cast<std::uint8_t>(signature[64] + scheme.v_base());
  // Written over the strings' own buffers: a batch allocates them on its own thread.
  crypto::assign_prefixed_hex(record.sign, signature);
  record.scheme = schemes::to_string(scheme.kind());
  record.digest.clear();
  if (scheme.records_digest()) crypto::assign_prefixed_hex(record.digest, hash);
  return std::nullopt;
}

}  // namespace signer::signing
