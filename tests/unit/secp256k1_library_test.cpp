// The signatures do not depend on the libsecp256k1 version (RFC 6979 nonces, low S), and the
// binary says which library it signs with.
//
// testdata/pinned_signatures.ndjson holds 18 signatures made by go-ethereum v1.17.10's
// crypto.Sign (cgo and pure-Go backends gave the same bytes) over fixed keys (1, 2, n-1, about
// n/2 and two others), fixed UUIDv4 salts and fixed messages (empty, ASCII, UTF-8 with a 4-byte
// character, 200 bytes, JSON escapes). tests/compat (TestPinnedSignatures) checks go-ethereum
// still makes every one of them; here our sign path must reproduce them byte for byte, whatever
// libsecp256k1 the build links.
#include <gtest/gtest.h>

#include <set>

#include "crypto/hex.h"
#include "crypto/message_signer.h"
#include "crypto/secp256k1_library.h"
#include "test_support.h"

namespace signer::crypto {
namespace {

std::vector<nlohmann::json> pinned_signatures() {
  std::vector<nlohmann::json> out;
  std::istringstream in(testing::read_file(std::filesystem::path(SIGNER_UNIT_TESTDATA_DIR) /
                                           "pinned_signatures.ndjson"));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

PrivateKey key_from_hex(std::string_view text) {
  strip_hex_prefix(text);
  std::array<std::uint8_t, 32> bytes{};
  EXPECT_TRUE(decode_hex(text, bytes));
  return PrivateKey(bytes);
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

TEST(Secp256k1Library, DescribeNamesTheVersionAndLinkage) {
  EXPECT_EQ(describe({"0.7.1", "static", "0.7.0", true}), "libsecp256k1 0.7.1 (static)");
}

TEST(Secp256k1Library, DescribeFlagsAnOldLibrary) {
  EXPECT_EQ(describe({"0.2.0", "shared", "0.7.0", false}),
            "libsecp256k1 0.2.0 (shared) OLD: older than 0.7.0, not the library measured "
            "against go-ethereum");
}

TEST(Secp256k1Library, ThisBuildNamesAVersionAndALinkage) {
  const Secp256k1Library library = secp256k1_library();
  EXPECT_FALSE(library.version.empty());
  EXPECT_TRUE(library.linkage == "static" || library.linkage == "shared") << library.linkage;
  EXPECT_EQ(library.minimum_version, "0.7.0");
}

}  // namespace
}  // namespace signer::crypto
