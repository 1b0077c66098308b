// Errors of the PKCS#11 key source, with a kind that says what the operator has to fix.
// Every message names the module, token or key it is about and, when a PKCS#11 call failed, the
// call and its CKR_ name. No message ever holds the PIN: the PIN is only read, passed to C_Login
// and wiped, and no code path formats it.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace signer::keys {

enum class Pkcs11ErrorKind {
  kModule,          // the module cannot be loaded, has no C_GetFunctionList, or refuses to start
  kTokenNotFound,   // no token with the configured label or slot id (or more than one label)
  kLogin,           // the PIN cannot be read, or the token refuses it (wrong, locked, expired)
  kKeyNotFound,     // no private key (or no public key) matches the configured label / id
  kUnsupportedKey,  // the key is not an EC key on secp256k1, may not sign, or is inconsistent
  kDevice,          // a call failed at signing time (device removed, session lost, out of memory)
};

// "module", "token not found", "login", … for messages and logs.
std::string_view to_string(Pkcs11ErrorKind kind);

// The name of a PKCS#11 return value, "CKR_PIN_INCORRECT", or "CKR_0x…" for one this code does not
// name.
std::string ckr_name(unsigned long rv);

class Pkcs11Error : public std::runtime_error {
 public:
  // `rv` is the PKCS#11 return value behind the error, or 0 (CKR_OK) when no call failed.
  Pkcs11Error(Pkcs11ErrorKind kind, const std::string& message, unsigned long rv = 0)
      : std::runtime_error(message), kind_(kind), rv_(rv) {}
  Pkcs11ErrorKind kind() const { return kind_; }
  unsigned long rv() const { return rv_; }

 private:
  Pkcs11ErrorKind kind_;
  unsigned long rv_;
};

}  // namespace signer::keys
