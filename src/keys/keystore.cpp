#include "keys/keystore.h"

#include <cryptopp/aes.h>
#include <cryptopp/keccak.h>
#include <cryptopp/misc.h>
#include <cryptopp/modes.h>
#include <cryptopp/pwdbased.h>
#include <cryptopp/scrypt.h>
#include <cryptopp/secblock.h>
#include <cryptopp/sha.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>

#include "crypto/hex.h"
#include "crypto/key_file_buffer.h"
#include "crypto/key_ring.h"
#include "crypto/message_signer.h"
#include "crypto/salt_generator.h"
#include "crypto/secp256k1_context.h"

namespace signer::keys {
namespace {

using nlohmann::json;

constexpr std::size_t kIvSize = 16;
constexpr std::size_t kMacSize = 32;
constexpr std::size_t kMinDerivedKeyLength = 32;
constexpr std::size_t kAesKeySize = 16;
constexpr std::size_t kSaltSize = 32;
constexpr int kVersion = 3;

// Crypto++ (and memcpy under it) wants a valid pointer even for zero bytes: an empty password or
// salt points here instead of at nullptr.
constexpr std::uint8_t kNoBytes = 0;
const std::uint8_t* non_null(std::span<const std::uint8_t> bytes) {
  return bytes.empty() ? &kNoBytes : bytes.data();
}

// A value from the file, quoted for a message: at most 32 printable ASCII characters.
std::string shown_value(std::string_view value) {
  std::string out = "\"";
  for (std::size_t i = 0; i < value.size() && i < 32; ++i) {
    const char c = value[i];
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  if (value.size() > 32) out += "...";
  return out + "\"";
}

// Reads the fields of one keystore, throwing KeystoreError for `file` with the field's path.
class FieldReader {
 public:
  explicit FieldReader(std::string_view file) : file_(file) {}

  [[noreturn]] void fail(KeystoreErrorKind kind, const std::string& reason) const {
    throw KeystoreError(kind, file_, reason);
  }

  const json& member(const json& object, const std::string& parent, const char* name) const {
    const auto it = object.find(name);
    if (it == object.end()) fail(KeystoreErrorKind::kMalformed, "missing " + path(parent, name));
    return *it;
  }

  const json& object(const json& object, const std::string& parent, const char* name) const {
    const json& value = member(object, parent, name);
    if (!value.is_object()) {
      fail(KeystoreErrorKind::kMalformed, path(parent, name) + " must be a JSON object");
    }
    return value;
  }

  const std::string& string(const json& object, const std::string& parent, const char* name) const {
    const json& value = member(object, parent, name);
    if (!value.is_string()) {
      fail(KeystoreErrorKind::kMalformed, path(parent, name) + " must be a string");
    }
    return value.get_ref<const std::string&>();
  }

  std::uint64_t integer(const json& object, const std::string& parent, const char* name) const {
    const json& value = member(object, parent, name);
    if (value.is_number_unsigned()) return value.get<std::uint64_t>();
    if (value.is_number_integer() && value.get<std::int64_t>() >= 0) {
      return static_cast<std::uint64_t>(value.get<std::int64_t>());
    }
    fail(KeystoreErrorKind::kMalformed, path(parent, name) + " must be a non-negative integer");
  }

  // Decodes a hex string field, without a "0x" prefix as go-ethereum writes and reads it.
  // `expected` is the required length in bytes, or 0 for any length.
  std::vector<std::uint8_t> hex(const json& object, const std::string& parent, const char* name,
                                std::size_t expected = 0) const {
    const std::string_view text = string(object, parent, name);
    if (text.size() % 2 != 0 || !crypto::is_hex(text)) {
      fail(KeystoreErrorKind::kMalformed, path(parent, name) + " must be hex");
    }
    std::vector<std::uint8_t> bytes(text.size() / 2);
    crypto::decode_hex(text, bytes);
    if (expected != 0 && bytes.size() != expected) {
      fail(KeystoreErrorKind::kMalformed, path(parent, name) + " must be " +
                                              std::to_string(expected) + " bytes, not " +
                                              std::to_string(bytes.size()));
    }
    return bytes;
  }

 private:
  static std::string path(const std::string& parent, const char* name) {
    return parent.empty() ? name : parent + "." + name;
  }

  std::string file_;
};

// The KDF part of a keystore, parsed and checked against the limits.
struct KdfParams {
  bool scrypt = true;
  ScryptParams cost;             // scrypt
  std::uint64_t iterations = 0;  // pbkdf2
  std::size_t dklen = 0;
  std::vector<std::uint8_t> salt;
};

KdfParams read_kdf(const FieldReader& fields, const json& crypto_object) {
  const std::string& kdf = fields.string(crypto_object, "crypto", "kdf");
  const json& params = fields.object(crypto_object, "crypto", "kdfparams");
  const std::string where = "crypto.kdfparams";
  KdfParams out;
  if (kdf == "scrypt") {
    const std::uint64_t r = fields.integer(params, where, "r");
    const std::uint64_t p = fields.integer(params, where, "p");
    constexpr auto kMax32 = std::numeric_limits<std::uint32_t>::max();
    out.cost = {fields.integer(params, where, "n"),
                static_cast<std::uint32_t>(std::min<std::uint64_t>(r, kMax32)),
                static_cast<std::uint32_t>(std::min<std::uint64_t>(p, kMax32))};
    if (auto problem = scrypt_params_problem(out.cost); problem || r > kMax32 || p > kMax32) {
      fields.fail(KeystoreErrorKind::kUnsupported,
                  problem ? *problem : "scrypt r and p must be below 2^32");
    }
  } else if (kdf == "pbkdf2") {
    out.scrypt = false;
    const std::string& prf = fields.string(params, where, "prf");
    if (prf != "hmac-sha256") {
      fields.fail(KeystoreErrorKind::kUnsupported,
                  "pbkdf2 prf " + shown_value(prf) + " is not supported (only \"hmac-sha256\")");
    }
    out.iterations = fields.integer(params, where, "c");
    if (out.iterations == 0 || out.iterations > kMaxPbkdf2Iterations) {
      fields.fail(KeystoreErrorKind::kUnsupported, "pbkdf2 c=" + std::to_string(out.iterations) +
                                                       " is outside 1.." +
                                                       std::to_string(kMaxPbkdf2Iterations));
    }
  } else {
    fields.fail(KeystoreErrorKind::kUnsupported,
                "kdf " + shown_value(kdf) + " is not supported (only \"scrypt\" or \"pbkdf2\")");
  }
  const std::uint64_t dklen = fields.integer(params, where, "dklen");
  if (dklen < kMinDerivedKeyLength || dklen > kMaxDerivedKeyLength) {
    fields.fail(KeystoreErrorKind::kUnsupported,
                "dklen " + std::to_string(dklen) + " is outside " +
                    std::to_string(kMinDerivedKeyLength) + ".." +
                    std::to_string(kMaxDerivedKeyLength) +
                    " (the AES key and the MAC key take 32 bytes)");
  }
  out.dklen = static_cast<std::size_t>(dklen);
  out.salt = fields.hex(params, where, "salt");
  return out;
}

// Derives the key for `params` from `password` into `derived` (a SecByteBlock, which wipes
// itself when resized or destroyed). Throws CryptoPP::Exception for parameters Crypto++ refuses.
void derive_key(const KdfParams& params, const Password& password,
                CryptoPP::SecByteBlock& derived) {
  derived.New(params.dklen);
  const std::span<const std::uint8_t> secret = password.bytes();
  if (params.scrypt) {
    CryptoPP::Scrypt().DeriveKey(derived.data(), derived.size(), non_null(secret), secret.size(),
                                 non_null(params.salt), params.salt.size(), params.cost.n,
                                 params.cost.r, params.cost.p);
  } else {
    CryptoPP::PKCS5_PBKDF2_HMAC<CryptoPP::SHA256>().DeriveKey(
        derived.data(), derived.size(), 0, non_null(secret), secret.size(), non_null(params.salt),
        params.salt.size(), static_cast<unsigned int>(params.iterations), 0.0);
  }
}

// Keccak256(derived[16:32] ++ ciphertext), without copying the derived key.
crypto::Hash256 keystore_mac(const CryptoPP::SecByteBlock& derived,
                             std::span<const std::uint8_t> ciphertext) {
  CryptoPP::Keccak_256 hasher;  // its state is a SecBlock: wiped when destroyed
  hasher.Update(derived.data() + kAesKeySize, kAesKeySize);
  hasher.Update(non_null(ciphertext), ciphertext.size());
  crypto::Hash256 mac{};
  hasher.Final(mac.data());
  return mac;
}

// AES-128-CTR with key derived[0:16]; the same call encrypts and decrypts.
void aes_128_ctr(const CryptoPP::SecByteBlock& derived, std::span<const std::uint8_t> iv,
                 std::span<const std::uint8_t> in, std::uint8_t* out) {
  CryptoPP::CTR_Mode<CryptoPP::AES>::Encryption cipher;  // key schedule in SecBlocks
  cipher.SetKeyWithIV(derived.data(), kAesKeySize, iv.data(), iv.size());
  cipher.ProcessData(out, in.data(), in.size());
}

// "0x"-less lowercase address of a key.
std::string lowercase_address(const crypto::MessageSigner& signer, const crypto::PrivateKey& key) {
  const crypto::PublicKey65 pub = signer.public_key(key);
  std::string xy;
  crypto::append_hex(xy, std::span(pub).subspan(1));
  std::string address = crypto::ethereum_address(xy).substr(2);
  std::transform(address.begin(), address.end(), address.begin(),
                 [](char c) { return static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c); });
  return address;
}

}  // namespace

std::optional<std::string> scrypt_params_problem(const ScryptParams& params) {
  const std::string given = "scrypt n=" + std::to_string(params.n) +
                            " r=" + std::to_string(params.r) + " p=" + std::to_string(params.p);
  if (params.n < 2 || (params.n & (params.n - 1)) != 0) {
    return given + ": n must be a power of 2 above 1";
  }
  if (params.r == 0 || params.p == 0) return given + ": r and p must be at least 1";
  if (std::uint64_t{params.r} * params.p >= (std::uint64_t{1} << 30)) {
    return given + ": r*p must be below 2^30";
  }
  const std::uint64_t block = std::uint64_t{128} * params.r;  // at most 2^39: no overflow
  if (params.n > kMaxScryptMemoryBytes / block) {
    return given + ": needs more than " + std::to_string(kMaxScryptMemoryBytes >> 20) +
           " MiB of memory (128*r*n)";
  }
  if (params.p > kMaxScryptWorkBytes / (block * params.n)) {
    return given + ": more work than the limit of 128*r*n*p = 2^32";
  }
  return std::nullopt;
}

std::string_view to_string(KeystoreErrorKind kind) {
  switch (kind) {
    case KeystoreErrorKind::kUnreadable: return "unreadable";
    case KeystoreErrorKind::kMalformed: return "malformed";
    case KeystoreErrorKind::kUnsupported: return "unsupported";
    case KeystoreErrorKind::kWrongPassword: return "wrong password";
    case KeystoreErrorKind::kInvalidKey: return "invalid key";
    case KeystoreErrorKind::kAddressMismatch: return "address mismatch";
  }
  return "unknown";
}

KeystoreError::KeystoreError(KeystoreErrorKind kind, const std::string& file,
                             const std::string& reason)
    : std::runtime_error(kind == KeystoreErrorKind::kUnreadable
                             ? reason
                             : "keystore file " + file + ": " + reason),
      kind_(kind),
      file_(file) {}

crypto::PrivateKey decrypt_keystore(std::string_view text, const Password& password,
                                    std::string_view file) {
  const FieldReader fields(file);
  json document;
  try {
    document = json::parse(text);
  } catch (const json::parse_error& e) {
    // e.what() quotes the bytes around the error; give only the position.
    fields.fail(KeystoreErrorKind::kMalformed,
                "not valid JSON (syntax error at byte " + std::to_string(e.byte) + ")");
  }
  if (!document.is_object()) fields.fail(KeystoreErrorKind::kMalformed, "not a JSON object");

  const json& version = fields.member(document, "", "version");
  if (!version.is_number_integer() || version.get<std::int64_t>() != kVersion) {
    const std::string shown = version.is_string()   ? shown_value(version.get<std::string>())
                              : version.is_number() ? version.dump()
                                                    : std::string(version.type_name());
    fields.fail(KeystoreErrorKind::kUnsupported,
                "version " + shown + " is not supported (only version 3)");
  }
  const bool capitalized = !document.contains("crypto") && document.contains("Crypto");
  const json& crypto_object = fields.object(document, "", capitalized ? "Crypto" : "crypto");

  const std::string& cipher = fields.string(crypto_object, "crypto", "cipher");
  if (cipher != "aes-128-ctr") {
    fields.fail(KeystoreErrorKind::kUnsupported,
                "cipher " + shown_value(cipher) + " is not supported (only \"aes-128-ctr\")");
  }
  const json& cipher_params = fields.object(crypto_object, "crypto", "cipherparams");
  const std::vector<std::uint8_t> iv =
      fields.hex(cipher_params, "crypto.cipherparams", "iv", kIvSize);
  const std::vector<std::uint8_t> ciphertext = fields.hex(crypto_object, "crypto", "ciphertext");
  const std::vector<std::uint8_t> mac = fields.hex(crypto_object, "crypto", "mac", kMacSize);
  const KdfParams kdf = read_kdf(fields, crypto_object);

  std::optional<std::string> address;
  if (document.contains("address")) {
    std::string_view given = fields.string(document, "", "address");
    crypto::strip_hex_prefix(given);
    if (given.size() != 40 || !crypto::is_hex(given)) {
      fields.fail(KeystoreErrorKind::kMalformed, "address must be 40 hex characters");
    }
    address.emplace(given);
    std::transform(address->begin(), address->end(), address->begin(),
                   [](char c) { return static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c); });
  }

  CryptoPP::SecByteBlock derived;
  try {
    derive_key(kdf, password, derived);
  } catch (const CryptoPP::Exception& e) {  // parameters Crypto++ refuses beyond our own checks
    fields.fail(KeystoreErrorKind::kUnsupported, std::string("key derivation failed: ") + e.what());
  }
  const crypto::Hash256 expected_mac = keystore_mac(derived, ciphertext);
  if (!CryptoPP::VerifyBufsEqual(expected_mac.data(), mac.data(), kMacSize)) {
    fields.fail(KeystoreErrorKind::kWrongPassword,
                "wrong password, or the file is corrupt (MAC mismatch)");
  }
  if (ciphertext.size() != crypto::PrivateKey::kSize) {
    fields.fail(KeystoreErrorKind::kInvalidKey,
                "holds a " + std::to_string(ciphertext.size()) +
                    "-byte key; a secp256k1 key is 32 bytes (go-ethereum refuses it too)");
  }
  CryptoPP::SecByteBlock plain(crypto::PrivateKey::kSize);
  aes_128_ctr(derived, iv, ciphertext, plain.data());
  crypto::PrivateKey key(std::span<const std::uint8_t, crypto::PrivateKey::kSize>(
      plain.data(), crypto::PrivateKey::kSize));

  const crypto::MessageSigner signer;
  if (!signer.is_valid_private_key(key)) {
    fields.fail(KeystoreErrorKind::kInvalidKey,
                "the decrypted key is zero or not below the secp256k1 curve order");
  }
  if (address) {
    const std::string actual = lowercase_address(signer, key);
    if (actual != *address) {
      fields.fail(KeystoreErrorKind::kAddressMismatch,
                  "address field 0x" + *address + " does not match the decrypted key's address 0x" +
                      actual);
    }
  }
  return key;
}

crypto::PrivateKey load_keystore(const std::filesystem::path& path, const Password& password,
                                 std::vector<std::string>& warnings) {
  crypto::KeyFileBuffer buffer;  // the ciphertext is not secret, but the pages are wiped anyway
  std::string error;
  if (!buffer.read(path, error, "keystore file")) {
    throw KeystoreError(KeystoreErrorKind::kUnreadable, path.string(), error);
  }
  if (auto warning = crypto::key_file_mode_warning(path.string(), buffer.mode(), "keystore file")) {
    warnings.push_back(std::move(*warning));
  }
  return decrypt_keystore(buffer.text(), password, path.string());
}

std::string encrypt_keystore(const crypto::PrivateKey& key, const Password& password,
                             const ScryptParams& params) {
  if (auto problem = scrypt_params_problem(params)) throw std::invalid_argument(*problem);
  if (password.empty()) {
    throw std::invalid_argument("refusing to write a keystore with an empty password");
  }
  KdfParams kdf;
  kdf.cost = params;
  kdf.dklen = kMinDerivedKeyLength;
  kdf.salt.resize(kSaltSize);
  crypto::fill_random(std::as_writable_bytes(std::span(kdf.salt)));
  std::array<std::uint8_t, kIvSize> iv{};
  crypto::fill_random(std::as_writable_bytes(std::span(iv)));

  CryptoPP::SecByteBlock derived;
  derive_key(kdf, password, derived);
  std::array<std::uint8_t, crypto::PrivateKey::kSize> ciphertext{};
  aes_128_ctr(derived, iv, std::span(key.data(), crypto::PrivateKey::kSize), ciphertext.data());
  const crypto::Hash256 mac = keystore_mac(derived, ciphertext);

  const auto hex = [](std::span<const std::uint8_t> bytes) {
    std::string out;
    crypto::append_hex(out, bytes);
    return out;
  };
  const crypto::MessageSigner signer;
  // ordered_json keeps the keys as listed: go-ethereum's struct field order (and, for the
  // kdfparams map, Go's sorted map order).
  const nlohmann::ordered_json document = {
      {"address", lowercase_address(signer, key)},
      {"crypto",
       {{"cipher", "aes-128-ctr"},
        {"ciphertext", hex(ciphertext)},
        {"cipherparams", {{"iv", hex(iv)}}},
        {"kdf", "scrypt"},
        {"kdfparams",
         {{"dklen", kdf.dklen},
          {"n", params.n},
          {"p", params.p},
          {"r", params.r},
          {"salt", hex(kdf.salt)}}},
        {"mac", hex(mac)}}},
      {"id", crypto::SaltGenerator().next()},
      {"version", kVersion},
  };
  return document.dump();
}

std::string keystore_file_name(std::string_view address,
                               std::chrono::system_clock::time_point when) {
  std::string_view hex = address;
  crypto::strip_hex_prefix(hex);
  if (hex.size() != 40 || !crypto::is_hex(hex)) {
    throw std::invalid_argument("keystore_file_name: address must be 40 hex characters");
  }
  const auto since_epoch = when.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds);
  const std::time_t time = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  ::gmtime_r(&time, &utc);
  std::array<char, 64> stamp{};
  std::snprintf(stamp.data(), stamp.size(), "%04d-%02d-%02dT%02d-%02d-%02d.%09lldZ",
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                utc.tm_sec, static_cast<long long>(nanos.count()));
  std::string name = "UTC--" + std::string(stamp.data()) + "--";
  std::transform(hex.begin(), hex.end(), std::back_inserter(name),
                 [](char c) { return static_cast<char>((c >= 'A' && c <= 'F') ? c + 32 : c); });
  return name;
}

}  // namespace signer::keys
