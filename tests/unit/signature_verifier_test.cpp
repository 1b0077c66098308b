// The verifier behind `signer verify` and `signer audit verify --job`: one test per way a stored
// record can be tampered with. Each record is signed here, so a test that expects a rejection
// fails if the verifier only checked the signature over the concatenated bytes.
#include <gtest/gtest.h>

#include <string>

#include "crypto/key_ring.h"
#include "crypto/message_signer.h"
#include "crypto/salt_generator.h"
#include "crypto/signature_verifier.h"

namespace signer::crypto {
namespace {

class VerifierTampering : public ::testing::Test {
 protected:
  // A record signed exactly as the batch worker signs one.
  void SetUp() override {
    salt_ = salts_.next();
    sign_ = signer_.sign_salted(ring_.at(0).private_key, salt_, msg_);
    ASSERT_EQ(verify(salt_, msg_, sign_, key()), Verdict::kValid);
  }
  Verdict verify(const std::string& salt, const std::string& msg, const std::string& sign,
                 const std::string& key) const {
    return verify_signature(signer_, salt, msg, sign, key);
  }
  // Signs `salt` + `msg` with the ring's first key, so only the salt rule can reject it.
  std::string sign_with(const std::string& salt, const std::string& msg) const {
    return signer_.sign_salted(ring_.at(0).private_key, salt, msg);
  }
  const std::string& key() const { return ring_.at(0).public_key; }

  MessageSigner signer_;
  SaltGenerator salts_;
  KeyRing ring_ = KeyRing::generate(2);
  std::string msg_ = "666";
  std::string salt_;
  std::string sign_;
};

TEST_F(VerifierTampering, RejectsBoundaryMovedIntoTheMessage) {
  // salt minus its last char, msg = that char + msg: the hashed bytes are unchanged.
  const std::string salt = salt_.substr(0, salt_.size() - 1);
  const std::string msg = salt_.back() + msg_;
  EXPECT_EQ(verify(salt, msg, sign_, key()), Verdict::kMalformedSalt);
}

TEST_F(VerifierTampering, RejectsBoundaryMovedIntoTheSalt) {
  const std::string salt = salt_ + msg_.front();
  const std::string msg = msg_.substr(1);
  EXPECT_EQ(verify(salt, msg, sign_, key()), Verdict::kMalformedSalt);
}

TEST_F(VerifierTampering, RejectsEmptySaltWithTheSaltMovedIntoTheMessage) {
  EXPECT_EQ(verify("", salt_ + msg_, sign_, key()), Verdict::kMalformedSalt);
}

TEST_F(VerifierTampering, RejectsUppercaseSaltEvenWhenTheSignatureMatches) {
  std::string upper = salt_;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_NE(upper, salt_);
  EXPECT_EQ(verify(upper, msg_, sign_with(upper, msg_), key()), Verdict::kMalformedSalt);
}

TEST_F(VerifierTampering, RejectsUuidOfAnotherVersionEvenWhenTheSignatureMatches) {
  std::string v1 = salt_;
  v1[14] = '1';  // version nibble
  EXPECT_EQ(verify(v1, msg_, sign_with(v1, msg_), key()), Verdict::kMalformedSalt);
}

TEST_F(VerifierTampering, RejectsUuidOfAnotherVariantEvenWhenTheSignatureMatches) {
  std::string ncs = salt_;
  ncs[19] = '7';  // variant 0xxx (NCS), not RFC 4122
  EXPECT_EQ(verify(ncs, msg_, sign_with(ncs, msg_), key()), Verdict::kMalformedSalt);
}

TEST_F(VerifierTampering, RejectsChangedMessage) {
  EXPECT_EQ(verify(salt_, "667", sign_, key()), Verdict::kKeyMismatch);
}

TEST_F(VerifierTampering, RejectsChangedSignature) {
  std::string sign = sign_;
  char& c = sign[10];
  c = c == '0' ? '1' : '0';
  EXPECT_NE(verify(salt_, msg_, sign, key()), Verdict::kValid);
}

TEST_F(VerifierTampering, RejectsChangedKey) {
  EXPECT_EQ(verify(salt_, msg_, sign_, ring_.at(1).public_key), Verdict::kKeyMismatch);
}

TEST_F(VerifierTampering, SaltIsCheckedBeforeTheSignature) {
  EXPECT_EQ(verify("not-a-uuid", msg_, "0x00", key()), Verdict::kMalformedSalt);
  EXPECT_EQ(describe(Verdict::kMalformedSalt), "salt is not a lowercase UUIDv4");
}

}  // namespace
}  // namespace signer::crypto
