// A client's scheme limits in the clients file (auth/scheme_limits.h): which schemes and EIP-712
// domains it may sign under, how the file spells them, and how a refusal reads.
#include <gtest/gtest.h>

#include "auth/client_registry.h"
#include "http/scheme_params.h"
#include "schemes/scheme_file.h"

namespace signer::auth {
namespace {

const std::string kHash(64, 'a');

ClientRegistry one_client(const std::string& limits) {
  return ClientRegistry::parse(R"({"clients": [{"name": "shop", "token_sha256": ")" + kHash +
                               R"(", "roles": ["sign"])" + limits + "}]}");
}

std::shared_ptr<const schemes::TypedDataScheme> voucher(const std::string& domain) {
  return schemes::parse_scheme_file(R"({"name": "voucher", "domain": )" + domain + R"(,
    "primaryType": "Voucher",
    "types": {"Voucher": [{"name": "memo", "type": "string"}, {"name": "nonce", "type": "bytes32"}]},
    "saltField": "nonce"})",
                                    "voucher");
}

const std::string kDomain =
    R"({"name": "Vouchers", "version": "1", "chainId": 1,
        "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"})";

std::optional<std::string> refusal(const ClientRegistry& r, const schemes::SigningScheme& s) {
  const Client& c = r.clients().front();
  return c.scheme_limits.refusal(c.name, http::scheme_use(s));
}

TEST(SchemeLimits, AClientWithoutLimitsMaySignUnderEveryScheme) {
  const ClientRegistry r = one_client("");
  EXPECT_TRUE(r.clients().front().scheme_limits.empty());
  EXPECT_EQ(refusal(r, schemes::SigningScheme::raw()), std::nullopt);
  EXPECT_EQ(refusal(r, schemes::SigningScheme::eip712(voucher(kDomain))), std::nullopt);
}

TEST(SchemeLimits, AClientLimitedToEip712IsRefusedRawAndEip191WithTheReason) {
  const ClientRegistry r = one_client(R"(, "schemes": ["eip712"])");
  EXPECT_EQ(refusal(r, schemes::SigningScheme::raw()),
            "client shop may not sign under raw (its clients-file schemes: eip712)");
  EXPECT_TRUE(refusal(r, schemes::SigningScheme::eip191()));
  EXPECT_EQ(refusal(r, schemes::SigningScheme::eip712(voucher(kDomain))), std::nullopt);
}

TEST(SchemeLimits, ANamedSchemeFileAllowsThatFileOnly) {
  const ClientRegistry r = one_client(R"(, "schemes": ["eip191", "eip712:coupon"])");
  EXPECT_EQ(refusal(r, schemes::SigningScheme::eip191()), std::nullopt);
  EXPECT_TRUE(refusal(r, schemes::SigningScheme::eip712(voucher(kDomain))));
}

TEST(SchemeLimits, DomainsMatchByNameOrByNameChainAndContract) {
  const auto scheme = schemes::SigningScheme::eip712(voucher(kDomain));
  EXPECT_EQ(refusal(one_client(R"(, "eip712_domains": [{"name": "Vouchers"}])"), scheme),
            std::nullopt);
  // The contract compared ignoring case, the chain id as written in either form.
  EXPECT_EQ(refusal(one_client(R"(, "eip712_domains": [{"name": "Vouchers", "chainId": "1",
                "verifyingContract": "0xcccccccccccccccccccccccccccccccccccccccc"}])"),
                    scheme),
            std::nullopt);
  const auto wrong_chain = refusal(
      one_client(R"(, "eip712_domains": [{"name": "Vouchers", "chainId": 5}, {"name": "X"}])"),
      scheme);
  ASSERT_TRUE(wrong_chain);
  EXPECT_NE(wrong_chain->find("its EIP-712 domain {name=Vouchers chainId=1 verifyingContract="),
            std::string::npos)
      << *wrong_chain;
  EXPECT_NE(wrong_chain->find("{name=Vouchers chainId=5}, {name=X}"), std::string::npos);
  // A domain limit says nothing about the other schemes.
  EXPECT_EQ(
      refusal(one_client(R"(, "eip712_domains": [{"name": "X"}])"), schemes::SigningScheme::raw()),
      std::nullopt);
  // A hex chainId in the scheme file is the same chain.
  EXPECT_EQ(refusal(one_client(R"(, "eip712_domains": [{"chainId": 1}])"),
                    schemes::SigningScheme::eip712(voucher(R"({"name": "V", "chainId": "0x1"})"))),
            std::nullopt);
}

TEST(SchemeLimits, TheClientsFileRefusesLimitsItCannotRead) {
  for (const char* bad :
       {R"(, "schemes": "eip712")", R"(, "schemes": ["eip999"])", R"(, "schemes": ["eip712:"])",
        R"(, "eip712_domains": [{}])", R"(, "eip712_domains": [{"name": 1}])",
        R"(, "eip712_domains": [{"chainId": -1}])",
        R"(, "eip712_domains": [{"verifyingContract": "0x12"}])",
        R"(, "eip712_domains": [{"salt": "0x00"}])", R"(, "eip712_domains": ["Vouchers"])"}) {
    EXPECT_THROW(one_client(bad), ClientsFileError) << bad;
  }
}

TEST(SchemeLimits, LimitsSurviveTheClientsFileRoundTripAndAChangeIsAChange) {
  const ClientRegistry r = one_client(
      R"(, "schemes": ["eip712"], "eip712_domains": [{"name": "Vouchers", "chainId": 1}])");
  const ClientRegistry again = ClientRegistry::parse(r.to_json());
  EXPECT_EQ(again.clients().front().scheme_limits, r.clients().front().scheme_limits);
  const auto changes = diff_clients(r, one_client(R"(, "schemes": ["eip712"])"));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes.front().kind, ClientChange::Kind::kChanged);
}

}  // namespace
}  // namespace signer::auth
