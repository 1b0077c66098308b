// The EIP-712 scheme file an operator mounts: what it accepts (YAML and JSON alike, read back
// from a job record), each refusal with the reason an operator needs, how the salt fills its
// field, and how a job's ?scheme= resolves.
#include <gtest/gtest.h>

#include <string>

#include "crypto/hex.h"
#include "schemes/scheme_file.h"
#include "schemes/scheme_registry.h"
#include "test_support.h"

namespace signer::schemes {
namespace {

const std::string kVoucherYaml = R"(# a voucher set
name: voucher
domain:
  name: Vouchers
  version: "1"
  chainId: 1
  verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"
primaryType: Voucher
types:
  Voucher:
    - {name: to, type: address}
    - {name: amount, type: uint256}
    - {name: nonce, type: bytes32}
saltField: nonce
)";

const std::string kVoucherJson = R"({
  "name": "voucher",
  "domain": {"name": "Vouchers", "version": "1", "chainId": 1,
             "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
  "primaryType": "Voucher",
  "types": {"Voucher": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"},
                        {"name": "nonce", "type": "bytes32"}]},
  "saltField": "nonce"})";

const std::string kSalt = "b001ebc1-f2f7-44de-b5ff-1da0b16af05b";
const std::string kMsg =
    R"({"to": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", "amount": "1000"})";

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  if (at == std::string::npos) ADD_FAILURE() << "no " << from << " in the template";
  return text.replace(at, from.size(), to);
}

crypto::Hash256 digest_of(const TypedDataScheme& s, const std::string& msg) {
  auto d = s.digest(kSalt, msg);
  if (auto* e = std::get_if<std::string>(&d)) ADD_FAILURE() << *e;
  return std::get<crypto::Hash256>(d);
}

TEST(SchemeFile, ReadsYamlAndJsonToTheSameScheme) {
  const auto yaml = parse_scheme_file(kVoucherYaml, "voucher.yaml");
  const auto json = parse_scheme_file(kVoucherJson, "voucher.json");
  EXPECT_EQ(yaml->name(), "voucher");
  EXPECT_EQ(yaml->fingerprint(), json->fingerprint());
  EXPECT_EQ(digest_of(*yaml, kMsg), digest_of(*json, kMsg));
  EXPECT_EQ(yaml->types().encode_type("Voucher"),
            "Voucher(address to,uint256 amount,bytes32 nonce)");
}

TEST(SchemeFile, ItsJsonFormReadsBackToAnEqualScheme) {
  const auto scheme = parse_scheme_file(kVoucherYaml, "voucher.yaml");
  const auto again = parse_scheme_file(scheme->to_json().dump(), "job record");
  EXPECT_EQ(again->fingerprint(), scheme->fingerprint());
  EXPECT_EQ(again->to_json(), scheme->to_json());
}

TEST(SchemeFile, TheDigestIsTheTypedDataOfMsgWithTheSaltAsNonce) {
  const auto scheme = parse_scheme_file(kVoucherYaml, "voucher.yaml");
  // The same message with the nonce written out, hashed by the bare encoder.
  nlohmann::json full = nlohmann::json::parse(kMsg);
  full["nonce"] = "0x00000000000000000000000000000000b001ebc1f2f744deb5ff1da0b16af05b";
  const auto hash = scheme->types().hash_struct(full.dump());
  EXPECT_EQ(digest_of(*scheme, kMsg),
            typed_data_digest(scheme->domain_separator(), std::get<crypto::Hash256>(hash)));
}

TEST(SchemeFile, Uint256AndBytes32NoncesAreTheSameWord) {
  const auto as_bytes = parse_scheme_file(kVoucherYaml, "a");
  const auto as_uint = parse_scheme_file(
      replace(kVoucherYaml, "{name: nonce, type: bytes32}", "{name: nonce, type: uint256}"), "b");
  nlohmann::json full = nlohmann::json::parse(kMsg);
  full["nonce"] = "0xb001ebc1f2f744deb5ff1da0b16af05b";
  EXPECT_EQ(
      digest_of(*as_uint, kMsg),
      typed_data_digest(as_uint->domain_separator(),
                        std::get<crypto::Hash256>(as_uint->types().hash_struct(full.dump()))));
  EXPECT_NE(as_bytes->fingerprint(), as_uint->fingerprint());  // the type hash differs
}

TEST(SchemeFile, AStringNonceIsTheSaltAsWritten) {
  const auto scheme = parse_scheme_file(
      replace(kVoucherYaml, "{name: nonce, type: bytes32}", "{name: nonce, type: string}"), "s");
  nlohmann::json full = nlohmann::json::parse(kMsg);
  full["nonce"] = kSalt;
  EXPECT_EQ(digest_of(*scheme, kMsg),
            typed_data_digest(scheme->domain_separator(),
                              std::get<crypto::Hash256>(scheme->types().hash_struct(full.dump()))));
}

TEST(SchemeFile, ARecordThatGivesTheSaltFieldOrMissesAFieldIsRefused) {
  const auto scheme = parse_scheme_file(kVoucherYaml, "voucher.yaml");
  const auto reason = [&](const std::string& msg) {
    auto d = scheme->digest(kSalt, msg);
    return std::holds_alternative<std::string>(d) ? std::get<std::string>(d) : "(signed)";
  };
  EXPECT_EQ(
      reason(
          R"({"to": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", "amount": 1, "nonce": "0x00"})"),
      "field \"nonce\" is filled by the salt; msg must not give it");
  EXPECT_EQ(reason(R"({"to": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"})"),
            "missing field \"amount\"");
  EXPECT_EQ(reason("hello"), "msg is not JSON");
  EXPECT_EQ(reason("[1]"), "msg is not a JSON object (a Voucher)");
}

TEST(SchemeFile, DomainValuesChangeTheDigest) {
  const auto base = parse_scheme_file(kVoucherYaml, "a");
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"name: Vouchers", "name: Voucher"},
           {"version: \"1\"", "version: \"2\""},
           {"chainId: 1", "chainId: 137"},
           {"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
            "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"}}) {
    const auto other = parse_scheme_file(replace(kVoucherYaml, from, to), "b");
    EXPECT_NE(digest_of(*other, kMsg), digest_of(*base, kMsg)) << to;
    EXPECT_NE(other->fingerprint(), base->fingerprint()) << to;
  }
}

struct Refusal {
  std::string text;
  const char* reason;
};

class SchemeFileRefusals : public ::testing::TestWithParam<Refusal> {};

TEST_P(SchemeFileRefusals, NameWhatIsWrong) {
  try {
    parse_scheme_file(GetParam().text, "bad.yaml");
    FAIL() << "accepted; expected: " << GetParam().reason;
  } catch (const SchemeFileError& e) {
    EXPECT_NE(std::string(e.what()).find("scheme file bad.yaml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(GetParam().reason), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Files, SchemeFileRefusals,
    ::testing::Values(
        Refusal{"name: [unclosed", "not valid YAML"}, Refusal{"- a list", "must be a mapping"},
        Refusal{replace(kVoucherYaml, "saltField: nonce", "saltfield: nonce"),
                "unknown key `saltfield`"},
        Refusal{replace(kVoucherYaml, "saltField: nonce\n", ""), "needs `saltField`"},
        Refusal{replace(kVoucherYaml, "name: voucher\n", ""), "needs `name`"},
        Refusal{replace(kVoucherYaml, "name: voucher", "name: Voucher Set"), "must be 1 to 64"},
        Refusal{replace(kVoucherYaml, "  chainId: 1", "  chainID: 1"),
                "unknown key `chainID` in domain"},
        Refusal{replace(kVoucherYaml, "  chainId: 1", "  chainId: one"),
                "domain: field \"chainId\" is not an integer"},
        Refusal{replace(kVoucherYaml, "\"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC\"",
                        "\"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccc\""),
                "EIP-55"},
        Refusal{replace(kVoucherYaml, "primaryType: Voucher", "primaryType: Vouchers"),
                "primary type Vouchers is not defined"},
        Refusal{replace(kVoucherYaml, "saltField: nonce", "saltField: amount2"),
                "saltField amount2 is not a field"},
        Refusal{replace(kVoucherYaml, "saltField: nonce", "saltField: to"),
                "saltField to is a address"},
        Refusal{
            replace(kVoucherYaml, "{name: amount, type: uint256}", "{name: amount, type: uint}"),
            "write the width"},
        Refusal{replace(kVoucherYaml, "{name: amount, type: uint256}",
                        "{name: amount, type: uint256, indexed: true}"),
                "unknown key `indexed`"},
        Refusal{replace(kVoucherYaml, "{name: amount, type: uint256}", "{name: to, type: uint256}"),
                "two fields to"},
        Refusal{replace(kVoucherYaml, "types:\n",
                        "types:\n  EIP712Domain:\n    - {name: name, type: string}\n"),
                "EIP712Domain is made from `domain`"},
        Refusal{
            replace(kVoucherYaml, "types:\n", "types:\n  Unused:\n    - {name: a, type: bool}\n"),
            "Unused is not used"},
        Refusal{replace(kVoucherYaml,
                        "domain:\n  name: Vouchers\n  version: \"1\"\n  chainId: 1\n  "
                        "verifyingContract: \"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC\"\n",
                        "domain: {}\n"),
                "at least one of name, version, chainId, verifyingContract"}));

TEST(SchemeFile, AMissingFileIsRefusedByName) {
  EXPECT_THROW(read_scheme_file("/nonexistent/voucher.yaml"), SchemeFileError);
}

TEST(SchemeRegistry, ResolvesEachSchemeAndRefusesOthersWithTheLoadedNames) {
  const SchemeRegistry none;
  EXPECT_EQ(std::get<SigningScheme>(none.resolve("")).kind(), SchemeKind::kRaw);
  EXPECT_EQ(std::get<SigningScheme>(none.resolve("raw")).v_base(), 0);
  EXPECT_EQ(std::get<SigningScheme>(none.resolve("eip191")).v_base(), 27);
  EXPECT_NE(std::get<std::string>(none.resolve("eip712")).find("none is loaded"),
            std::string::npos);
  EXPECT_NE(std::get<std::string>(none.resolve("EIP191")).find("unknown scheme"),
            std::string::npos);

  const SchemeRegistry one({parse_scheme_file(kVoucherYaml, "v")});
  EXPECT_EQ(std::get<SigningScheme>(one.resolve("eip712")).name(), "eip712:voucher");
  EXPECT_EQ(std::get<SigningScheme>(one.resolve("eip712:voucher")).name(), "eip712:voucher");
  EXPECT_NE(std::get<std::string>(one.resolve("eip712:claim")).find("loaded: eip712:voucher"),
            std::string::npos);

  const SchemeRegistry two(
      {parse_scheme_file(kVoucherYaml, "v"),
       parse_scheme_file(replace(kVoucherYaml, "name: voucher", "name: claim"), "c")});
  EXPECT_NE(std::get<std::string>(two.resolve("eip712")).find("eip712:<name>"), std::string::npos);
  EXPECT_EQ(std::get<SigningScheme>(two.resolve("eip712:claim")).typed_data()->name(), "claim");
  EXPECT_THROW(
      SchemeRegistry({parse_scheme_file(kVoucherYaml, "a"), parse_scheme_file(kVoucherYaml, "b")}),
      SchemeFileError);
}

}  // namespace
}  // namespace signer::schemes
