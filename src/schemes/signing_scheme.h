// How a record is signed: the scheme, chosen with `signer sign-message --scheme`.
//   raw     Keccak-256(salt + msg), V in {0,1}: the original's scheme, byte-identical to it and
//           to go-ethereum's crypto.Sign (DESIGN.md §2). The default.
//   eip191  personal_sign over the bytes of salt + msg (eip191.h), V in {27,28}: what ethers'
//           verifyMessage, eth-account's recover_message and OpenZeppelin's ECDSA with
//           MessageHashUtils.toEthSignedMessageHash accept.
//   eip712  typed data of an operator's scheme file (typed_data_scheme.h), V in {27,28}: what
//           verifyTypedData and a contract's EIP712._hashTypedDataV4 accept. A record whose msg
//           does not fit the type cannot be signed, and says why.
// A value type: copying one shares its (immutable) typed-data scheme.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "crypto/keccak.h"
#include "schemes/typed_data_scheme.h"

namespace signer::schemes {

enum class SchemeKind { kRaw, kEip191, kEip712 };

// "raw", "eip191", "eip712".
std::string_view to_string(SchemeKind kind);
// The inverse of to_string; nullopt for anything else ("" is not raw here).
std::optional<SchemeKind> scheme_kind_from_string(std::string_view text);

class SigningScheme {
 public:
  // raw.
  SigningScheme() = default;
  static SigningScheme raw() { return {}; }
  static SigningScheme eip191();
  // Precondition: typed is not null.
  static SigningScheme eip712(std::shared_ptr<const TypedDataScheme> typed);

  SchemeKind kind() const { return kind_; }
  // "raw", "eip191" or "eip712:<scheme name>": what --scheme takes.
  std::string name() const;
  // The typed-data scheme of an eip712 scheme; nullptr otherwise.
  const TypedDataScheme* typed_data() const { return typed_.get(); }
  const std::shared_ptr<const TypedDataScheme>& typed_data_ptr() const { return typed_; }

  // What the signature's last byte adds to the recovery id: 0 for raw (go-ethereum's 0/1), 27
  // for eip191 and eip712 (27/28, as wallets, ethers and Solidity's ecrecover want).
  std::uint8_t v_base() const { return kind_ == SchemeKind::kRaw ? 0 : 27; }
  // True when a signed record keeps the digest it signed (eip712: the digest depends on the
  // scheme file, so a record says what was signed).
  bool records_digest() const { return kind_ == SchemeKind::kEip712; }

  // The 32 bytes a record with `salt` and `msg` signs, or why it cannot be signed (eip712 only:
  // see TypedDataScheme::digest). Never throws.
  std::variant<crypto::Hash256, std::string> digest(std::string_view salt,
                                                    std::string_view msg) const;

 private:
  SchemeKind kind_ = SchemeKind::kRaw;
  std::shared_ptr<const TypedDataScheme> typed_;
};

}  // namespace signer::schemes
