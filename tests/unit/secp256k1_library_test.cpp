// The binary says which libsecp256k1 it signs with (crypto/secp256k1_library.h); that the
// signatures do not depend on it is PinnedSignatures.* in crypto_test.cpp.
#include <gtest/gtest.h>

#include "crypto/secp256k1_library.h"

namespace signer::crypto {
namespace {

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
