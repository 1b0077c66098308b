// KeyRing: one test per rejection rule of keys.csv, plus order, selectors and file hygiene.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <vector>

#include "crypto/hex.h"
#include "crypto/key_file_buffer.h"
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
  // Public key without 0x, on line 2. (Appending, not "\n" + …: GCC 12's -Wrestrict false
  // positive on operator+(const char*, string&&), PR 105329, fires once this file inlines more.)
  std::string csv = "\n";
  csv += line.substr(2);
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

// The warnings about the file's mode, without the mlock one (which depends on the machine).
std::vector<std::string> mode_warnings(const std::vector<std::string>& warnings) {
  std::vector<std::string> out;
  for (const auto& w : warnings) {
    if (w.find("has mode") != std::string::npos) out.push_back(w);
  }
  return out;
}

TEST(KeyRing, ModeRuleIsQuietForOwnerOnlyAndTheReadOnlySecretMount) {
  for (unsigned mode : {0600u, 0400u, 0440u, 0640u}) {
    EXPECT_FALSE(key_file_mode_warning("keys.csv", mode)) << std::oct << mode;
  }
}

TEST(KeyRing, ModeRuleWarnsForGroupOrOtherWriteAndOtherRead) {
  for (unsigned mode : {0644u, 0664u, 0604u, 0620u, 0602u, 0666u, 0610u}) {
    const auto warning = key_file_mode_warning("keys.csv", mode);
    ASSERT_TRUE(warning) << std::oct << mode;
    std::ostringstream octal;
    octal << "mode 0" << std::oct << mode;
    EXPECT_NE(warning->find(octal.str()), std::string::npos) << *warning;
  }
}

TEST(KeyRing, LoadFileWarnsForA0644FileButNotA0440One) {
  testing::TempDir dir;
  const auto path = dir / "keys.csv";
  testing::write_file(path, vector_line() + "\n");
  namespace fs = std::filesystem;
  std::vector<std::string> warnings;
  fs::permissions(path, fs::perms::owner_read | fs::perms::group_read);
  (void)KeyRing::load_file(path, warnings);
  EXPECT_TRUE(mode_warnings(warnings).empty()) << warnings.front();
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read);
  warnings.clear();
  (void)KeyRing::load_file(path, warnings);
  ASSERT_EQ(mode_warnings(warnings).size(), 1u);
  EXPECT_NE(warnings[0].find("0644"), std::string::npos) << warnings[0];
}

// The VmFlags of the /proc/self/smaps mapping that holds `address`, or "" when none does.
std::string vm_flags_of(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  const auto target = reinterpret_cast<std::uintptr_t>(address);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    char dash = 0;
    std::istringstream header(line);
    if (header >> std::hex >> start >> dash >> end && dash == '-' &&
        line.find(':') > line.find(' ')) {
      inside = target >= start && target < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line.substr(8) + " ";
    }
  }
  return "";
}

TEST(KeyRing, PrivateKeyPagesAreDontDumpAndLockedWhenMlockSucceeded) {
  const KeyRing ring = KeyRing::parse(vector_line() + "\n" + vector_line(3) + "\n");
  for (std::size_t i = 0; i < ring.size(); ++i) {
    const std::string flags = vm_flags_of(ring.at(i).private_key.data());
    ASSERT_FALSE(flags.empty()) << "no mapping holds key " << i;
    EXPECT_NE(flags.find(" dd "), std::string::npos) << flags;
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    // The sanitizers intercept mlock() as a no-op that reports success, so only a plain build
    // can see the lock.
    if (ring.memory_locked()) {
      EXPECT_NE(flags.find(" lo "), std::string::npos) << flags;
    }
#endif
  }
  // Keygen's keys too.
  const KeyRing generated = KeyRing::generate(2);
  EXPECT_NE(vm_flags_of(generated.at(1).private_key.data()).find(" dd "), std::string::npos);
}

TEST(KeyRing, LoadFileWipesTheReadBufferAfterParsing) {
  testing::TempDir dir;
  const auto path = dir / "keys.csv";
  testing::write_file(path, vector_line() + "\n");
  KeyFileBuffer buffer;
  std::vector<std::string> warnings;
  const KeyRing ring = KeyRing::load_file(path, warnings, buffer);
  ASSERT_EQ(ring.size(), 1u);
  ASSERT_FALSE(buffer.storage().empty());
  EXPECT_TRUE(buffer.text().empty());
  EXPECT_TRUE(std::all_of(buffer.storage().begin(), buffer.storage().end(),
                          [](std::uint8_t b) { return b == 0; }));
}

TEST(KeyRing, LoadFileWipesTheReadBufferWhenTheFileIsRejected) {
  testing::TempDir dir;
  const auto path = dir / "keys.csv";
  testing::write_file(path, vector_line() + "\n" + vector_line() + "\n");  // duplicate key
  KeyFileBuffer buffer;
  std::vector<std::string> warnings;
  EXPECT_THROW((void)KeyRing::load_file(path, warnings, buffer), KeyRingError);
  ASSERT_FALSE(buffer.storage().empty());
  EXPECT_TRUE(std::all_of(buffer.storage().begin(), buffer.storage().end(),
                          [](std::uint8_t b) { return b == 0; }));
}

TEST(KeyFileBuffer, ReadsTheWholeFileIntoDontDumpPagesAndWipesThem) {
  testing::TempDir dir;
  const auto path = dir / "keys.csv";
  const std::string content = vector_line() + "\n";
  testing::write_file(path, content);
  KeyFileBuffer buffer;
  std::string error;
  ASSERT_TRUE(buffer.read(path, error)) << error;
  EXPECT_EQ(buffer.text(), content);
  EXPECT_NE(vm_flags_of(buffer.storage().data()).find(" dd "), std::string::npos);
  buffer.wipe();
  EXPECT_TRUE(buffer.text().empty());
  EXPECT_TRUE(std::all_of(buffer.storage().begin(), buffer.storage().end(),
                          [](std::uint8_t b) { return b == 0; }));
  EXPECT_FALSE(buffer.read(dir / "missing.csv", error));
  EXPECT_NE(error.find("missing.csv"), std::string::npos) << error;
}

TEST(KeyRing, MoveAssignmentKeepsTheKeysUsable) {
  KeyRing ring = KeyRing::generate(1);
  const std::string pub = KeyRing::parse(vector_line()).at(0).public_key;
  ring = KeyRing::parse(vector_line());
  EXPECT_EQ(ring.at(0).public_key, pub);
  EXPECT_FALSE(ring.at(0).private_key.is_wiped());
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

TEST(KeyRing, FromPrivateKeysKeepsTheirOrder) {
  const KeyRing source = KeyRing::parse(vector_line(6) + "\n" + vector_line(0) + "\n");
  std::vector<PrivateKey> keys;
  for (const SigningKey& k : source.keys()) {
    keys.emplace_back(
        std::span<const std::uint8_t, PrivateKey::kSize>(k.private_key.data(), PrivateKey::kSize));
  }
  const KeyRing ring = KeyRing::from_private_keys(std::move(keys));
  ASSERT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.at(0).public_key, source.at(0).public_key);
  EXPECT_EQ(ring.at(1).public_key, source.at(1).public_key);
  EXPECT_EQ(ring.at(1).address, source.at(1).address);
  EXPECT_FALSE(ring.at(0).private_key.is_wiped());
}

TEST(KeyRing, FromPrivateKeysRejectsAnInvalidKeyADuplicateAndNoKeys) {
  const auto key_of = [](const std::string& priv_hex) {
    std::array<std::uint8_t, PrivateKey::kSize> bytes{};
    EXPECT_TRUE(decode_hex(std::string_view(priv_hex).substr(2), bytes));
    return PrivateKey(bytes);
  };
  const auto error_of = [](std::vector<PrivateKey> keys) {
    try {
      (void)KeyRing::from_private_keys(std::move(keys));
    } catch (const KeyRingError& e) {
      return e;
    }
    ADD_FAILURE() << "from_private_keys accepted the keys";
    return KeyRingError("", 0);
  };
  std::vector<PrivateKey> with_zero;
  with_zero.push_back(key_of(private_hex(0)));
  with_zero.push_back(PrivateKey(std::array<std::uint8_t, PrivateKey::kSize>{}));
  const KeyRingError zero = error_of(std::move(with_zero));
  EXPECT_EQ(zero.line(), 2u);
  EXPECT_NE(std::string(zero.what()).find("key 2: zero or not below"), std::string::npos)
      << zero.what();

  std::vector<PrivateKey> twice;
  twice.push_back(key_of(private_hex(0)));
  twice.push_back(key_of(private_hex(3)));  // vectors 0-2, 3-5 and 6-8 share a key
  twice.push_back(key_of(private_hex(0)));
  const KeyRingError duplicate = error_of(std::move(twice));
  EXPECT_EQ(duplicate.line(), 3u);
  EXPECT_NE(std::string(duplicate.what()).find("duplicate"), std::string::npos);
  EXPECT_EQ(std::string(duplicate.what()).find(private_hex(0).substr(2)), std::string::npos);

  EXPECT_EQ(error_of({}).line(), 0u);
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
