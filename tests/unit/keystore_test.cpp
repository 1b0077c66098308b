// V3 keystores (src/keys): go-ethereum's own test keystores as known answers, one test per
// rejection rule, our writer read back, passwords from files and the environment, and the rule
// that no error ever carries the password or the key.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/hex.h"
#include "crypto/key_ring.h"
#include "crypto/message_signer.h"
#include "keys/keystore.h"
#include "keys/keystore_ring.h"
#include "keys/password.h"
#include "test_support.h"

namespace signer::keys {
namespace {

using nlohmann::json;

// go-ethereum v1.17.10's accounts/keystore/testdata (LGPL-3.0; see testdata/geth-keystore/README).
std::filesystem::path geth_testdata(const std::string& name) {
  return std::filesystem::path(SIGNER_UNIT_TESTDATA_DIR) / "geth-keystore" / name;
}

// The password of go-ethereum's keystore/ test files.
constexpr const char* kGethPassword = "foobar";
// Distinctive passwords, so a leak into a message cannot be a coincidence.
constexpr const char* kPassword = "correct-horse-7f3a91";
constexpr const char* kWrongPassword = "wrong-horse-c40d2e";
// Scrypt cost for keystores written by tests: valid, and cheap.
constexpr ScryptParams kTestScrypt{16, 8, 1};

Password password(std::string_view text) {
  return Password({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

std::string text_of(const Password& p) {
  return {reinterpret_cast<const char*>(p.bytes().data()), p.bytes().size()};
}

std::string private_hex(const crypto::PrivateKey& key) {
  std::string out;
  crypto::append_hex(out, std::span(key.data(), crypto::PrivateKey::kSize));
  return out;
}

// Lowercase address without "0x".
std::string address_of(const crypto::PrivateKey& key) {
  const crypto::MessageSigner signer;
  const crypto::PublicKey65 pub = signer.public_key(key);
  std::string xy;
  crypto::append_hex(xy, std::span(pub).subspan(1));
  std::string address = crypto::ethereum_address(xy).substr(2);
  for (char& c : address) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return address;
}

KeystoreError decrypt_error(const std::string& text, std::string_view pass,
                            const std::string& file = "test-keystore.json") {
  try {
    (void)decrypt_keystore(text, password(pass), file);
  } catch (const KeystoreError& e) {
    return e;
  }
  ADD_FAILURE() << "decrypt_keystore accepted " << file;
  return KeystoreError(KeystoreErrorKind::kMalformed, file, "(accepted)");
}

// No message may carry a secret: the password (right or wrong) or the private key's hex.
void expect_no_secret(const std::string& message, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    ASSERT_FALSE(secret.empty());
    EXPECT_EQ(message.find(secret), std::string::npos) << "message leaks a secret: " << message;
  }
}

struct GethVector {
  json keystore;
  std::string password;
  std::string priv;
};

GethVector geth_vector(const std::string& name) {
  const json all = json::parse(testing::read_file(geth_testdata("v3_test_vector.json")));
  const json& v = all.at(name);
  return {v.at("json"), v.at("password"), v.at("priv")};
}

// --- known answers: go-ethereum's published test keystores ------------------------------------

TEST(Keystore, DecryptsTheWikiScryptVectorToItsPrivateKey) {
  const GethVector v = geth_vector("wikipage_test_vector_scrypt");  // n=262144 r=1 p=8
  const crypto::PrivateKey key = decrypt_keystore(v.keystore.dump(), password(v.password), "wiki");
  EXPECT_EQ(private_hex(key), v.priv);
}

TEST(Keystore, DecryptsTheWikiPbkdf2VectorToItsPrivateKey) {
  const GethVector v = geth_vector("wikipage_test_vector_pbkdf2");  // c=262144, hmac-sha256
  const crypto::PrivateKey key = decrypt_keystore(v.keystore.dump(), password(v.password), "wiki");
  EXPECT_EQ(private_hex(key), v.priv);
}

TEST(Keystore, LoadsGoEthereumKeystoreFilesToTheAddressesTheyName) {
  // go-ethereum's keystore/README lists these files and addresses as the loadable ones.
  const std::vector<std::pair<std::string, std::string>> files = {
      {"aaa", "f466859ead1932d743d622cb74fc058882e8648a"},
      {"zzz", "289d485d9771714cce91d3393d764e1311907acc"},
      {"UTC--2016-03-22T12-57-55.920751759Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8",
       "7ef5a6135f1fd6a02593eedc869c6d41d934aef8"},
      {"no-address", "f466859ead1932d743d622cb74fc058882e8648a"},  // aaa without "address"
  };
  for (const auto& [file, address] : files) {
    std::vector<std::string> warnings;
    const crypto::PrivateKey key =
        load_keystore(geth_testdata("keystore/" + file), password(kGethPassword), warnings);
    EXPECT_EQ(address_of(key), address) << file;
  }
}

TEST(Keystore, DecryptsWithAnEmptyPasswordWhenTheFileWasWrittenWithOne) {
  const std::string text = testing::read_file(geth_testdata("very-light-scrypt.json"));
  const crypto::PrivateKey key = decrypt_keystore(text, Password(), "very-light");
  EXPECT_EQ(address_of(key), "45dea0fb0bba44f4fcf290bba71fd57d7117cbb8");
  EXPECT_EQ(decrypt_error(text, "bad").kind(), KeystoreErrorKind::kWrongPassword);
}

TEST(Keystore, RefusesThirtyAndThirtyOneByteKeysOnlyAfterTheMacMatches) {
  // decryptKeyV3 decrypts these, but DecryptKey's crypto.ToECDSA refuses them: so do we. The kind
  // (not kWrongPassword) shows the KDF and the MAC agreed with go-ethereum's.
  for (const char* name : {"31_byte_key", "30_byte_key"}) {
    const GethVector v = geth_vector(name);
    const KeystoreError e = decrypt_error(v.keystore.dump(), v.password, name);
    EXPECT_EQ(e.kind(), KeystoreErrorKind::kInvalidKey) << e.what();
    EXPECT_NE(std::string(e.what()).find("-byte key"), std::string::npos) << e.what();
    expect_no_secret(e.what(), {v.priv, "\"" + v.password + "\""});
  }
}

TEST(Keystore, AcceptsTheCapitalizedCryptoFieldOfOlderWallets) {
  json doc = json::parse(testing::read_file(geth_testdata("keystore/aaa")));
  doc["Crypto"] = doc["crypto"];
  doc.erase("crypto");
  const crypto::PrivateKey key = decrypt_keystore(doc.dump(), password(kGethPassword), "aaa");
  EXPECT_EQ(address_of(key), "f466859ead1932d743d622cb74fc058882e8648a");
}

// --- wrong passwords and corrupt files ------------------------------------------------------

// Our own keystore with kPassword, and its private key's hex.
struct OwnKeystore {
  json doc;
  std::string priv;
};

OwnKeystore own_keystore() {
  const crypto::KeyRing ring = crypto::KeyRing::generate(1);
  return {json::parse(encrypt_keystore(ring.at(0).private_key, password(kPassword), kTestScrypt)),
          private_hex(ring.at(0).private_key)};
}

TEST(Keystore, WrongPasswordIsAMacMismatchThatNamesTheFileAndNoSecret) {
  const OwnKeystore own = own_keystore();
  const KeystoreError e = decrypt_error(own.doc.dump(), kWrongPassword, "/keys/UTC--x--y");
  EXPECT_EQ(e.kind(), KeystoreErrorKind::kWrongPassword);
  EXPECT_EQ(e.file(), "/keys/UTC--x--y");
  EXPECT_NE(std::string(e.what()).find("/keys/UTC--x--y"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("wrong password"), std::string::npos) << e.what();
  expect_no_secret(e.what(), {kPassword, kWrongPassword, own.priv});
}

TEST(Keystore, FlippedMacOrCiphertextBitIsAMacMismatch) {
  const OwnKeystore own = own_keystore();
  for (const char* field : {"mac", "ciphertext"}) {
    json doc = own.doc;
    std::string hex = doc["crypto"][field];
    hex[5] = hex[5] == '0' ? '1' : '0';
    doc["crypto"][field] = hex;
    const KeystoreError e = decrypt_error(doc.dump(), kPassword);
    EXPECT_EQ(e.kind(), KeystoreErrorKind::kWrongPassword) << field << ": " << e.what();
    expect_no_secret(e.what(), {kPassword, own.priv});
  }
}

TEST(Keystore, RejectsAnAddressFieldThatNamesAnotherKey) {
  OwnKeystore own = own_keystore();
  const std::string real = own.doc["address"];
  own.doc["address"] = "f466859ead1932d743d622cb74fc058882e8648a";
  const KeystoreError e = decrypt_error(own.doc.dump(), kPassword);
  EXPECT_EQ(e.kind(), KeystoreErrorKind::kAddressMismatch) << e.what();
  EXPECT_NE(std::string(e.what()).find(real), std::string::npos) << e.what();
  expect_no_secret(e.what(), {kPassword, own.priv});
  // "0x" and upper case name the same address, and are accepted.
  std::string upper = real;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  own.doc["address"] = "0x" + upper;
  EXPECT_EQ(private_hex(decrypt_keystore(own.doc.dump(), password(kPassword), "f")), own.priv);
}

struct Mutation {
  const char* name;
  std::function<void(json&)> apply;
  KeystoreErrorKind kind;
  const char* says;  // a fragment the message must hold
};

TEST(Keystore, RejectsEachUnsupportedOrMalformedFieldWithItsOwnMessage) {
  const std::vector<Mutation> mutations = {
      {"version 1", [](json& d) { d["version"] = 1; }, KeystoreErrorKind::kUnsupported,
       "version 1 is not supported"},
      {"version \"3\"", [](json& d) { d["version"] = "3"; }, KeystoreErrorKind::kUnsupported,
       "version \"3\" is not supported"},
      {"no version", [](json& d) { d.erase("version"); }, KeystoreErrorKind::kMalformed,
       "missing version"},
      {"cbc cipher", [](json& d) { d["crypto"]["cipher"] = "aes-128-cbc"; },
       KeystoreErrorKind::kUnsupported, "cipher \"aes-128-cbc\" is not supported"},
      {"unknown kdf", [](json& d) { d["crypto"]["kdf"] = "argon2id"; },
       KeystoreErrorKind::kUnsupported, "kdf \"argon2id\" is not supported"},
      {"unknown prf",
       [](json& d) {
         d["crypto"]["kdf"] = "pbkdf2";
         d["crypto"]["kdfparams"] = {
             {"c", 2}, {"dklen", 32}, {"prf", "hmac-sha512"}, {"salt", "00"}};
       },
       KeystoreErrorKind::kUnsupported, "prf \"hmac-sha512\" is not supported"},
      {"pbkdf2 c=0",
       [](json& d) {
         d["crypto"]["kdf"] = "pbkdf2";
         d["crypto"]["kdfparams"] = {{"c", 0}, {"dklen", 32}, {"prf", "hmac-sha256"}, {"salt", ""}};
       },
       KeystoreErrorKind::kUnsupported, "pbkdf2 c=0"},
      {"dklen 16", [](json& d) { d["crypto"]["kdfparams"]["dklen"] = 16; },
       KeystoreErrorKind::kUnsupported, "dklen 16"},
      {"n not a power of 2", [](json& d) { d["crypto"]["kdfparams"]["n"] = 24; },
       KeystoreErrorKind::kUnsupported, "power of 2"},
      {"n=1", [](json& d) { d["crypto"]["kdfparams"]["n"] = 1; }, KeystoreErrorKind::kUnsupported,
       "power of 2"},
      {"p=0", [](json& d) { d["crypto"]["kdfparams"]["p"] = 0; }, KeystoreErrorKind::kUnsupported,
       "at least 1"},
      {"8 GiB of scrypt memory", [](json& d) { d["crypto"]["kdfparams"]["n"] = 1u << 23; },
       KeystoreErrorKind::kUnsupported, "MiB of memory"},
      {"n as a string", [](json& d) { d["crypto"]["kdfparams"]["n"] = "16"; },
       KeystoreErrorKind::kMalformed, "crypto.kdfparams.n must be a non-negative integer"},
      {"negative p", [](json& d) { d["crypto"]["kdfparams"]["p"] = -1; },
       KeystoreErrorKind::kMalformed, "crypto.kdfparams.p must be a non-negative integer"},
      {"odd salt", [](json& d) { d["crypto"]["kdfparams"]["salt"] = "abc"; },
       KeystoreErrorKind::kMalformed, "crypto.kdfparams.salt must be hex"},
      {"short iv", [](json& d) { d["crypto"]["cipherparams"]["iv"] = "00112233"; },
       KeystoreErrorKind::kMalformed, "crypto.cipherparams.iv must be 16 bytes"},
      {"mac not hex", [](json& d) { d["crypto"]["mac"] = std::string(64, 'g'); },
       KeystoreErrorKind::kMalformed, "crypto.mac must be hex"},
      {"short mac", [](json& d) { d["crypto"]["mac"] = "00"; }, KeystoreErrorKind::kMalformed,
       "crypto.mac must be 32 bytes"},
      {"0x ciphertext",
       [](json& d) {
         d["crypto"]["ciphertext"] = "0x" + d["crypto"]["ciphertext"].get<std::string>();
       },
       KeystoreErrorKind::kMalformed, "crypto.ciphertext must be hex"},
      {"no ciphertext", [](json& d) { d["crypto"].erase("ciphertext"); },
       KeystoreErrorKind::kMalformed, "missing crypto.ciphertext"},
      {"crypto not an object", [](json& d) { d["crypto"] = "x"; }, KeystoreErrorKind::kMalformed,
       "crypto must be a JSON object"},
      {"no crypto", [](json& d) { d.erase("crypto"); }, KeystoreErrorKind::kMalformed,
       "missing crypto"},
      {"bad address", [](json& d) { d["address"] = "xyz"; }, KeystoreErrorKind::kMalformed,
       "address must be 40 hex characters"},
  };
  const OwnKeystore own = own_keystore();
  for (const Mutation& m : mutations) {
    json doc = own.doc;
    m.apply(doc);
    const KeystoreError e = decrypt_error(doc.dump(), kPassword, "/keys/k.json");
    EXPECT_EQ(e.kind(), m.kind) << m.name << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(m.says), std::string::npos) << m.name << ": " << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("keystore file /keys/k.json: ", 0), 0u) << e.what();
    expect_no_secret(e.what(), {kPassword, own.priv});
  }
}

TEST(Keystore, CorruptJsonGivesThePositionButNeverQuotesTheFile) {
  const std::string aaa = testing::read_file(geth_testdata("keystore/aaa"));
  const std::string ciphertext = json::parse(aaa)["crypto"]["ciphertext"];
  for (const std::string& text :
       {aaa.substr(0, 120), std::string(), std::string("[1,2]"), std::string("{\"version\":3,}")}) {
    const KeystoreError e = decrypt_error(text, kGethPassword);
    EXPECT_EQ(e.kind(), KeystoreErrorKind::kMalformed) << e.what();
    EXPECT_EQ(std::string(e.what()).find(ciphertext.substr(0, 8)), std::string::npos) << e.what();
  }
  EXPECT_NE(std::string(decrypt_error(aaa.substr(0, 120), kGethPassword).what()).find("at byte"),
            std::string::npos);
  std::vector<std::string> warnings;
  for (const char* file : {"keystore/garbage", "keystore/empty"}) {
    try {
      (void)load_keystore(geth_testdata(file), password(kGethPassword), warnings);
      ADD_FAILURE() << file << " was accepted";
    } catch (const KeystoreError& e) {
      EXPECT_EQ(e.kind(), KeystoreErrorKind::kMalformed) << e.what();
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
      for (char c : std::string(e.what())) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << e.what();
    }
  }
}

TEST(Keystore, MissingFileIsUnreadableAndNamed) {
  std::vector<std::string> warnings;
  try {
    (void)load_keystore("/nonexistent/UTC--x", password(kPassword), warnings);
    ADD_FAILURE() << "loaded a missing file";
  } catch (const KeystoreError& e) {
    EXPECT_EQ(e.kind(), KeystoreErrorKind::kUnreadable);
    EXPECT_NE(std::string(e.what()).find("keystore file /nonexistent/UTC--x"), std::string::npos)
        << e.what();
  }
}

TEST(Keystore, WarnsWhenOthersCanReadTheFile) {
  const testing::TempDir dir;
  const OwnKeystore own = own_keystore();
  const auto path = dir / "UTC--k";
  testing::write_file(path, own.doc.dump());
  std::vector<std::string> warnings;
  (void)load_keystore(path, password(kPassword), warnings);
  EXPECT_TRUE(warnings.empty());
  std::filesystem::permissions(path, std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  (void)load_keystore(path, password(kPassword), warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("keystore file " + path.string()), std::string::npos) << warnings[0];
}

// --- scrypt limits --------------------------------------------------------------------------

TEST(ScryptParams, AcceptsGoEthereumsSettingsAndRefusesWhatIsInvalidOrTooCostly) {
  for (const ScryptParams& ok :
       {kStandardScrypt, kLightScrypt, ScryptParams{2, 8, 1}, ScryptParams{1u << 20, 8, 1},
        ScryptParams{1u << 18, 8, 16}, ScryptParams{1u << 18, 1, 8}}) {
    EXPECT_FALSE(scrypt_params_problem(ok)) << ok.n << " " << ok.r << " " << ok.p;
  }
  for (const ScryptParams& bad :
       {ScryptParams{0, 8, 1}, ScryptParams{1, 8, 1}, ScryptParams{3, 8, 1},
        ScryptParams{1u << 18, 0, 1}, ScryptParams{1u << 18, 8, 0},
        ScryptParams{1u << 21, 8, 1} /* 2 GiB */, ScryptParams{1u << 18, 8, 17} /* work */,
        ScryptParams{2, 1u << 16, 1u << 14} /* r*p = 2^30 */}) {
    EXPECT_TRUE(scrypt_params_problem(bad)) << bad.n << " " << bad.r << " " << bad.p;
  }
}

// --- our writer -----------------------------------------------------------------------------

TEST(Keystore, WhatWeWriteReadsBackToTheSameKeyInGoEthereumsLayout) {
  const crypto::KeyRing ring = crypto::KeyRing::generate(2);
  const std::regex uuid_v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  const std::regex hex64("[0-9a-f]{64}");
  for (const crypto::SigningKey& key : ring.keys()) {
    const std::string text = encrypt_keystore(key.private_key, password(kPassword), kLightScrypt);
    const crypto::PrivateKey back = decrypt_keystore(text, password(kPassword), "ours");
    EXPECT_EQ(private_hex(back), private_hex(key.private_key));
    // Layout and key order as go-ethereum's json.Marshal writes them.
    const json doc = json::parse(text);
    EXPECT_EQ(text.rfind("{\"address\":\"", 0), 0u) << text;
    EXPECT_NE(text.find("\"crypto\":{\"cipher\":\"aes-128-ctr\",\"ciphertext\":\""),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("\"kdf\":\"scrypt\",\"kdfparams\":{\"dklen\":32,\"n\":4096,\"p\":6,"
                        "\"r\":8,\"salt\":\""),
              std::string::npos)
        << text;
    EXPECT_EQ("0x" + doc["address"].get<std::string>(), [&] {
      std::string lower = key.address;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return lower;
    }());
    EXPECT_EQ(doc["version"], 3);
    EXPECT_TRUE(std::regex_match(doc["id"].get<std::string>(), uuid_v4)) << doc["id"];
    EXPECT_TRUE(std::regex_match(doc["crypto"]["kdfparams"]["salt"].get<std::string>(), hex64));
    EXPECT_TRUE(std::regex_match(doc["crypto"]["mac"].get<std::string>(), hex64));
    EXPECT_TRUE(std::regex_match(doc["crypto"]["ciphertext"].get<std::string>(), hex64));
    EXPECT_EQ(doc["crypto"]["cipherparams"]["iv"].get<std::string>().size(), 32u);
    expect_no_secret(text, {kPassword, private_hex(key.private_key)});
  }
}

TEST(Keystore, EveryEncryptionHasAFreshSaltIvAndId) {
  const crypto::KeyRing ring = crypto::KeyRing::generate(1);
  const json a =
      json::parse(encrypt_keystore(ring.at(0).private_key, password(kPassword), kTestScrypt));
  const json b =
      json::parse(encrypt_keystore(ring.at(0).private_key, password(kPassword), kTestScrypt));
  EXPECT_NE(a["crypto"]["kdfparams"]["salt"], b["crypto"]["kdfparams"]["salt"]);
  EXPECT_NE(a["crypto"]["cipherparams"]["iv"], b["crypto"]["cipherparams"]["iv"]);
  EXPECT_NE(a["crypto"]["ciphertext"], b["crypto"]["ciphertext"]);
  EXPECT_NE(a["id"], b["id"]);
}

TEST(Keystore, WriterRefusesAnEmptyPasswordAndInvalidScryptParams) {
  const crypto::KeyRing ring = crypto::KeyRing::generate(1);
  EXPECT_THROW((void)encrypt_keystore(ring.at(0).private_key, Password(), kTestScrypt),
               std::invalid_argument);
  EXPECT_THROW((void)encrypt_keystore(ring.at(0).private_key, password(kPassword), {1000, 8, 1}),
               std::invalid_argument);
}

TEST(KeystoreFileName, IsGoEthereumsUtcStampAndLowercaseAddress) {
  using namespace std::chrono;
  const auto when = sys_days{year{2016} / 3 / 22} + hours{12} + minutes{57} + seconds{55} +
                    nanoseconds{920751759};
  // The name of go-ethereum's own test file for this address and instant.
  EXPECT_EQ(keystore_file_name("0x7EF5a6135f1fd6a02593eedc869c6d41d934aef8",
                               time_point_cast<system_clock::duration>(when)),
            "UTC--2016-03-22T12-57-55.920751759Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8");
  EXPECT_EQ(
      keystore_file_name("7ef5a6135f1fd6a02593eedc869c6d41d934aef8",
                         time_point_cast<system_clock::duration>(sys_days{year{2024} / 1 / 2})),
      "UTC--2024-01-02T00-00-00.000000000Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8");
  EXPECT_THROW((void)keystore_file_name("0x1234", system_clock::now()), std::invalid_argument);
}

// --- password sources -----------------------------------------------------------------------

std::string read_from_file(const std::string& content, std::vector<std::string>& warnings,
                           const testing::TempDir& dir) {
  const auto path = dir / "password";
  testing::write_file(path, content);
  return text_of(read_password_source(PasswordSource::file(path.string()), warnings));
}

TEST(Password, FileIsOneLineWithOneTrailingNewlineStripped) {
  const testing::TempDir dir;
  std::vector<std::string> warnings;
  EXPECT_EQ(read_from_file("s3cret\n", warnings, dir), "s3cret");
  EXPECT_EQ(read_from_file("s3cret\r\n", warnings, dir), "s3cret");
  EXPECT_EQ(read_from_file("s3cret", warnings, dir), "s3cret");
  EXPECT_EQ(read_from_file(" s3 cret \n", warnings, dir), " s3 cret ");  // spaces are password
  EXPECT_EQ(read_from_file("", warnings, dir), "");
  EXPECT_TRUE(warnings.empty());
}

TEST(Password, MultiLineFileIsRefusedWithoutQuotingIt) {
  const testing::TempDir dir;
  std::vector<std::string> warnings;
  for (const char* content : {"line-one-aa\nline-two-bb\n", "line-one-aa\n\n", "line-one-aa\r"}) {
    try {
      (void)read_from_file(content, warnings, dir);
      ADD_FAILURE() << "accepted a multi-line password file";
    } catch (const PasswordError& e) {
      EXPECT_NE(std::string(e.what()).find("password file " + (dir / "password").string()),
                std::string::npos)
          << e.what();
      expect_no_secret(e.what(), {"line-one-aa", "line-two-bb"});
    }
  }
}

TEST(Password, MissingFileNamesIt) {
  std::vector<std::string> warnings;
  try {
    (void)read_password_source(PasswordSource::file("/nonexistent/pw"), warnings);
    ADD_FAILURE() << "read a missing file";
  } catch (const PasswordError& e) {
    EXPECT_NE(std::string(e.what()).find("password file /nonexistent/pw"), std::string::npos)
        << e.what();
  }
}

TEST(Password, WarnsWhenOthersCanReadTheFile) {
  const testing::TempDir dir;
  const auto path = dir / "password";
  testing::write_file(path, "pw\n",
                      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                          std::filesystem::perms::others_read);
  std::vector<std::string> warnings;
  (void)read_password_source(PasswordSource::file(path.string()), warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("password file " + path.string()), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("mode 0604"), std::string::npos) << warnings[0];
}

TEST(Password, EnvironmentVariableIsReadByNameAndMustBeSet) {
  const char* name = "SIGNER_TEST_KEYSTORE_PASSWORD";
  std::vector<std::string> warnings;
  ::setenv(name, "from-env-91\n", 1);
  EXPECT_EQ(text_of(read_password_source(PasswordSource::environment(name), warnings)),
            "from-env-91");
  ::setenv(name, "", 1);
  EXPECT_TRUE(read_password_source(PasswordSource::environment(name), warnings).empty());
  ::setenv(name, "two\nlines", 1);
  EXPECT_THROW((void)read_password_source(PasswordSource::environment(name), warnings),
               PasswordError);
  ::unsetenv(name);
  try {
    (void)read_password_source(PasswordSource::environment(name), warnings);
    ADD_FAILURE() << "read an unset variable";
  } catch (const PasswordError& e) {
    EXPECT_EQ(std::string(e.what()),
              "environment variable SIGNER_TEST_KEYSTORE_PASSWORD is not set");
  }
  EXPECT_THROW((void)read_password_source(PasswordSource::environment(""), warnings),
               PasswordError);
}

TEST(Password, MoveLeavesTheSourceEmpty) {
  Password a = password("moved-pw");
  Password b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the emptiness is the contract
  EXPECT_EQ(text_of(b), "moved-pw");
  Password c = password("old");
  c = std::move(b);
  EXPECT_EQ(text_of(c), "moved-pw");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
}

// --- a ring of keystores --------------------------------------------------------------------

class KeystoreRing : public ::testing::Test {
 protected:
  // Writes a keystore of `key` under `pass` to DIR/name and a password file for it.
  KeystoreSource write(const std::string& name, const crypto::PrivateKey& key,
                       const std::string& pass) {
    testing::write_file(dir_ / name, encrypt_keystore(key, password(pass), kTestScrypt));
    testing::write_file(dir_ / (name + ".pw"), pass + "\n");
    return {dir_ / name, PasswordSource::file((dir_ / (name + ".pw")).string())};
  }
  testing::TempDir dir_;
};

TEST_F(KeystoreRing, LoadsKeystoresInTheGivenOrder) {
  const crypto::KeyRing generated = crypto::KeyRing::generate(2);
  const std::vector<KeystoreSource> sources = {write("b", generated.at(1).private_key, "pw-b"),
                                               write("a", generated.at(0).private_key, "pw-a")};
  std::vector<std::string> warnings;
  const crypto::KeyRing ring = load_keystore_ring(sources, warnings);
  ASSERT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.at(0).public_key, generated.at(1).public_key);
  EXPECT_EQ(ring.at(1).public_key, generated.at(0).public_key);
  EXPECT_EQ(ring.at(1).address, generated.at(0).address);
}

TEST_F(KeystoreRing, NamesTheKeystoreThatFails) {
  const crypto::KeyRing generated = crypto::KeyRing::generate(2);
  std::vector<KeystoreSource> sources = {write("a", generated.at(0).private_key, "pw-a"),
                                         write("b", generated.at(1).private_key, "pw-b")};
  sources[1].password = sources[0].password;  // b with a's password
  std::vector<std::string> warnings;
  try {
    (void)load_keystore_ring(sources, warnings);
    ADD_FAILURE() << "loaded with a wrong password";
  } catch (const KeystoreError& e) {
    EXPECT_EQ(e.kind(), KeystoreErrorKind::kWrongPassword);
    EXPECT_EQ(e.file(), sources[1].file.string());
  }
  sources[1] = write("a-again", generated.at(0).private_key, "pw-again");
  try {
    (void)load_keystore_ring(sources, warnings);
    ADD_FAILURE() << "loaded the same key twice";
  } catch (const crypto::KeyRingError& e) {
    EXPECT_NE(std::string(e.what()).find(sources[1].file.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("duplicate"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)load_keystore_ring({}, warnings), crypto::KeyRingError);
}

}  // namespace
}  // namespace signer::keys
