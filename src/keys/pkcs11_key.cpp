#include "keys/pkcs11_key.h"

#include <secp256k1.h>

#include <algorithm>
#include <array>

#include "crypto/hex.h"
#include "crypto/keccak.h"
#include "crypto/key_ring.h"
#include "crypto/signature_recovery.h"
#include "keys/pkcs11_module.h"
#include "keys/pkcs11_session_pool.h"

namespace signer::keys {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;

// DER of the secp256k1 curve OID 1.3.132.0.10, as CKA_EC_PARAMS holds it (namedCurve).
constexpr std::array<std::uint8_t, 7> kSecp256k1Params{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a};

std::string hex_of(std::span<const std::uint8_t> bytes) {
  std::string out;
  crypto::append_hex(out, bytes);
  return out;
}

// The dotted form of a DER OBJECT IDENTIFIER, or nullopt when `der` is not one.
std::optional<std::string> oid_text(std::span<const std::uint8_t> der) {
  if (der.size() < 3 || der[0] != 0x06 || der[1] != der.size() - 2 || der[1] > 127) {
    return std::nullopt;
  }
  std::string out;
  std::uint64_t value = 0;
  bool first = true;
  for (std::size_t i = 2; i < der.size(); ++i) {
    value = (value << 7) | (der[i] & 0x7f);
    if (der[i] & 0x80) continue;
    if (first) {
      const std::uint64_t arc = value < 40 ? 0 : value < 80 ? 1 : 2;
      out = std::to_string(arc) + "." + std::to_string(value - arc * 40);
      first = false;
    } else {
      out += "." + std::to_string(value);
    }
    value = 0;
  }
  return out;
}

// "prime256v1 (OID 1.2.840.10045.3.1.7)" and the like, for the message that refuses a curve.
std::string describe_curve(std::span<const std::uint8_t> params) {
  const std::optional<std::string> oid = oid_text(params);
  if (!oid) return "curve parameters " + hex_of(params) + " (not a named-curve OID)";
  static constexpr std::pair<std::string_view, std::string_view> kNames[] = {
      {"1.2.840.10045.3.1.7", "prime256v1 (P-256)"},
      {"1.3.132.0.34", "secp384r1 (P-384)"},
      {"1.3.132.0.35", "secp521r1 (P-521)"},
      {"1.3.132.0.10", "secp256k1"},
      {"1.3.101.112", "Ed25519"},
      {"1.3.101.113", "Ed448"},
  };
  for (const auto& [dotted, name] : kNames) {
    if (*oid == dotted) return std::string(name) + " (OID " + *oid + ")";
  }
  return "curve OID " + *oid;
}

// Decodes CKA_EC_POINT: the DER OCTET STRING that wraps 0x04||X||Y, as the standard says. A bare
// 0x04||X||Y, which some older modules return, is accepted too.
std::optional<crypto::PublicKey65> decode_ec_point(std::span<const std::uint8_t> der) {
  std::span<const std::uint8_t> point = der;
  if (der.size() == 67 && der[0] == 0x04 && der[1] == 65) {
    point = der.subspan(2);
  } else if (der.size() == 68 && der[0] == 0x04 && der[1] == 0x81 && der[2] == 65) {
    point = der.subspan(3);
  }
  if (point.size() != 65 || point[0] != 0x04) return std::nullopt;
  crypto::PublicKey65 out{};
  std::copy(point.begin(), point.end(), out.begin());
  return out;
}

// The PKCS#11 calls a key needs at open, on one session, with errors that name the key.
class ObjectReader {
 public:
  ObjectReader(const CK_FUNCTION_LIST& api, CK_SESSION_HANDLE session, const std::string& what)
      : api_(api), session_(session), what_(what) {}

  // Every object matching `attributes`, at most `limit`.
  std::vector<CK_OBJECT_HANDLE> find(std::vector<CK_ATTRIBUTE> attributes,
                                     std::size_t limit = 64) const {
    CK_RV rv = api_.C_FindObjectsInit(session_, attributes.data(), attributes.size());
    check(rv, "C_FindObjectsInit");
    struct Final {  // C_FindObjectsFinal on every path, so the session can search again
      const CK_FUNCTION_LIST& api;
      CK_SESSION_HANDLE session;
      ~Final() { api.C_FindObjectsFinal(session); }
    } final{api_, session_};
    std::vector<CK_OBJECT_HANDLE> out(limit);
    CK_ULONG count = 0;
    rv = api_.C_FindObjects(session_, out.data(), out.size(), &count);
    check(rv, "C_FindObjects");
    out.resize(count);
    return out;
  }

  // The value of attribute `type` of `object`, or nullopt when the object has no such attribute
  // or keeps it secret.
  std::optional<Bytes> attribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) const {
    CK_ATTRIBUTE query{type, nullptr, 0};
    CK_RV rv = api_.C_GetAttributeValue(session_, object, &query, 1);
    if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ||
        query.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
      return std::nullopt;
    }
    check(rv, "C_GetAttributeValue");
    Bytes value(query.ulValueLen);
    query.pValue = value.data();
    rv = api_.C_GetAttributeValue(session_, object, &query, 1);
    check(rv, "C_GetAttributeValue");
    value.resize(query.ulValueLen);
    return value;
  }

  std::string text_attribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) const {
    const std::optional<Bytes> value = attribute(object, type);
    return value ? std::string(value->begin(), value->end()) : std::string();
  }

  CK_ULONG ulong_attribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) const {
    const std::optional<Bytes> value = attribute(object, type);
    CK_ULONG out = CK_UNAVAILABLE_INFORMATION;
    if (value && value->size() == sizeof out) {
      std::copy(value->begin(), value->end(), reinterpret_cast<std::uint8_t*>(&out));
    }
    return out;
  }

  void check(CK_RV rv, const char* call) const {
    if (rv != CKR_OK) {
      throw Pkcs11Error(Pkcs11ErrorKind::kDevice, what_ + ": " + call + " failed: " + ckr_name(rv),
                        rv);
    }
  }

 private:
  const CK_FUNCTION_LIST& api_;
  CK_SESSION_HANDLE session_;
  const std::string& what_;
};

// A find template over `label` and/or `id`, with `klass` (and more attributes the caller adds).
// The attributes point into `label`, `id` and `klass`, which must outlive the template.
std::vector<CK_ATTRIBUTE> key_template(CK_OBJECT_CLASS& klass, const std::string& label,
                                       const Bytes& id) {
  std::vector<CK_ATTRIBUTE> out{{CKA_CLASS, &klass, sizeof klass}};
  if (!label.empty()) {
    out.push_back({CKA_LABEL, const_cast<char*>(label.data()), label.size()});
  }
  if (!id.empty()) {
    out.push_back({CKA_ID, const_cast<std::uint8_t*>(id.data()), id.size()});
  }
  return out;
}

// "'a' (id 01), 'b' (id 02)": the private keys on the token, for the message that says the
// configured one is not there.
std::string list_private_keys(const ObjectReader& reader) {
  CK_OBJECT_CLASS klass = CKO_PRIVATE_KEY;
  const std::vector<CK_OBJECT_HANDLE> keys = reader.find({{CKA_CLASS, &klass, sizeof klass}}, 20);
  if (keys.empty()) return "the token holds no private key";
  std::string out = "private keys on the token: ";
  for (const CK_OBJECT_HANDLE key : keys) {
    const std::optional<Bytes> id = reader.attribute(key, CKA_ID);
    out += (key == keys.front() ? "'" : ", '") + reader.text_attribute(key, CKA_LABEL) + "'";
    if (id && !id->empty()) out += " (id " + hex_of(*id) + ")";
  }
  return out;
}

Pkcs11Error key_error(Pkcs11ErrorKind kind, const std::string& what, const std::string& message) {
  return Pkcs11Error(kind, what + ": " + message);
}

void check_secp256k1_params(const ObjectReader& reader, CK_OBJECT_HANDLE object,
                            const std::string& what, const char* which) {
  const std::optional<Bytes> params = reader.attribute(object, CKA_EC_PARAMS);
  if (!params) {
    throw key_error(Pkcs11ErrorKind::kUnsupportedKey, what,
                    std::string("the ") + which + " has no CKA_EC_PARAMS");
  }
  if (!std::equal(params->begin(), params->end(), kSecp256k1Params.begin(),
                  kSecp256k1Params.end())) {
    throw key_error(Pkcs11ErrorKind::kUnsupportedKey, what,
                    std::string("the ") + which + " is on " + describe_curve(*params) +
                        ", not secp256k1 (OID 1.3.132.0.10), the curve Ethereum signs with");
  }
}

}  // namespace

std::string Pkcs11KeyConfig::describe() const {
  std::string out = "PKCS#11 key";
  if (!key_label.empty()) out += " '" + key_label + "'";
  if (!key_id.empty())
    out += (key_label.empty() ? " id " : " (id ") + hex_of(key_id) + (key_label.empty() ? "" : ")");
  out += " on token";
  if (!token_label.empty()) out += " '" + token_label + "'";
  if (slot_id) out += " in slot " + std::to_string(*slot_id);
  return out + " of " + module.string();
}

Pkcs11Key::Pkcs11Key(std::shared_ptr<const Pkcs11Module> module, const Pkcs11KeyConfig& config,
                     std::vector<std::string>& warnings)
    : module_(std::move(module)), description_(config.describe()) {
  const std::string& what = description_;
  if (config.key_label.empty() && config.key_id.empty()) {
    throw key_error(Pkcs11ErrorKind::kKeyNotFound, what, "name the key by label or id");
  }
  const CK_FUNCTION_LIST& api = module_->api();
  std::optional<CK_SLOT_ID> slot_id;
  if (config.slot_id) slot_id = static_cast<CK_SLOT_ID>(*config.slot_id);
  const Pkcs11Slot slot = module_->find_token(config.token_label, slot_id);
  const std::string token = "token '" + slot.token_label + "'";

  anchor_ = std::make_unique<Pkcs11Session>(*module_, slot.id, token);
  {
    Password pin;
    try {
      pin = read_password_source(config.pin, warnings);
    } catch (const PasswordError& e) {
      throw Pkcs11Error(Pkcs11ErrorKind::kLogin, what + ": cannot read the PIN: " + e.what());
    }
    // C_Login does not write through the pointer; the standard's prototype is just not const.
    const CK_RV rv = api.C_Login(anchor_->handle(), CKU_USER,
                                 const_cast<CK_UTF8CHAR*>(pin.bytes().data()), pin.bytes().size());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
      std::string why = ckr_name(rv);
      if (rv == CKR_PIN_INCORRECT) why = "wrong PIN (" + why + ")";
      if (rv == CKR_PIN_LOCKED)
        why = "the PIN is locked (" + why + "); the token's SO must reset it";
      throw Pkcs11Error(
          Pkcs11ErrorKind::kLogin,
          what + ": " + token + " refused the PIN from " + config.pin.describe() + ": " + why, rv);
    }
  }  // the PIN is wiped here

  const ObjectReader reader(api, anchor_->handle(), what);
  CK_OBJECT_CLASS private_class = CKO_PRIVATE_KEY;
  const std::vector<CK_OBJECT_HANDLE> found =
      reader.find(key_template(private_class, config.key_label, config.key_id));
  if (found.empty()) {
    throw key_error(Pkcs11ErrorKind::kKeyNotFound, what,
                    "no such private key (" + list_private_keys(reader) + ")");
  }
  if (found.size() > 1) {
    throw key_error(Pkcs11ErrorKind::kKeyNotFound, what,
                    std::to_string(found.size()) + " private keys match; name one by " +
                        (config.key_id.empty() ? "id" : "label") + " too");
  }
  private_key_handle_ = found.front();
  const CK_ULONG key_type = reader.ulong_attribute(private_key_handle_, CKA_KEY_TYPE);
  if (key_type != CKK_EC) {
    const std::string type = key_type == CKK_RSA          ? "CKK_RSA"
                             : key_type == CKK_EC_EDWARDS ? "CKK_EC_EDWARDS"
                                                          : std::to_string(key_type);
    throw key_error(
        Pkcs11ErrorKind::kUnsupportedKey, what,
        "not an EC key (CKA_KEY_TYPE " + type + "); Ethereum signs with secp256k1 EC keys");
  }
  check_secp256k1_params(reader, private_key_handle_, what, "private key");
  const std::optional<Bytes> can_sign = reader.attribute(private_key_handle_, CKA_SIGN);
  if (can_sign && can_sign->size() == 1 && (*can_sign)[0] == CK_FALSE) {
    throw key_error(Pkcs11ErrorKind::kUnsupportedKey, what,
                    "the key may not sign (CKA_SIGN false)");
  }

  // The public half: the public key object of the pair, found by the private key's CKA_ID (the
  // standard's way of pairing them), else by its label. PKCS#11 3.0 tokens may also keep
  // CKA_EC_POINT on the private key itself.
  const Bytes pair_id = reader.attribute(private_key_handle_, CKA_ID).value_or(Bytes{});
  const std::string pair_label =
      pair_id.empty() ? reader.text_attribute(private_key_handle_, CKA_LABEL) : std::string();
  CK_OBJECT_CLASS public_class = CKO_PUBLIC_KEY;
  const std::vector<CK_OBJECT_HANDLE> publics =
      pair_id.empty() && pair_label.empty()
          ? std::vector<CK_OBJECT_HANDLE>{}
          : reader.find(key_template(public_class, pair_label, pair_id));
  std::optional<Bytes> point;
  if (publics.size() == 1) {
    check_secp256k1_params(reader, publics.front(), what, "public key");
    point = reader.attribute(publics.front(), CKA_EC_POINT);
  } else if (publics.size() > 1) {
    throw key_error(Pkcs11ErrorKind::kKeyNotFound, what,
                    std::to_string(publics.size()) + " public key objects pair with the key");
  } else {
    point = reader.attribute(private_key_handle_, CKA_EC_POINT);
  }
  if (!point) {
    throw key_error(Pkcs11ErrorKind::kKeyNotFound, what,
                    "no public key object pairs with the private key (by CKA_ID, else CKA_LABEL); "
                    "its public key is needed to compute V");
  }
  const std::optional<crypto::PublicKey65> decoded = decode_ec_point(*point);
  secp256k1_pubkey parsed;
  if (!decoded || !secp256k1_ec_pubkey_parse(recovery_context_.get(), &parsed, decoded->data(),
                                             decoded->size())) {
    throw key_error(Pkcs11ErrorKind::kUnsupportedKey, what,
                    "CKA_EC_POINT is not an uncompressed secp256k1 point");
  }
  public_key_ = *decoded;
  public_key_hex_ = crypto::to_prefixed_hex(public_key_);
  address_ = crypto::ethereum_address(std::string_view(public_key_hex_).substr(4));

  sessions_ = std::make_unique<Pkcs11SessionPool>(*module_, slot.id, token);
  // Self-test: one signature proves that the public key found belongs to the private key; with a
  // mismatched pair every signature would fail at signing time instead.
  const crypto::Hash256 probe = crypto::keccak256_concat("message-signer pkcs11 self-test", what);
  try {
    (void)sign(probe, nullptr);
  } catch (const Pkcs11Error& e) {
    throw Pkcs11Error(Pkcs11ErrorKind::kUnsupportedKey,
                      std::string(e.what()) +
                          " (self-test at open: the public key object may "
                          "not belong to the private key)",
                      e.rv());
  }
}

Pkcs11Key::~Pkcs11Key() = default;

crypto::Signature65 Pkcs11Key::sign_digest(std::span<const std::uint8_t, 32> digest) const {
  return sign(digest, nullptr);
}

crypto::Signature65 Pkcs11Key::sign_digest(std::span<const std::uint8_t, 32> digest,
                                           Pkcs11SignTimings& timings) const {
  return sign(digest, &timings);
}

std::size_t Pkcs11Key::open_sessions() const { return sessions_->open_sessions(); }

crypto::Signature65 Pkcs11Key::sign(std::span<const std::uint8_t, 32> digest,
                                    Pkcs11SignTimings* timings) const {
  const CK_FUNCTION_LIST& api = module_->api();
  Clock::time_point start;
  auto lap = [&](std::chrono::nanoseconds Pkcs11SignTimings::*field) {
    if (!timings) return;
    const Clock::time_point now = Clock::now();
    timings->*field += now - start;
    start = now;
  };
  if (timings) start = Clock::now();

  std::array<std::uint8_t, 64> rs{};
  {
    Pkcs11SessionPool::Lease session = sessions_->acquire();
    lap(&Pkcs11SignTimings::session);
    CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
    CK_RV rv = api.C_SignInit(session.handle(), &ecdsa, private_key_handle_);
    lap(&Pkcs11SignTimings::sign_init);
    CK_ULONG rs_size = rs.size();
    if (rv == CKR_OK) {
      rv = api.C_Sign(session.handle(), const_cast<std::uint8_t*>(digest.data()), digest.size(),
                      rs.data(), &rs_size);
    }
    if (rv == CKR_OK && rs_size != rs.size()) rv = CKR_GENERAL_ERROR;
    if (rv != CKR_OK) {
      session.discard();  // whatever state it is in, a fresh session replaces it
      throw Pkcs11Error(Pkcs11ErrorKind::kDevice,
                        description_ + ": the token failed to sign: " + ckr_name(rv), rv);
    }
    lap(&Pkcs11SignTimings::sign);
  }  // the session goes back before the recovery, which does not need it

  crypto::Hash256 hash;
  std::copy(digest.begin(), digest.end(), hash.begin());
  std::optional<crypto::Signature65> out =
      crypto::to_recoverable_signature(recovery_context_, rs, hash, public_key_);
  lap(&Pkcs11SignTimings::recovery);
  if (!out) {
    throw Pkcs11Error(Pkcs11ErrorKind::kDevice,
                      description_ +
                          ": the token's signature does not recover the key's public "
                          "key");
  }
  return *out;
}

}  // namespace signer::keys
