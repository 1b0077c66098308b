// KeyRing: one test per rejection rule of keys.csv, plus order, selectors and file hygiene.
#include <gtest/gtest.h>

#include "crypto/key_ring.h"
#include "test_support.h"

namespace signer::crypto {
namespace {

// A valid line built from the first shared vector.
std::string vector_line(std::size_t i = 0) {
  const auto v = testing::deterministic_vectors().at(i);
  return v["key"].get<std::string>() + "," + v["priv"].get<std::string>();
}

std::string private_hex(std::size_t i = 0) {
  return testing::deterministic_vectors().at(i)["priv"].get<std::string>();
}

// Returns the KeyRingError parse() throws for `csv`.
KeyRingError parse_error(const std::string& csv) {
  try {
    (void)KeyRing::parse(csv);
  } catch (const KeyRingError& e) {
    return e;
  }
  ADD_FAILURE() << "parse accepted: " << csv;
  return KeyRingError("", 0);
}

// The error must name the line and must not contain the private key text.
void expect_safe_error(const KeyRingError& e, std::size_t line, const std::string& secret) {
  EXPECT_EQ(e.line(), line) << e.what();
  EXPECT_NE(std::string(e.what()).find("line " + std::to_string(line)), std::string::npos)
      << e.what();
  const std::string bare = secret.substr(2);
  EXPECT_EQ(std::string(e.what()).find(bare), std::string::npos) << "error leaks the key";
}

TEST(KeyRing, LoadsKeysInFileOrder) {
  std::string csv;
  for (std::size_t i : {3u, 0u}) csv += vector_line(i) + "\n";
  const KeyRing ring = KeyRing::parse(csv);
  ASSERT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.at(0).public_key, testing::deterministic_vectors()[3]["key"]);
  EXPECT_EQ(ring.at(1).public_key, testing::deterministic_vectors()[0]["key"]);
}

TEST(KeyRing, ToleratesCrlfBlankLinesAndUppercaseHex) {
  std::string line = vector_line();
  for (std::size_t i = 4; i < line.size(); ++i) line[i] = static_cast<char>(std::toupper(line[i]));
  line[1] = 'x';
  const KeyRing ring = KeyRing::parse("\n" + line + "\r\n\n");
  EXPECT_EQ(ring.size(), 1u);
}

TEST(KeyRing, RejectsMissingHexPrefix) {
  const std::string line = vector_line();
  const std::string csv = "\n" + line.substr(2);  // public key without 0x, on line 2
  expect_safe_error(parse_error(csv), 2, private_hex());
}

TEST(KeyRing, RejectsBadHexInPrivateKey) {
  std::string line = vector_line();
  line[line.size() - 5] = 'z';
  expect_safe_error(parse_error(line), 1, private_hex());
}

TEST(KeyRing, RejectsWrongLengthPrivateKey) {
  expect_safe_error(parse_error(vector_line() + "ab"), 1, private_hex());
}

TEST(KeyRing, RejectsWrongLengthPublicKey) {
  const std::string line = vector_line();
  expect_safe_error(parse_error(line.substr(0, 10) + line.substr(12)), 1, private_hex());
}

TEST(KeyRing, RejectsLineWithoutTwoFields) {
  expect_safe_error(parse_error(vector_line() + "," + private_hex()), 1, private_hex());
  expect_safe_error(parse_error(testing::deterministic_vectors()[0]["key"].get<std::string>()), 1,
                    private_hex());
}

TEST(KeyRing, RejectsPublicKeyThatDoesNotMatchPrivateKey) {
  const auto v = testing::deterministic_vectors();
  const std::string other_key = v[3]["key"].get<std::string>();
  ASSERT_NE(other_key, v[0]["key"].get<std::string>());
  const std::string csv = vector_line(0) + "\n" + other_key + "," + private_hex(0) + "\n";
  const KeyRingError e = parse_error(csv);
  expect_safe_error(e, 2, private_hex());
  EXPECT_NE(std::string(e.what()).find("does not match"), std::string::npos);
}

TEST(KeyRing, RejectsDuplicateKey) {
  const KeyRingError e = parse_error(vector_line() + "\n" + vector_line() + "\n");
  expect_safe_error(e, 2, private_hex());
  EXPECT_NE(std::string(e.what()).find("duplicate"), std::string::npos);
}

TEST(KeyRing, RejectsZeroPrivateKey) {
  const std::string pub = testing::deterministic_vectors()[0]["key"].get<std::string>();
  const KeyRingError e = parse_error(pub + ",0x" + std::string(64, '0'));
  EXPECT_EQ(e.line(), 1u);
  EXPECT_NE(std::string(e.what()).find("zero or not below"), std::string::npos);
}

TEST(KeyRing, RejectsPrivateKeyAtOrAboveCurveOrder) {
  const std::string pub = testing::deterministic_vectors()[0]["key"].get<std::string>();
  for (const char* scalar : {"fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
                             "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"}) {
    const KeyRingError e = parse_error(pub + ",0x" + scalar);
    EXPECT_EQ(e.line(), 1u);
    EXPECT_NE(std::string(e.what()).find("curve order"), std::string::npos);
  }
}

TEST(KeyRing, RejectsEmptyFile) {
  EXPECT_EQ(parse_error("").line(), 0u);
  EXPECT_NE(std::string(parse_error("\n\n  \n").what()).find("no keys"), std::string::npos);
}

TEST(KeyRing, WarnsWhenFileIsGroupOrWorldReadable) {
  testing::TempDir dir;
  const auto path = dir / "keys.csv";
  testing::write_file(path, vector_line() + "\n");
  std::vector<std::string> warnings;
  (void)KeyRing::load_file(path, warnings);
  EXPECT_TRUE(warnings.empty());
  std::filesystem::permissions(
      path, std::filesystem::perms::group_read | std::filesystem::perms::others_read,
      std::filesystem::perm_options::add);
  (void)KeyRing::load_file(path, warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("0644"), std::string::npos) << warnings[0];
}

TEST(KeyRing, MissingFileIsAClearError) {
  std::vector<std::string> warnings;
  EXPECT_THROW((void)KeyRing::load_file("/nonexistent/keys.csv", warnings), KeyRingError);
}

TEST(KeyRing, GeneratedRingRoundTripsThroughCsv) {
  const KeyRing ring = KeyRing::generate(5);
  std::string csv = ring.to_csv();
  const KeyRing again = KeyRing::parse(csv);
  secure_zero(csv.data(), csv.size());
  ASSERT_EQ(again.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(again.at(i).public_key, ring.at(i).public_key);
}

TEST(KeyRing, FindsKeysByIndexOrPublicKey) {
  const KeyRing ring = KeyRing::generate(3);
  EXPECT_EQ(ring.find("2"), 2u);
  EXPECT_EQ(ring.find("3"), std::nullopt);
  EXPECT_EQ(ring.find("-1"), std::nullopt);
  EXPECT_EQ(ring.find("99999999999999999999999"), std::nullopt);
  EXPECT_EQ(ring.find(ring.at(1).public_key), 1u);
  std::string upper = ring.at(1).public_key;
  for (std::size_t i = 2; i < upper.size(); ++i)
    upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_EQ(ring.find(upper), 1u);
  EXPECT_EQ(ring.find("0x04" + std::string(128, '0')), std::nullopt);
  EXPECT_EQ(ring.find(""), std::nullopt);
}

TEST(KeyRing, AddressIsEip55OfTheKeccakOfThePublicKey) {
  // Known pair: private key 1 has address 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf.
  std::array<std::uint8_t, 32> one{};
  one[31] = 1;
  const std::string csv_pub =
      "0x0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
      "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";
  const KeyRing ring = KeyRing::parse(csv_pub + ",0x" + std::string(63, '0') + "1");
  EXPECT_EQ(ring.at(0).address, "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
}

}  // namespace
}  // namespace signer::crypto
