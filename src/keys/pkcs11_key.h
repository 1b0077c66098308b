// A secp256k1 signing key that lives on a PKCS#11 token (a hardware HSM, YubiHSM, a cloud HSM's
// PKCS#11 client, or SoftHSM2 in tests) and never leaves it.
// The token signs the Keccak-256 digest with CKM_ECDSA and returns (r, s) only; this class turns
// that into go-ethereum's R||S||V (low S, V in {0,1}) by recovering the public key
// (crypto/signature_recovery.h), so a signature from the token is byte-for-byte what
// go-ethereum's crypto.Ecrecover and crypto.VerifySignature accept. ECDSA nonces on a token are
// the token's (random, not RFC 6979), so the same digest signs to different bytes each time.
//
// Opening a key: the module is loaded once per process (pkcs11_module.h), the token is found by
// label or slot id, the user logs in once with the PIN (read from a file or a named environment
// variable, never a flag value, and wiped after C_Login), and the private key is found by
// CKA_LABEL and/or CKA_ID. Its public half is read from the public key object with the same
// CKA_ID (or label), checked to be on secp256k1, and proven to belong to the private key by one
// signature at open.
// Signing from many threads: sign_digest() is safe to call concurrently; each call borrows a
// session of its own from the key's pool (pkcs11_session_pool.h), so T signing threads use at
// most T sessions, one thread per session at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/message_signer.h"
#include "keys/password.h"
#include "keys/pkcs11_error.h"

namespace signer::keys {

class Pkcs11Module;
class Pkcs11SessionPool;
class Pkcs11Session;

// Which key of which token, and the PIN that unlocks it. Holds no secret, so it may be logged
// (describe()).
struct Pkcs11KeyConfig {
  std::filesystem::path module;          // the PKCS#11 module (.so)
  std::string token_label;               // the token, by label …
  std::optional<std::uint64_t> slot_id;  // … or by slot id (both: both must match)
  std::string key_label;                 // the private key, by CKA_LABEL …
  std::vector<std::uint8_t> key_id;      // … and/or CKA_ID (both: both must match)
  PasswordSource pin;                    // the user PIN: a file, or an environment variable

  // "key 'L' (id 0a) on token 'T' of MODULE", for messages.
  std::string describe() const;
};

// Where the time of one signature went (sign_digest's second overload adds to these).
struct Pkcs11SignTimings {
  std::chrono::nanoseconds session{0};    // borrowing a session (opening one when all are busy)
  std::chrono::nanoseconds sign_init{0};  // C_SignInit: the token readies the key (CKM_ECDSA)
  std::chrono::nanoseconds sign{0};       // C_Sign: the token's ECDSA over the digest
  std::chrono::nanoseconds recovery{0};   // low-S normalisation and public-key recovery for V
};

class Pkcs11Key {
 public:
  // Opens the key `config` names through `module`, which must have been loaded from
  // config.module. Appends to `warnings` what read_password_source() warns about (a PIN file
  // readable by others).
  // Throws Pkcs11Error:
  // - kTokenNotFound: no token matches (the message lists the tokens present);
  // - kLogin: the PIN cannot be read (missing file, unset variable), or C_Login refuses it
  //   (CKR_PIN_INCORRECT, CKR_PIN_LOCKED, …). The token's login state is per process: when
  //   another key of this process is logged in to the same token already, C_Login answers
  //   CKR_USER_ALREADY_LOGGED_IN and the PIN is not checked again;
  // - kKeyNotFound: neither label nor id given, no private key matches (the message lists the
  //   private keys present), more than one matches, or no public key object pairs with it;
  // - kUnsupportedKey: the key is not CKK_EC, its CKA_EC_PARAMS is not secp256k1
  //   (OID 1.3.132.0.10; the message names the curve found), it may not sign (CKA_SIGN false),
  //   its CKA_EC_POINT is not a point of secp256k1, or the self-test signature does not recover
  //   the public key (the public key object does not belong to the private key);
  // - kDevice: a PKCS#11 call failed otherwise.
  // No message holds the PIN.
  Pkcs11Key(std::shared_ptr<const Pkcs11Module> module, const Pkcs11KeyConfig& config,
            std::vector<std::string>& warnings);
  // Closes the key's sessions; the module is finalised when its last key is gone.
  ~Pkcs11Key();
  Pkcs11Key(const Pkcs11Key&) = delete;
  Pkcs11Key& operator=(const Pkcs11Key&) = delete;

  // "0x04" + 128 lowercase hex, as keys.csv keys are shown.
  const std::string& public_key() const { return public_key_hex_; }
  // The EIP-55 checksummed Ethereum address of the key.
  const std::string& address() const { return address_; }
  // 0x04||X||Y.
  const crypto::PublicKey65& public_key_bytes() const { return public_key_; }
  // config.describe() of the config the key was opened with.
  const std::string& describe() const { return description_; }

  // Signs the 32-byte `digest` (not hashed again) on the token with CKM_ECDSA.
  // Returns R||S||V with S low and V in {0,1}: what go-ethereum's crypto.Sign returns for this
  // key, up to the nonce, which is the token's. Safe to call from many threads at once.
  // Throws Pkcs11Error(kDevice) when the token fails to sign (the session it used is closed and
  // a fresh one is opened next time), or when its signature does not recover this key's public
  // key; it never returns a signature that does not.
  crypto::Signature65 sign_digest(std::span<const std::uint8_t, 32> digest) const;
  // As above, adding the time spent in each step to `timings` (for bench/pkcs11_bench).
  crypto::Signature65 sign_digest(std::span<const std::uint8_t, 32> digest,
                                  Pkcs11SignTimings& timings) const;

  // Sessions open for signing now (idle or in use), not counting the one that holds the login.
  std::size_t open_sessions() const;

 private:
  // The one signing path; `timings` may be null (then no clock is read).
  crypto::Signature65 sign(std::span<const std::uint8_t, 32> digest,
                           Pkcs11SignTimings* timings) const;

  std::shared_ptr<const Pkcs11Module> module_;
  std::string description_;
  // Opened first and kept for the key's life: it holds the login, and keeps the key's object
  // handle valid (tokens may drop handles and login state when an application's last session
  // on the token closes).
  std::unique_ptr<Pkcs11Session> anchor_;
  std::unique_ptr<Pkcs11SessionPool> sessions_;
  unsigned long private_key_handle_ = 0;  // CK_OBJECT_HANDLE
  crypto::PublicKey65 public_key_{};
  std::string public_key_hex_;
  std::string address_;
  crypto::Secp256k1Context recovery_context_;  // used read-only: shared by all signing threads
};

}  // namespace signer::keys
