#include "schemes/signing_scheme.h"

#include "schemes/eip191.h"

namespace signer::schemes {

std::string_view to_string(SchemeKind kind) {
  switch (kind) {
    case SchemeKind::kRaw: return "raw";
    case SchemeKind::kEip191: return "eip191";
    case SchemeKind::kEip712: return "eip712";
  }
  return "raw";
}

std::optional<SchemeKind> scheme_kind_from_string(std::string_view text) {
  for (const SchemeKind kind : {SchemeKind::kRaw, SchemeKind::kEip191, SchemeKind::kEip712}) {
    if (text == to_string(kind)) return kind;
  }
  return std::nullopt;
}

SigningScheme SigningScheme::eip191() {
  SigningScheme s;
  s.kind_ = SchemeKind::kEip191;
  return s;
}

SigningScheme SigningScheme::eip712(std::shared_ptr<const TypedDataScheme> typed) {
  SigningScheme s;
  s.kind_ = SchemeKind::kEip712;
  s.typed_ = std::move(typed);
  return s;
}

std::string SigningScheme::name() const {
  std::string out(to_string(kind_));
  if (typed_) out += ":" + typed_->name();
  return out;
}

std::variant<crypto::Hash256, std::string> SigningScheme::digest(std::string_view salt,
                                                                 std::string_view msg) const {
  switch (kind_) {
    case SchemeKind::kRaw: return crypto::keccak256_concat(salt, msg);
    case SchemeKind::kEip191: return eip191_hash(salt, msg);
    case SchemeKind::kEip712: return typed_->digest(salt, msg);
  }
  return crypto::keccak256_concat(salt, msg);
}

}  // namespace signer::schemes
