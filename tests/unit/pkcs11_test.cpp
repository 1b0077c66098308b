// The PKCS#11 key source (src/keys/pkcs11_*) against a real token: SoftHSM2, with secp256k1 keys
// generated on it at test time by scripts/softhsm.sh (pkcs11-tool from opensc). Nothing is mocked.
// Each test process makes one private token directory (SOFTHSM2_CONF points at it), so the system
// token dir is never touched and parallel test processes never share a token.
// SoftHSM2 missing: the tests skip, unless SIGNER_REQUIRE_SOFTHSM=1 or SIGNER_TEST_SOFTHSM=1, when
// they fail, so CI cannot pass without having run them. SoftHSM2 installed but no token could be
// made: they fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/hex.h"
#include "crypto/keccak.h"
#include "crypto/key_ring.h"
#include "crypto/message_signer.h"
#include "crypto/salt_generator.h"
#include "crypto/signature_verifier.h"
#include "keys/pkcs11_key.h"
#include "keys/pkcs11_module.h"
#include "test_support.h"

namespace signer::keys {
namespace {

using signer::testing::TempDir;

constexpr const char* kModule = "/usr/lib/softhsm/libsofthsm2.so";
constexpr const char* kToken = "signer-test";
// Distinctive PINs, so that one showing up in a message cannot be a coincidence.
constexpr const char* kPin = "pkcs11-pin-4c1e7a";
constexpr const char* kWrongPin = "not-the-pin-93b2d0";

bool env_is_1(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && std::string(value) == "1";
}

bool softhsm_required() {
  return env_is_1("SIGNER_REQUIRE_SOFTHSM") || env_is_1("SIGNER_TEST_SOFTHSM");
}

// The token every test of this process uses, made on first use: keys k0 and k1 (secp256k1,
// CKA_ID 01 and 02), p256 (prime256v1, id 0a) and rsa (RSA, id 0b). Removed at exit.
struct SoftHsmToken {
  std::unique_ptr<TempDir> dir;
  bool installed = false;
  std::string problem;  // why there is no token; empty when there is one

  std::filesystem::path pin_file() const { return *dir / "pin"; }
  std::filesystem::path wrong_pin_file() const { return *dir / "wrong-pin"; }
};

const SoftHsmToken& token() {
  static const SoftHsmToken made = [] {
    SoftHsmToken t;
    if (!std::filesystem::exists(kModule) ||
        std::system("command -v pkcs11-tool >/dev/null") != 0) {
      t.problem = std::string("SoftHSM2 is not installed (") + kModule +
                  " and pkcs11-tool: apt-get install softhsm2 opensc)";
      return t;
    }
    t.installed = true;
    t.dir = std::make_unique<TempDir>();
    signer::testing::write_file(t.pin_file(), std::string(kPin) + "\n");
    signer::testing::write_file(t.wrong_pin_file(), std::string(kWrongPin) + "\n");
    const std::string script = SIGNER_SOFTHSM_SCRIPT;
    const std::string hsm = (*t.dir / "hsm").string();
    const std::string log = (*t.dir / "softhsm.log").string();
    const std::string common = " '" + hsm + "' " + kToken + " '" + t.pin_file().string() + "' ";
    const std::vector<std::string> steps = {
        script + " init" + common + "k0 k1",
        script + " keygen" + common + "EC:prime256v1 p256 0a",
        script + " keygen" + common + "rsa:1024 rsa 0b",
    };
    for (const std::string& step : steps) {
      // A tool preloaded into the tests (a leak checker) must not reach pkcs11-tool.
      if (std::system(("env -u LD_PRELOAD " + step + " >>'" + log + "' 2>&1").c_str()) != 0) {
        t.problem = "scripts/softhsm.sh failed: " + step + "\n" + signer::testing::read_file(log);
        return t;
      }
    }
    ::setenv("SOFTHSM2_CONF", (hsm + "/softhsm2.conf").c_str(), 1);
    return t;
  }();
  return made;
}

// Loads the module once per suite (PKCS#11 allows one initialisation per process at a time).
class SoftHsmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (token().problem.empty()) module_ = Pkcs11Module::load(kModule);
  }
  static void TearDownTestSuite() { module_.reset(); }

  void SetUp() override {
    if (!token().installed && !softhsm_required()) GTEST_SKIP() << token().problem;
    // Installed but the token could not be made: a failure, never a skip.
    if (!token().problem.empty()) FAIL() << token().problem;
  }

  static Pkcs11KeyConfig config(const std::string& key_label) {
    Pkcs11KeyConfig c;
    c.module = kModule;
    c.token_label = kToken;
    c.key_label = key_label;
    c.pin = PasswordSource::file(token().pin_file().string());
    return c;
  }

  static std::unique_ptr<Pkcs11Key> open(const Pkcs11KeyConfig& c) {
    std::vector<std::string> warnings;
    auto key = std::make_unique<Pkcs11Key>(module_, c, warnings);
    EXPECT_TRUE(warnings.empty()) << warnings.front();
    return key;
  }

  // The error opening `c` throws; fails the test when it opens.
  static Pkcs11Error open_error(const Pkcs11KeyConfig& c) {
    try {
      std::vector<std::string> warnings;
      Pkcs11Key key(module_, c, warnings);
    } catch (const Pkcs11Error& e) {
      return e;
    }
    ADD_FAILURE() << c.describe() << " opened";
    return Pkcs11Error(Pkcs11ErrorKind::kDevice, "(opened)");
  }

  static void expect_no_pin(const std::string& text) {
    EXPECT_EQ(text.find(kPin), std::string::npos) << text;
    EXPECT_EQ(text.find(kWrongPin), std::string::npos) << text;
  }

  static inline std::shared_ptr<const Pkcs11Module> module_;
};

crypto::Hash256 digest_of(int i) {
  return crypto::keccak256_concat("pkcs11 test digest ", std::to_string(i));
}

// S <= n/2, compared big-endian with the half order.
bool is_low_s(const crypto::Signature65& sig) {
  static constexpr std::array<std::uint8_t, 32> kHalfOrder{
      0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4,
      0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};
  return !std::lexicographical_compare(kHalfOrder.begin(), kHalfOrder.end(), sig.begin() + 32,
                                       sig.begin() + 64);
}

using Pkcs11KeyTest = SoftHsmTest;

TEST_F(Pkcs11KeyTest, SignaturesRecoverTheTokensPublicKeyWithLowSAndVZeroOrOne) {
  const auto key = open(config("k0"));
  ASSERT_EQ(key->public_key().size(), 2 + 130u);
  EXPECT_EQ(key->public_key().rfind("0x04", 0), 0u);
  EXPECT_EQ(key->public_key(), crypto::to_prefixed_hex(key->public_key_bytes()));
  EXPECT_EQ(key->address(), crypto::ethereum_address(key->public_key().substr(4)));
  const crypto::MessageSigner verifier;
  int seen_v[2] = {0, 0};
  for (int i = 0; i < 64; ++i) {
    const crypto::Hash256 digest = digest_of(i);
    const crypto::Signature65 sig = key->sign_digest(digest);
    ASSERT_LE(sig[64], 1) << i;
    ++seen_v[sig[64]];
    EXPECT_TRUE(is_low_s(sig)) << i;
    crypto::PublicKey65 recovered{};
    ASSERT_TRUE(verifier.recover(digest, sig, recovered)) << i;
    EXPECT_EQ(recovered, key->public_key_bytes()) << i;
  }
  // The token's nonces are random, so both recovery ids occur (failure odds 2^-63).
  EXPECT_GT(seen_v[0], 0);
  EXPECT_GT(seen_v[1], 0);
}

TEST_F(Pkcs11KeyTest, SignaturesOfSaltedMessagesPassTheVerifier) {
  const auto key = open(config("k1"));
  const crypto::MessageSigner verifier;
  crypto::SaltGenerator salts;
  for (const std::string& msg :
       std::vector<std::string>{"", "hello", "ünïcödé ✓", std::string(1000, 'x')}) {
    const std::string salt = salts.next();
    const std::string sign =
        crypto::to_prefixed_hex(key->sign_digest(crypto::keccak256_concat(salt, msg)));
    EXPECT_EQ(crypto::verify_signature(verifier, salt, msg, sign, key->public_key()),
              crypto::Verdict::kValid)
        << msg;
    EXPECT_EQ(crypto::verify_signature(verifier, salt, msg + "!", sign, key->public_key()),
              crypto::Verdict::kKeyMismatch);
  }
}

TEST_F(Pkcs11KeyTest, SignsFromManyThreadsAtOnceWithASessionPerThread) {
  const auto key = open(config("k0"));
  constexpr int kThreads = 6;
  constexpr int kPerThread = 60;
  std::atomic<int> good{0};
  std::atomic<int> bad{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const crypto::MessageSigner verifier;
        for (int i = 0; i < kPerThread; ++i) {
          const crypto::Hash256 digest = digest_of(t * 1000 + i);
          crypto::PublicKey65 recovered{};
          const crypto::Signature65 sig = key->sign_digest(digest);
          const bool ok = verifier.recover(digest, sig, recovered) &&
                          recovered == key->public_key_bytes() && is_low_s(sig);
          ++(ok ? good : bad);
        }
      });
    }
  }
  EXPECT_EQ(good.load(), kThreads * kPerThread);
  EXPECT_EQ(bad.load(), 0);
  // Never more sessions than threads signing at once; sessions are reused, not opened per call.
  EXPECT_GE(key->open_sessions(), 1u);
  EXPECT_LE(key->open_sessions(), static_cast<std::size_t>(kThreads));
}

TEST_F(Pkcs11KeyTest, TwoKeysOfOneTokenShareTheLogin) {
  auto k0 = open(config("k0"));
  const auto k1 = open(config("k1"));
  EXPECT_NE(k0->public_key(), k1->public_key());
  (void)k0->sign_digest(digest_of(1));
  k0.reset();  // closing k0's sessions must not log k1 out
  const crypto::MessageSigner verifier;
  crypto::PublicKey65 recovered{};
  ASSERT_TRUE(verifier.recover(digest_of(2), k1->sign_digest(digest_of(2)), recovered));
  EXPECT_EQ(recovered, k1->public_key_bytes());
}

TEST_F(Pkcs11KeyTest, FindsTheKeyByIdAloneOrByLabelAndId) {
  const std::string by_label = open(config("k1"))->public_key();
  Pkcs11KeyConfig by_id = config("");
  by_id.key_id = {0x02};
  EXPECT_EQ(open(by_id)->public_key(), by_label);
  Pkcs11KeyConfig both = config("k1");
  both.key_id = {0x02};
  EXPECT_EQ(open(both)->public_key(), by_label);
  both.key_id = {0x01};  // k0's id: label and id must both match
  EXPECT_EQ(open_error(both).kind(), Pkcs11ErrorKind::kKeyNotFound);
}

TEST_F(Pkcs11KeyTest, FindsTheTokenBySlotId) {
  const Pkcs11Slot slot = module_->find_token(kToken, std::nullopt);
  EXPECT_EQ(slot.token_label, kToken);
  Pkcs11KeyConfig c = config("k0");
  c.token_label.clear();
  c.slot_id = slot.id;
  EXPECT_EQ(open(c)->public_key(), open(config("k0"))->public_key());
  c.slot_id = slot.id + 1000;
  EXPECT_EQ(open_error(c).kind(), Pkcs11ErrorKind::kTokenNotFound);
}

TEST_F(Pkcs11KeyTest, ReadsThePinFromAnEnvironmentVariable) {
  ::setenv("SIGNER_TEST_PKCS11_PIN", kPin, 1);
  Pkcs11KeyConfig c = config("k0");
  c.pin = PasswordSource::environment("SIGNER_TEST_PKCS11_PIN");
  EXPECT_EQ(open(c)->public_key(), open(config("k0"))->public_key());
  ::unsetenv("SIGNER_TEST_PKCS11_PIN");
}

TEST_F(Pkcs11KeyTest, RefusesAWrongPinWithoutShowingIt) {
  Pkcs11KeyConfig c = config("k0");
  c.pin = PasswordSource::file(token().wrong_pin_file().string());
  const Pkcs11Error e = open_error(c);
  EXPECT_EQ(e.kind(), Pkcs11ErrorKind::kLogin);
  const std::string message = e.what();
  EXPECT_NE(message.find("wrong PIN"), std::string::npos) << message;
  EXPECT_NE(message.find(token().wrong_pin_file().string()), std::string::npos) << message;
  expect_no_pin(message);
}

TEST_F(Pkcs11KeyTest, RefusesAMissingPinFileNamingIt) {
  Pkcs11KeyConfig c = config("k0");
  c.pin = PasswordSource::file((*token().dir / "no-such-pin").string());
  const Pkcs11Error e = open_error(c);
  EXPECT_EQ(e.kind(), Pkcs11ErrorKind::kLogin);
  EXPECT_NE(std::string(e.what()).find("no-such-pin"), std::string::npos) << e.what();
}

TEST_F(Pkcs11KeyTest, RefusesAMissingKeyLabelListingTheKeysThere) {
  const Pkcs11Error e = open_error(config("no-such-key"));
  EXPECT_EQ(e.kind(), Pkcs11ErrorKind::kKeyNotFound);
  const std::string message = e.what();
  EXPECT_NE(message.find("'no-such-key'"), std::string::npos) << message;
  EXPECT_NE(message.find("'k0' (id 01)"), std::string::npos) << message;
  expect_no_pin(message);
}

TEST_F(Pkcs11KeyTest, RefusesAMissingTokenLabelListingTheTokensThere) {
  Pkcs11KeyConfig c = config("k0");
  c.token_label = "no-such-token";
  const Pkcs11Error e = open_error(c);
  EXPECT_EQ(e.kind(), Pkcs11ErrorKind::kTokenNotFound);
  const std::string message = e.what();
  EXPECT_NE(message.find("'no-such-token'"), std::string::npos) << message;
  EXPECT_NE(message.find(std::string("'") + kToken + "'"), std::string::npos) << message;
  expect_no_pin(message);
}

TEST_F(Pkcs11KeyTest, RefusesAKeyOnAnotherCurveNamingIt) {
  const Pkcs11Error e = open_error(config("p256"));
  EXPECT_EQ(e.kind(), Pkcs11ErrorKind::kUnsupportedKey);
  const std::string message = e.what();
  EXPECT_NE(message.find("prime256v1"), std::string::npos) << message;
  EXPECT_NE(message.find("not secp256k1"), std::string::npos) << message;
  expect_no_pin(message);
}

TEST_F(Pkcs11KeyTest, RefusesANonEcKey) {
  const Pkcs11Error e = open_error(config("rsa"));
  EXPECT_EQ(e.kind(), Pkcs11ErrorKind::kUnsupportedKey);
  EXPECT_NE(std::string(e.what()).find("not an EC key (CKA_KEY_TYPE CKK_RSA)"), std::string::npos)
      << e.what();
}

TEST_F(Pkcs11KeyTest, RefusesAConfigWithoutKeyLabelOrId) {
  EXPECT_EQ(open_error(config("")).kind(), Pkcs11ErrorKind::kKeyNotFound);
}

using Pkcs11ModuleTest = SoftHsmTest;

TEST_F(Pkcs11ModuleTest, RefusesASecondInitialisationInOneProcess) {
  try {
    (void)Pkcs11Module::load(kModule);
    FAIL() << "the module loaded twice";
  } catch (const Pkcs11Error& e) {
    EXPECT_EQ(e.kind(), Pkcs11ErrorKind::kModule);
    EXPECT_NE(std::string(e.what()).find("already initialised"), std::string::npos) << e.what();
  }
  // The refused load left the first one working.
  EXPECT_EQ(module_->find_token(kToken, std::nullopt).token_label, kToken);
}

TEST_F(Pkcs11ModuleTest, RefusesAFileThatIsNotAModule) {
  for (const std::string path : {"/no/such/module.so", "libm.so.6"}) {
    try {
      (void)Pkcs11Module::load(path);
      ADD_FAILURE() << path << " loaded";
    } catch (const Pkcs11Error& e) {
      EXPECT_EQ(e.kind(), Pkcs11ErrorKind::kModule);
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

// `signer sign-message --pkcs11-*`, the command the go-ethereum compat test drives. The child
// process loads the module itself; it inherits SOFTHSM2_CONF.
class Pkcs11CliTest : public SoftHsmTest {
 protected:
  static std::string flags(const std::string& key_label, const std::filesystem::path& pin) {
    return std::string("sign-message --pkcs11-module ") + kModule + " --pkcs11-token " + kToken +
           " --pkcs11-key-label " + key_label + " --pkcs11-pin-file '" + pin.string() + "'";
  }
};

TEST_F(Pkcs11CliTest, SignMessageSignsOnTheTokenAndTheRecordVerifies) {
  const std::string public_key = open(config("k1"))->public_key();
  TempDir dir;
  const auto res = signer::testing::run_signer(
      flags("k1", token().pin_file()) + " --id r1 --msg 'hello token'", dir);
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const auto record = nlohmann::json::parse(res.out);
  EXPECT_EQ(record.at("key"), public_key);
  EXPECT_EQ(record.at("id"), "r1");
  const crypto::MessageSigner verifier;
  EXPECT_EQ(crypto::verify_signature(verifier, record.at("salt").get<std::string>(), "hello token",
                                     record.at("sign").get<std::string>(), public_key),
            crypto::Verdict::kValid);
  expect_no_pin(res.out + res.err);
}

TEST_F(Pkcs11CliTest, WrongPinExitsNonZeroWithoutPrintingThePin) {
  TempDir dir;
  const auto res =
      signer::testing::run_signer(flags("k0", token().wrong_pin_file()) + " --msg x", dir);
  EXPECT_EQ(res.exit_code, 2);
  EXPECT_EQ(res.out, "");
  EXPECT_NE(res.err.find("wrong PIN"), std::string::npos) << res.err;
  expect_no_pin(res.out + res.err);
}

TEST_F(Pkcs11CliTest, RefusesAPkcs11KeyWithoutAPinSource) {
  TempDir dir;
  const auto res = signer::testing::run_signer(std::string("sign-message --pkcs11-module ") +
                                                   kModule + " --pkcs11-token " + kToken +
                                                   " --pkcs11-key-label k0 --msg x",
                                               dir);
  EXPECT_NE(res.exit_code, 0);
  EXPECT_NE(res.err.find("--pkcs11-pin-file"), std::string::npos) << res.err;
}

}  // namespace
}  // namespace signer::keys
