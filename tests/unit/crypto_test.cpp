// Known answers and properties of the crypto core: Keccak-256, signing against the shared
// go-ethereum vectors, recovery-based verification and its rejections, salts, key hygiene.
#include <gtest/gtest.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <random>
#include <regex>
#include <set>

#include "crypto/hex.h"
#include "crypto/keccak.h"
#include "crypto/key_ring.h"
#include "crypto/message_signer.h"
#include "crypto/rfc6979_nonce.h"
#include "crypto/salt_generator.h"
#include "crypto/signature_verifier.h"
#include "test_support.h"

namespace signer::crypto {
namespace {

std::string hex(const Hash256& h) {
  std::string out;
  append_hex(out, h);
  return out;
}

PrivateKey key_from_hex(std::string_view text) {
  strip_hex_prefix(text);
  std::array<std::uint8_t, 32> bytes{};
  EXPECT_TRUE(decode_hex(text, bytes));
  return PrivateKey(bytes);
}

TEST(Keccak, EmptyInputKnownAnswer) {
  EXPECT_EQ(hex(keccak256({})), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
}

TEST(Keccak, AbcKnownAnswerIsNotSha3) {
  const std::string abc = "abc";
  const auto h = keccak256(std::span(reinterpret_cast<const std::uint8_t*>(abc.data()), 3));
  EXPECT_EQ(hex(h), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
  // SHA3-256("abc") differs: the padding byte is what Ethereum depends on.
  EXPECT_NE(hex(h), "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
}

TEST(Keccak, ConcatEqualsHashOfJoinedBytes) {
  const std::string joined = "b001ebc1-f2f7-44de-b5ff-1da0b16af05bhello";
  EXPECT_EQ(
      keccak256_concat("b001ebc1-f2f7-44de-b5ff-1da0b16af05b", "hello"),
      keccak256(std::span(reinterpret_cast<const std::uint8_t*>(joined.data()), joined.size())));
}

TEST(Keccak, LongInputCrossesTheRateBoundary) {
  // 200 bytes > the 136-byte rate: exercises absorbing more than one block.
  const std::string data(200, 'a');
  EXPECT_EQ(
      hex(keccak256_concat(data.substr(0, 137), data.substr(137))),
      hex(keccak256(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()))));
}

TEST(MessageSigner, ReproducesEverySharedVectorByteForByte) {
  const MessageSigner signer;
  const auto vectors = testing::deterministic_vectors();
  ASSERT_GE(vectors.size(), 3u);
  for (const auto& v : vectors) {
    const PrivateKey key = key_from_hex(v["priv"].get<std::string>());
    EXPECT_EQ(signer.sign_salted(key, v["salt"].get<std::string>(), v["msg"].get<std::string>()),
              v["sign"].get<std::string>());
    EXPECT_EQ(to_prefixed_hex(signer.public_key(key)), v["key"].get<std::string>());
  }
}

// testdata/pinned_signatures.ndjson holds 18 signatures made by go-ethereum v1.17.10's
// crypto.Sign (cgo and pure-Go backends gave the same bytes) over fixed keys (1, 2, n-1, about
// n/2 and two others), fixed UUIDv4 salts and fixed messages (empty, ASCII, UTF-8 with a 4-byte
// character, 200 bytes, JSON escapes). RFC 6979 nonces and low S do not depend on the
// libsecp256k1 version, so our sign path must reproduce them byte for byte whatever library the
// build links (issue 21); tests/compat's TestPinnedSignatures checks go-ethereum still makes them.
std::vector<nlohmann::json> pinned_signatures() {
  return testing::read_ndjson(std::filesystem::path(SIGNER_UNIT_TESTDATA_DIR) /
                              "pinned_signatures.ndjson");
}

TEST(PinnedSignatures, FixedKeysSaltsAndMessagesSignToThePinnedBytes) {
  const auto vectors = pinned_signatures();
  ASSERT_EQ(vectors.size(), 18u) << "the pinned file lost or gained lines";
  const MessageSigner signer;
  for (const auto& v : vectors) {
    const PrivateKey key = key_from_hex(v["priv"].get<std::string>());
    const std::string salt = v["salt"].get<std::string>();
    const std::string msg = v["msg"].get<std::string>();
    EXPECT_EQ(signer.sign_salted(key, salt, msg), v["sign"].get<std::string>())
        << "key " << v["key"].get<std::string>() << " salt " << salt << " msg " << msg;
    EXPECT_EQ(to_prefixed_hex(signer.public_key(key)), v["key"].get<std::string>());
  }
}

TEST(PinnedSignatures, CoverTheEdgeKeysAndBothRecoveryIds) {
  std::set<std::string> keys;
  std::set<std::string> recovery_ids;
  for (const auto& v : pinned_signatures()) {
    keys.insert(v["priv"].get<std::string>());
    recovery_ids.insert(v["sign"].get<std::string>().substr(130));
  }
  EXPECT_TRUE(keys.contains("0x0000000000000000000000000000000000000000000000000000000000000001"));
  EXPECT_TRUE(keys.contains("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140"));
  EXPECT_EQ(recovery_ids, (std::set<std::string>{"00", "01"}));
}

// crypto/rfc6979_nonce against the function it stands in for, libsecp256k1's own
// secp256k1_nonce_function_rfc6979: the same 32 bytes for every input the library can pass.
class Rfc6979Nonce : public ::testing::Test {
 protected:
  using Bytes32 = std::array<unsigned char, 32>;
  Bytes32 random32() {
    Bytes32 out;
    for (auto& b : out) b = static_cast<unsigned char>(rng_());
    return out;
  }
  // Both functions' nonces for one input; each call starts from a filled output buffer.
  static void expect_same(const Bytes32& msg, const Bytes32& key, const unsigned char* algo16,
                          void* data, unsigned counter) {
    Bytes32 theirs;
    Bytes32 ours;
    theirs.fill(0xAA);
    ours.fill(0x55);
    ASSERT_EQ(secp256k1_nonce_function_rfc6979(theirs.data(), msg.data(), key.data(), algo16, data,
                                               counter),
              1);
    ASSERT_EQ(rfc6979_nonce(ours.data(), msg.data(), key.data(), algo16, data, counter), 1);
    EXPECT_EQ(ours, theirs) << "counter " << counter << (data ? ", with data" : "")
                            << (algo16 ? ", with algo16" : "");
  }
  std::mt19937_64 rng_{20261206};
};

TEST_F(Rfc6979Nonce, MatchesLibsecp256k1OnRandomInputsCountersDataAndAlgorithmNames) {
  for (int i = 0; i < 2000; ++i) {
    const Bytes32 msg = random32();
    const Bytes32 key = random32();
    Bytes32 data = random32();
    const Bytes32 algo = random32();  // the first 16 bytes
    const unsigned counter = static_cast<unsigned>(i % 5);
    expect_same(msg, key, nullptr, nullptr, counter);
    expect_same(msg, key, nullptr, data.data(), counter);
    expect_same(msg, key, algo.data(), nullptr, counter);
    expect_same(msg, key, algo.data(), data.data(), counter);
  }
}

TEST_F(Rfc6979Nonce, ReducesMessagesAtAndAboveTheGroupOrderAsLibsecp256k1Does) {
  const Bytes32 order = testing::kSecp256k1Order;
  Bytes32 below = order;
  below[31] = 0x40;
  Bytes32 above = order;
  above[31] = 0x42;
  Bytes32 all_ones;
  all_ones.fill(0xFF);
  const Bytes32 zero{};
  const Bytes32 key = random32();
  // n - 1 stays, n becomes 0, n + 1 becomes 1, 2^256 - 1 becomes 2^256 - 1 - n.
  for (const Bytes32& msg : {below, order, above, all_ones, zero}) {
    for (unsigned counter = 0; counter < 3; ++counter) {
      expect_same(msg, key, nullptr, nullptr, counter);
    }
  }
}

TEST(MessageSigner, SignsExactlyAsLibsecp256k1sDefaultNonceFunction) {
  // The sign path's nonce function against the library's default (a null nonce function, as
  // go-ethereum calls it), on random keys and hashes: the signatures must be identical.
  const MessageSigner signer;
  const KeyRing ring = KeyRing::generate(4);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) {
    const SigningKey& k = ring.at(static_cast<std::size_t>(i) % ring.size());
    Hash256 hash;
    for (auto& b : hash) b = static_cast<std::uint8_t>(rng());
    secp256k1_ecdsa_recoverable_signature sig;
    ASSERT_EQ(secp256k1_ecdsa_sign_recoverable(signer.context().get(), &sig, hash.data(),
                                               k.private_key.data(), nullptr, nullptr),
              1);
    Signature65 expected{};
    int recid = 0;
    secp256k1_ecdsa_recoverable_signature_serialize_compact(signer.context().get(), expected.data(),
                                                            &recid, &sig);
    expected[64] = static_cast<std::uint8_t>(recid);
    EXPECT_EQ(signer.sign_hash(k.private_key, hash), expected) << "case " << i;
  }
}

TEST(MessageSigner, RecoversTheKeyOfEverySharedVector) {
  const MessageSigner signer;
  for (const auto& v : testing::deterministic_vectors()) {
    EXPECT_EQ(verify_signature(signer, v["salt"].get<std::string>(), v["msg"].get<std::string>(),
                               v["sign"].get<std::string>(), v["key"].get<std::string>()),
              Verdict::kValid);
  }
}

TEST(MessageSigner, RandomRoundTripsRecoverTheSigner) {
  const MessageSigner signer;
  SaltGenerator salts;
  const KeyRing ring = KeyRing::generate(8);
  for (int i = 0; i < 200; ++i) {
    const SigningKey& k = ring.at(static_cast<std::size_t>(i) % ring.size());
    const std::string salt = salts.next();
    const std::string msg = std::string(static_cast<std::size_t>(i), 'x') + salt;
    const std::string sign = signer.sign_salted(k.private_key, salt, msg);
    ASSERT_EQ(sign.size(), 132u);
    ASSERT_TRUE(sign.ends_with("00") || sign.ends_with("01"));
    EXPECT_EQ(verify_signature(signer, salt, msg, sign, k.public_key), Verdict::kValid);
  }
}

TEST(MessageSigner, RejectsZeroAndOutOfRangeKeys) {
  const MessageSigner signer;
  std::array<std::uint8_t, 32> zero{};
  EXPECT_FALSE(signer.is_valid_private_key(PrivateKey(zero)));
  EXPECT_THROW((void)signer.sign_hash(PrivateKey(zero), Hash256{}), std::invalid_argument);
  EXPECT_FALSE(signer.is_valid_private_key(
      key_from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")));
  EXPECT_TRUE(signer.is_valid_private_key(
      key_from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140")));
}

class SeedRecord : public ::testing::Test {
 protected:
  void SetUp() override {
    record_ = nlohmann::json::parse(
        testing::read_file(testing::shared_dir() / "vectors" / "seed_sample_record.json"));
  }
  Verdict verify(const nlohmann::json& r) const {
    return verify_signature(signer_, r["salt"].get<std::string>(), r["msg"].get<std::string>(),
                            r["sign"].get<std::string>(), r["key"].get<std::string>());
  }
  MessageSigner signer_;
  nlohmann::json record_;
};

TEST_F(SeedRecord, Verifies) { EXPECT_EQ(verify(record_), Verdict::kValid); }

TEST_F(SeedRecord, EachSingleFieldTamperFails) {
  for (const char* field : {"msg", "salt", "sign", "key"}) {
    nlohmann::json tampered = record_;
    std::string value = tampered[field].get<std::string>();
    // Flip one hex digit in the middle of the field.
    char& c = value[value.size() / 2];
    c = (c == '0') ? '1' : '0';
    tampered[field] = value;
    EXPECT_NE(verify(tampered), Verdict::kValid) << field;
  }
}

TEST_F(SeedRecord, HighSFormIsRejected) {
  // S' = n - S with V flipped is the malleable twin of a valid signature.
  std::string sign = record_["sign"].get<std::string>();
  std::array<std::uint8_t, 65> sig{};
  ASSERT_TRUE(decode_hex(std::string_view(sign).substr(2), sig));
  secp256k1_ecdsa_signature s;
  ASSERT_TRUE(secp256k1_ecdsa_signature_parse_compact(signer_.context().get(), &s, sig.data()));
  // Negate S: compute n - S by serialising -s through the library's scalar negation on a key.
  std::array<std::uint8_t, 32> s_bytes{};
  std::copy(sig.begin() + 32, sig.begin() + 64, s_bytes.begin());
  ASSERT_TRUE(secp256k1_ec_seckey_negate(signer_.context().get(), s_bytes.data()));
  std::copy(s_bytes.begin(), s_bytes.end(), sig.begin() + 32);
  sig[64] ^= 1;
  nlohmann::json tampered = record_;
  tampered["sign"] = to_prefixed_hex(sig);
  EXPECT_EQ(verify(tampered), Verdict::kHighS);
}

TEST_F(SeedRecord, RecoveryIdOutside0And1IsRejected) {
  nlohmann::json tampered = record_;
  std::string sign = tampered["sign"].get<std::string>();
  sign.replace(sign.size() - 2, 2, "1b");  // V = 27, the pre-EIP-155 form
  tampered["sign"] = sign;
  EXPECT_EQ(verify(tampered), Verdict::kBadRecoveryId);
}

TEST_F(SeedRecord, MalformedFieldsAreReportedNotThrown) {
  nlohmann::json r = record_;
  r["sign"] = "0x1234";
  EXPECT_EQ(verify(r), Verdict::kMalformedSignature);
  r = record_;
  r["key"] = "0x03" + r["key"].get<std::string>().substr(4);
  EXPECT_EQ(verify(r), Verdict::kMalformedKey);
  r = record_;
  r["sign"] = "0x" + std::string(128, '0') + "00";
  EXPECT_EQ(verify(r), Verdict::kUnrecoverable);
}

TEST(SaltGenerator, ProducesDistinctLowercaseUuidV4) {
  SaltGenerator salts;
  const std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) {  // crosses several 4 KiB refills
    const std::string s = salts.next();
    ASSERT_TRUE(std::regex_match(s, uuid)) << s;
    ASSERT_TRUE(is_uuid_v4(s));
    ASSERT_TRUE(seen.insert(s).second) << "repeated salt " << s;
  }
  EXPECT_FALSE(is_uuid_v4("b001ebc1-f2f7-34de-b5ff-1da0b16af05b"));  // version 3
  EXPECT_FALSE(is_uuid_v4("B001EBC1-F2F7-44DE-B5FF-1DA0B16AF05B"));  // uppercase
}

TEST(PrivateKey, IsWipedWhenMovedFrom) {
  std::array<std::uint8_t, 32> bytes{};
  bytes.fill(0xab);
  PrivateKey a(bytes);
  EXPECT_FALSE(a.is_wiped());
  PrivateKey b(std::move(a));
  EXPECT_TRUE(a.is_wiped());  // NOLINT(bugprone-use-after-move): the wipe is the contract
  EXPECT_FALSE(b.is_wiped());
}

TEST(PrivateKey, DestructorZeroizesItsBytes) {
  std::array<std::uint8_t, 32> bytes{};
  bytes.fill(0x5a);
  alignas(PrivateKey) unsigned char storage[sizeof(PrivateKey)];
  auto* key = new (storage) PrivateKey(bytes);
  key->~PrivateKey();
  for (unsigned char c : storage) EXPECT_EQ(c, 0);
}

TEST(Hex, DecodeRejectsWrongLengthAndBadDigits) {
  std::array<std::uint8_t, 2> out{};
  EXPECT_TRUE(decode_hex("aBcD", out));
  EXPECT_EQ(out[0], 0xab);
  EXPECT_FALSE(decode_hex("abc", out));
  EXPECT_FALSE(decode_hex("abcg", out));
}

// assign_prefixed_hex replaces what the string held, and writes into the buffer it already has.
TEST(Hex, AssignPrefixedHexOverwritesInTheStringsOwnBuffer) {
  const std::array<std::uint8_t, 3> bytes{0x00, 0xab, 0xff};
  std::string out = "left over from before, longer than the result";
  out.reserve(prefixed_hex_size(bytes.size()) + 64);
  const char* buffer = out.data();
  assign_prefixed_hex(out, bytes);
  EXPECT_EQ(out, "0x00abff");
  EXPECT_EQ(out, to_prefixed_hex(bytes));
  EXPECT_EQ(out.data(), buffer);
  EXPECT_EQ(prefixed_hex_size(65), 132u);
}

}  // namespace
}  // namespace signer::crypto
