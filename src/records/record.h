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
};

}  // namespace signer::records
