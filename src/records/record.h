// The two record shapes of the compatibility contract (DESIGN.md §2).
#pragma once

#include <cstdint>
#include <string>

namespace signer::records {

// A record waiting in `records`.
struct UnsignedRecord {
  std::string id;
  std::string msg;
};

// A record moved to `signedrecords`: sign = secp256k1(digest) by `key`, where the digest is
// Keccak-256(salt + msg) for the original's raw scheme, or that of the record's scheme
// (schemes/signing_scheme.h).
struct SignedRecord {
  std::string id;
  std::string msg;
  std::string salt;  // UUIDv4
  std::string sign;  // "0x" + 130 hex (R||S||V)
  std::string key;   // "0x04" + 128 hex
  // Provenance: the job that signed it (audit/job_id.h); "" for records signed outside a job or
  // by the original service. Not part of the original layout, which readers may ignore.
  std::string job_id;
  // How it was signed: "" for raw (the original layout, which has no such field), else "eip191"
  // or "eip712". Not part of the original layout either.
  std::string scheme{};
  // For eip712: "0x" + 64 hex, the digest that was signed (it depends on the scheme file, which
  // the record does not hold). "" otherwise.
  std::string digest{};
};

}  // namespace signer::records
