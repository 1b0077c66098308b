// The EIP-712 encoder against the specification's own example (Mail and Person, from EIP-712's
// Example.js: encodeType, typeHash, encodeData, hashStruct, the domain separator, the digest and
// the signature by keccak256("cow")), EIP-191 against ethers' hashMessage, and the rules a value
// must meet to fit its type. Every expected value here comes from the specification or from
// ethers' documentation, not from this code.
#include <gtest/gtest.h>

#include <string>

#include "crypto/hex.h"
#include "crypto/keccak.h"
#include "crypto/message_signer.h"
#include "schemes/eip191.h"
#include "schemes/typed_data.h"

namespace signer::schemes {
namespace {

std::string hex(const crypto::Hash256& h) { return crypto::to_prefixed_hex(h); }

crypto::Hash256 keccak_text(std::string_view text) {
  return crypto::keccak256(
      std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

Eip712Types mail_types() {
  return Eip712Types({{"Person", {{"name", "string"}, {"wallet", "address"}}},
                      {"Mail", {{"from", "Person"}, {"to", "Person"}, {"contents", "string"}}}},
                     "Mail");
}

Eip712Domain ether_mail_domain() {
  Eip712Domain d;
  d.name = "Ether Mail";
  d.version = "1";
  d.chain_id = 1;
  d.verifying_contract = "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC";
  return d;
}

const nlohmann::json kMailMessage = nlohmann::json::parse(R"({
  "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
  "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
  "contents": "Hello, Bob!"})");

TEST(Eip191, HashesLikeEthersHashMessage) {
  // ethers: hashMessage("Hello World"); salt and msg are one byte string, split anywhere.
  const std::string expected = "0xa1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2";
  EXPECT_EQ(hex(eip191_hash("Hello World", "")), expected);
  EXPECT_EQ(hex(eip191_hash("Hello", " World")), expected);
  EXPECT_EQ(hex(eip191_hash("", "Hello World")), expected);
}

TEST(Eip191, PrefixesTheLengthInBytesInDecimal) {
  const std::string salt = "b001ebc1-f2f7-44de-b5ff-1da0b16af05b";
  const std::string msg = "caf\xc3\xa9 \xf0\x9f\x98\x80";  // 10 bytes, 6 characters
  EXPECT_EQ(eip191_hash(salt, msg),
            keccak_text(std::string("\x19") + "Ethereum Signed Message:\n46" + salt + msg));
  EXPECT_EQ(eip191_hash("", ""), keccak_text(std::string("\x19") + "Ethereum Signed Message:\n0"));
}

TEST(Eip712, EncodesTheSpecificationsMailExample) {
  const Eip712Types types = mail_types();
  EXPECT_EQ(types.encode_type("Mail"),
            "Mail(Person from,Person to,string contents)Person(string name,address wallet)");
  EXPECT_EQ(types.encode_type("Person"), "Person(string name,address wallet)");
  EXPECT_EQ(hex(types.type_hash("Mail")),
            "0xa0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2");
  const auto hash = types.hash_struct(kMailMessage.dump());
  ASSERT_TRUE(std::holds_alternative<crypto::Hash256>(hash)) << std::get<std::string>(hash);
  EXPECT_EQ(hex(std::get<crypto::Hash256>(hash)),
            "0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e");
  const crypto::Hash256 separator = domain_separator(ether_mail_domain());
  EXPECT_EQ(hex(separator), "0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f");
  const crypto::Hash256 digest = typed_data_digest(separator, std::get<crypto::Hash256>(hash));
  EXPECT_EQ(hex(digest), "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");

  // The specification signs it with keccak256("cow"): v = 28, and these r and s.
  const crypto::Hash256 cow = keccak_text("cow");
  const crypto::MessageSigner signer;
  crypto::Signature65 sig = signer.sign_hash(crypto::PrivateKey(cow), digest);
  sig[64] = static_cast<std::uint8_t>(sig[64] + 27);
  EXPECT_EQ(crypto::to_prefixed_hex(sig),
            "0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d"
            "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562"
            "1c");
}

TEST(Eip712, DomainFieldsAndTheirOrderAreHashed) {
  const crypto::Hash256 full = domain_separator(ether_mail_domain());
  Eip712Domain other_chain = ether_mail_domain();
  other_chain.chain_id = 5;
  EXPECT_NE(domain_separator(other_chain), full);
  Eip712Domain no_version = ether_mail_domain();
  no_version.version.reset();
  EXPECT_NE(domain_separator(no_version), full);
  EXPECT_EQ(ether_mail_domain().struct_type().fields.size(), 4u);
  EXPECT_THROW(domain_separator(Eip712Domain{}), TypedDataError);
  Eip712Domain bad = ether_mail_domain();
  bad.verifying_contract = "0x1234";
  EXPECT_THROW(domain_separator(bad), TypedDataError);
}

TEST(Eip712, FieldOrderIsPartOfTheHash) {
  const Eip712Types swapped(
      {{"Person", {{"wallet", "address"}, {"name", "string"}}},
       {"Mail", {{"from", "Person"}, {"to", "Person"}, {"contents", "string"}}}},
      "Mail");
  EXPECT_EQ(swapped.encode_type("Mail"),
            "Mail(Person from,Person to,string contents)Person(address wallet,string name)");
  EXPECT_NE(std::get<crypto::Hash256>(swapped.hash_struct(kMailMessage.dump())),
            std::get<crypto::Hash256>(mail_types().hash_struct(kMailMessage.dump())));
}

TEST(Eip712, DependenciesAreSortedByNameAfterThePrimaryType) {
  const Eip712Types types({{"Z", {{"a", "A"}, {"b", "B[]"}}},
                           {"B", {{"x", "uint8"}}},
                           {"A", {{"b", "B"}, {"y", "bool"}}}},
                          "Z");
  EXPECT_EQ(types.encode_type("Z"), "Z(A a,B[] b)A(B b,bool y)B(uint8 x)");
}

TEST(Eip712, ArraysHashTheConcatenationOfTheirElements) {
  const Eip712Types types({{"T", {{"xs", "uint256[]"}, {"fixed", "bool[2]"}}}}, "T");
  const auto hash = types.hash_struct(R"({"xs": [1, 2], "fixed": [true, false]})");
  std::vector<std::uint8_t> xs(64, 0);
  xs[31] = 1;
  xs[63] = 2;
  std::vector<std::uint8_t> fixed(64, 0);
  fixed[31] = 1;
  std::vector<std::uint8_t> data;
  const crypto::Hash256 type_hash = keccak_text("T(uint256[] xs,bool[2] fixed)");
  const crypto::Hash256 xs_hash = crypto::keccak256(xs);
  const crypto::Hash256 fixed_hash = crypto::keccak256(fixed);
  for (const auto* h : {&type_hash, &xs_hash, &fixed_hash})
    data.insert(data.end(), h->begin(), h->end());
  EXPECT_EQ(std::get<crypto::Hash256>(hash), crypto::keccak256(data));
}

TEST(Eip712, IntegersMayBeNumbersDecimalOrHexStrings) {
  const Eip712Types types({{"T", {{"v", "uint256"}, {"i", "int64"}}}}, "T");
  const auto of = [&](const char* json) {
    return std::get<crypto::Hash256>(types.hash_struct(json));
  };
  EXPECT_EQ(of(R"({"v": 255, "i": -1})"), of(R"({"v": "255", "i": "-1"})"));
  EXPECT_EQ(of(R"({"v": 255, "i": -1})"), of(R"({"v": "0xff", "i": "-0x1"})"));
  // -1 as int64 is 32 bytes of 0xff (sign-extended), as Solidity's abi.encode writes it.
  const Eip712Types one({{"T", {{"i", "int64"}}}}, "T");
  std::vector<std::uint8_t> data;
  const crypto::Hash256 th = keccak_text("T(int64 i)");
  data.insert(data.end(), th.begin(), th.end());
  data.insert(data.end(), 32, 0xff);
  EXPECT_EQ(std::get<crypto::Hash256>(one.hash_struct(R"({"i": -1})")), crypto::keccak256(data));
}

struct Misfit {
  const char* type;
  const char* value;  // JSON
  const char* reason;
};

class Eip712Misfits : public ::testing::TestWithParam<Misfit> {};

TEST_P(Eip712Misfits, RefusesValueWithAReasonNamingTheField) {
  const Misfit& m = GetParam();
  const Eip712Types types({{"T", {{"f", m.type}}}}, "T");
  const auto hash = types.hash_struct(std::string(R"({"f": )") + m.value + "}");
  ASSERT_TRUE(std::holds_alternative<std::string>(hash)) << m.type << " " << m.value;
  EXPECT_NE(std::get<std::string>(hash).find("field \"f"), std::string::npos)
      << std::get<std::string>(hash);
  EXPECT_NE(std::get<std::string>(hash).find(m.reason), std::string::npos)
      << std::get<std::string>(hash);
}

INSTANTIATE_TEST_SUITE_P(
    Values, Eip712Misfits,
    ::testing::Values(
        Misfit{"uint8", "256", "does not fit uint8"}, Misfit{"uint8", "-1", "is negative"},
        Misfit{"uint256", "1.5", "is not an integer"},
        Misfit{"uint256", "1e30", "is not an integer"},
        Misfit{"uint256", "\"12a\"", "is not an integer"},
        Misfit{"uint256",
               "\"115792089237316195423570985008687907853269984665640564039457584007913129639936\"",
               "is not an integer"},
        Misfit{"int8", "128", "does not fit int8"}, Misfit{"int8", "-129", "does not fit int8"},
        Misfit{"bool", "1", "true or false"}, Misfit{"address", "\"0x1234\"", "not an address"},
        Misfit{"address", "\"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD827\"", "EIP-55"},
        Misfit{"bytes32", "\"0x00\"", "must be 32 bytes"}, Misfit{"bytes", "\"0x0\"", "hex bytes"},
        Misfit{"string", "5", "must be a string"},
        Misfit{"bool[2]", "[true]", "must hold 2 elements"},
        Misfit{"bool[]", "[true, 3]", "field \"f[1]\" must be true or false"}));

TEST(Eip712, NamesTheFieldPathOfANestedMisfit) {
  nlohmann::json msg = kMailMessage;
  msg["to"]["wallet"] = "0xnothex";
  EXPECT_EQ(std::get<std::string>(mail_types().hash_struct(msg.dump())),
            "field \"to.wallet\" is not an address (\"0x\" + 40 hex digits)");
  msg = kMailMessage;
  msg["to"].erase("name");
  EXPECT_EQ(std::get<std::string>(mail_types().hash_struct(msg.dump())),
            "missing field \"to.name\"");
  msg = kMailMessage;
  msg["from"]["extra"] = 1;
  EXPECT_EQ(std::get<std::string>(mail_types().hash_struct(msg.dump())),
            "unknown field \"from.extra\" (Person has no such field)");
  EXPECT_EQ(std::get<std::string>(mail_types().hash_struct("[]")),
            "msg is not a JSON object (a Mail)");
}

TEST(Eip712, DecimalTextIsReadExactlyAcrossItsChunks) {
  // The decimal reader takes 19 digits at a time; these straddle each chunk boundary.
  const auto hex_of = [](std::string_view decimal) {
    const auto word = parse_uint256_text(decimal);
    return word ? crypto::to_prefixed_hex(*word) : std::string("none");
  };
  const std::string zeros(64 - 17, '0');
  EXPECT_EQ(hex_of("9999999999999999999"),  // 10^19 - 1, one full chunk
            "0x" + zeros + "08ac7230489e7ffff");
  EXPECT_EQ(hex_of("18446744073709551616"),  // 2^64, 20 digits
            "0x" + std::string(64 - 17, '0') + "10000000000000000");
  EXPECT_EQ(hex_of("340282366920938463463374607431768211456"),  // 2^128, 39 digits
            "0x" + std::string(31, '0') + "1" + std::string(32, '0'));
  EXPECT_EQ(hex_of("100000000000000000000000000000000000000"),  // 10^38, two full chunks
            "0x" + std::string(32, '0') + "4b3b4ca85a86c47a098a224000000000");
  EXPECT_EQ(hex_of(std::string(100, '0') + "255"), "0x" + std::string(62, '0') + "ff");
  EXPECT_EQ(
      hex_of("115792089237316195423570985008687907853269984665640564039457584007913129639935"),
      "0x" + std::string(64, 'f'));  // 2^256 - 1
  EXPECT_EQ(
      hex_of("115792089237316195423570985008687907853269984665640564039457584007913129639936"),
      "none");  // 2^256
  EXPECT_EQ(
      hex_of("1157920892373161954235709850086879078532699846656405640394575840079131296399350"),
      "none");  // 10 * (2^256 - 1): the overflow is in the last chunk's multiply
  EXPECT_EQ(hex_of("12345678901234567890x"), "none");
  EXPECT_EQ(hex_of("0x" + std::string(64, 'F')), "0x" + std::string(64, 'f'));
  EXPECT_EQ(hex_of("0x1" + std::string(64, '0')), "none");
}

TEST(Eip712, IntegerBoundsAreExact) {
  const Eip712Types types({{"T", {{"i", "int8"}, {"u", "uint256"}}}}, "T");
  const auto fits = [&](const std::string& json) {
    return std::holds_alternative<crypto::Hash256>(types.hash_struct(json));
  };
  EXPECT_TRUE(fits(R"({"i": -128, "u": 0})"));
  EXPECT_TRUE(fits(
      R"({"i": 127, "u": "115792089237316195423570985008687907853269984665640564039457584007913129639935"})"));
  EXPECT_FALSE(fits(R"({"i": -128, "u": -1})"));
  EXPECT_TRUE(fits(R"({"i": "-0", "u": "0x00"})"));
}

struct BadTypes {
  std::vector<StructType> types;
  const char* primary;
  const char* reason;
};

class Eip712BadTypes : public ::testing::TestWithParam<BadTypes> {};

TEST_P(Eip712BadTypes, AreRefusedWithTheReason) {
  const BadTypes& b = GetParam();
  try {
    Eip712Types(b.types, b.primary);
    FAIL() << "accepted; expected: " << b.reason;
  } catch (const TypedDataError& e) {
    EXPECT_NE(std::string(e.what()).find(b.reason), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, Eip712BadTypes,
    ::testing::Values(
        BadTypes{{{"T", {{"a", "uint"}}}}, "T", "write the width"},
        BadTypes{{{"T", {{"a", "uint7"}}}}, "T", "not an integer type"},
        BadTypes{{{"T", {{"a", "bytes33"}}}}, "T", "wider than bytes32"},
        BadTypes{{{"T", {{"a", "Missing"}}}}, "T", "\"Missing\" is not defined"},
        BadTypes{{{"T", {{"a", "bool"}, {"a", "bool"}}}}, "T", "two fields a"},
        BadTypes{{{"T", {}}}, "T", "has no fields"},
        BadTypes{{{"T", {{"a", "U"}}}, {"U", {{"t", "T[]"}}}}, "T", "contains itself"},
        BadTypes{{{"T", {{"a", "bool"}}}, {"U", {{"b", "bool"}}}}, "T", "U is not used"},
        BadTypes{{{"T", {{"a", "bool"}}}}, "P", "primary type P is not defined"},
        BadTypes{{{"T", {{"a b", "bool"}}}}, "T", "is not an identifier"},
        BadTypes{{{"uint256", {{"a", "bool"}}}}, "uint256", "built-in type"},
        BadTypes{{{"T", {{"a", "bool"}}}, {"T", {{"b", "bool"}}}}, "T", "defined twice"},
        BadTypes{{{"T", {{"a", "bool[0x2]"}}}}, "T", "not a number"}));

}  // namespace
}  // namespace signer::schemes
