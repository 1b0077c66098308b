// Verification of a signed record of any scheme, with go-ethereum's strictness (see
// crypto/signature_verifier.h for the salt, S and key rules):
//   raw (no scheme field): Keccak-256(salt + msg), V in {0,1}, and no digest field;
//   eip191: the EIP-191 hash of salt + msg, V in {27,28}, and no digest field;
//   eip712: the record's digest must be the one its msg and salt give under one of the EIP-712
//           schemes the verifier was given (the --scheme-files of `signer verify`), and the
//           signature, V in {27,28}, must be over that digest. Without a scheme to recompute it, an
//           eip712 record is not valid: a digest alone does not say what was signed.
// Used by `signer verify`.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/message_signer.h"
#include "records/record.h"
#include "schemes/typed_data_scheme.h"

namespace signer::schemes {

class RecordVerifier {
 public:
  // `typed`: the EIP-712 schemes an eip712 record may have been signed under.
  explicit RecordVerifier(std::vector<std::shared_ptr<const TypedDataScheme>> typed = {});

  // Returns nullopt when `record` is valid, else the reason ("salt is not a lowercase UUIDv4",
  // "signature high S", "digest is not the one msg and salt give under eip712:voucher", …).
  // `signer` belongs to the calling thread. Never throws on bad records.
  std::optional<std::string> check(const crypto::MessageSigner& signer,
                                   const records::SignedRecord& record) const;

 private:
  std::vector<std::shared_ptr<const TypedDataScheme>> typed_;
};

}  // namespace signer::schemes
