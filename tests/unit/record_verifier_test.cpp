// Records signed under each scheme, as `signer sign-message` signs them (signing::sign_record),
// and checked as `signer verify` checks them: each scheme verifies, and each
// way a stored record can be changed (a byte of msg, its scheme, its digest, V in the other
// form, another scheme file) is refused.
#include <gtest/gtest.h>

#include <string>

#include "crypto/hex.h"
#include "crypto/salt_generator.h"
#include "keys/key_set.h"
#include "schemes/record_verifier.h"
#include "schemes/scheme_file.h"
#include "signing/record_signer.h"

namespace signer::schemes {
namespace {

const std::string kVoucher = R"({"name": "voucher",
  "domain": {"name": "Vouchers", "version": "1", "chainId": 1,
             "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
  "primaryType": "Voucher",
  "types": {"Voucher": [{"name": "to", "type": "address"}, {"name": "memo", "type": "string"},
                        {"name": "nonce", "type": "bytes32"}]},
  "saltField": "nonce"})";

class RecordVerifierTest : public ::testing::Test {
 protected:
  records::SignedRecord sign(const SigningScheme& scheme, std::string msg) {
    records::SignedRecord r;
    r.id = "r1";
    r.salt = salts_.next();
    r.msg = std::move(msg);
    const auto reason = signing::sign_record(scheme, keys_->at(0), signer_, r);
    EXPECT_FALSE(reason) << *reason;
    return r;
  }
  std::string check(const records::SignedRecord& r,
                    std::vector<std::shared_ptr<const TypedDataScheme>> typed = {}) const {
    return RecordVerifier(std::move(typed)).check(signer_, r).value_or("valid");
  }

  crypto::MessageSigner signer_;
  crypto::SaltGenerator salts_;
  std::shared_ptr<const keys::KeySet> keys_ = std::make_shared<keys::KeySet>(
      keys::KeySet::keys_of(std::make_shared<crypto::KeyRing>(crypto::KeyRing::generate(2)),
                            keys::KeySource::kCsv, "test"),
      1);
  std::shared_ptr<const TypedDataScheme> voucher_ = parse_scheme_file(kVoucher, "voucher");
  const std::string memo_ = R"({"to": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", "memo": "hi"})";
};

TEST_F(RecordVerifierTest, RawRecordsKeepTheOriginalLayoutAndVerify) {
  const records::SignedRecord r = sign(SigningScheme::raw(), "666");
  EXPECT_EQ(r.scheme, "");
  EXPECT_EQ(r.digest, "");
  EXPECT_TRUE(r.sign.ends_with("00") || r.sign.ends_with("01"));
  EXPECT_EQ(check(r), "valid");
}

TEST_F(RecordVerifierTest, Eip191RecordsHaveV27Or28AndVerify) {
  const records::SignedRecord r = sign(SigningScheme::eip191(), "666");
  EXPECT_EQ(r.scheme, "eip191");
  EXPECT_EQ(r.digest, "");
  EXPECT_TRUE(r.sign.ends_with("1b") || r.sign.ends_with("1c")) << r.sign;
  EXPECT_EQ(check(r), "valid");
}

TEST_F(RecordVerifierTest, Eip712RecordsCarryTheirDigestAndVerifyUnderTheirScheme) {
  const records::SignedRecord r = sign(SigningScheme::eip712(voucher_), memo_);
  EXPECT_EQ(r.scheme, "eip712");
  EXPECT_EQ(r.digest,
            crypto::to_prefixed_hex(std::get<crypto::Hash256>(voucher_->digest(r.salt, r.msg))));
  EXPECT_EQ(check(r, {voucher_}), "valid");
  EXPECT_EQ(check(r), "an eip712 record's digest cannot be checked without its scheme file");
}

TEST_F(RecordVerifierTest, AnEip712MsgThatDoesNotFitIsNotSigned) {
  records::SignedRecord r;
  r.salt = salts_.next();
  r.msg = R"({"to": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"})";
  EXPECT_EQ(signing::sign_record(SigningScheme::eip712(voucher_), keys_->at(0), signer_, r),
            "missing field \"memo\"");
  EXPECT_EQ(r.sign, "");
}

TEST_F(RecordVerifierTest, RefusesOneChangedByteOfMsgUnderEveryScheme) {
  for (const SigningScheme& scheme :
       {SigningScheme::raw(), SigningScheme::eip191(), SigningScheme::eip712(voucher_)}) {
    records::SignedRecord r = sign(scheme, memo_);
    r.msg[r.msg.find("hi")] = 'H';
    EXPECT_NE(check(r, {voucher_}), "valid") << scheme.name();
  }
}

TEST_F(RecordVerifierTest, RefusesASchemeThatIsNotTheOneSigned) {
  records::SignedRecord raw = sign(SigningScheme::raw(), "666");
  raw.scheme = "eip191";
  EXPECT_EQ(check(raw), "signature V is not 27 or 28");
  records::SignedRecord eip191 = sign(SigningScheme::eip191(), "666");
  eip191.scheme = "";
  EXPECT_EQ(check(eip191), "signature recovery id is not 0 or 1");
  eip191.scheme = "eip-191";
  EXPECT_EQ(check(eip191), "unknown scheme eip-191");
}

TEST_F(RecordVerifierTest, RefusesV0Or1OnAnEip191Record) {
  records::SignedRecord r = sign(SigningScheme::eip191(), "666");
  const bool odd = r.sign.ends_with("1c");
  r.sign.replace(r.sign.size() - 2, 2, odd ? "01" : "00");
  EXPECT_EQ(check(r), "signature V is not 27 or 28");
}

TEST_F(RecordVerifierTest, RefusesAnEip712DigestThatIsNotMsgsOrAnotherSchemeFile) {
  records::SignedRecord r = sign(SigningScheme::eip712(voucher_), memo_);
  records::SignedRecord changed = r;
  changed.digest[10] = changed.digest[10] == '0' ? '1' : '0';
  EXPECT_EQ(check(changed, {voucher_}),
            "digest is not the one msg and salt give under eip712:voucher");
  // The same type under another chain id: the record was not signed for that domain.
  std::string other_chain = kVoucher;
  other_chain.replace(other_chain.find("\"chainId\": 1"), 12, "\"chainId\": 5");
  EXPECT_EQ(check(r, {parse_scheme_file(other_chain, "other")}),
            "digest is not the one msg and salt give under eip712:voucher");
  records::SignedRecord raw = sign(SigningScheme::raw(), "666");
  raw.digest = r.digest;
  EXPECT_EQ(check(raw), "a raw record carries no digest");
}

}  // namespace
}  // namespace signer::schemes
