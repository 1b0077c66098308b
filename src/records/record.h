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

// A record moved to `signedrecords`: sign = secp256k1(Keccak-256(salt + msg)) by `key`.
struct SignedRecord {
  std::string id;
  std::string msg;
  std::string salt;  // UUIDv4
  std::string sign;  // "0x" + 130 hex (R||S||V)
  std::string key;   // "0x04" + 128 hex
  // Provenance: the job that signed it (audit/job_id.h); "" for records signed outside a job or
  // by the original service. Not part of the original layout, which readers may ignore.
  std::string job_id;
};

}  // namespace signer::records
