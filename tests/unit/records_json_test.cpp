// Ingest parsing: NDJSON and arrays, per-record rejections, id and size rules.
#include <gtest/gtest.h>

#include <sstream>

#include "records/record_json.h"

namespace signer::records {
namespace {

struct Parsed {
  std::vector<UnsignedRecord> records;
  std::vector<Rejection> rejected;
};

Parsed parse(const std::string& body) {
  Parsed p;
  std::istringstream in(body);
  for_each_json_object(
      in,
      [&](std::size_t index, const nlohmann::json& o) {
        UnsignedRecord r;
        if (auto reason = unsigned_record_from_json(o, r)) {
          p.rejected.push_back({index, reported_id(o), *reason});
        } else {
          p.records.push_back(r);
        }
      },
      [&](Rejection r) { p.rejected.push_back(r); });
  return p;
}

TEST(RecordJson, ReadsNdjsonSkippingBlankLines) {
  const Parsed p = parse("{\"id\":\"a1\",\"msg\":\"x\"}\n\n{\"id\":\"a2\",\"msg\":\"\"}\r\n");
  ASSERT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.records[1].id, "a2");
  EXPECT_TRUE(p.rejected.empty());
}

TEST(RecordJson, ReadsJsonArrayAndIgnoresOriginalGeneratorFields) {
  const Parsed p = parse(R"([{"id":"a1","msg":"x","sign":"","key":""},{"id":"a2","msg":"y"}])");
  ASSERT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.records[0].msg, "x");
}

TEST(RecordJson, RejectsBadRecordsOneByOneWithReasons) {
  const Parsed p = parse(
      "not json\n"
      "[1]\n"
      "{\"id\":\"ok\",\"msg\":\"m\"}\n"
      "{\"id\":\"has\\ttab\",\"msg\":\"m\"}\n"
      "{\"id\":\"x\"}\n"
      "{\"id\":7,\"msg\":\"m\"}\n");
  ASSERT_EQ(p.records.size(), 1u);
  ASSERT_EQ(p.rejected.size(), 5u);
  EXPECT_EQ(p.rejected[0].index, 0u);
  EXPECT_EQ(p.rejected[2].id, "has\ttab");
  EXPECT_NE(p.rejected[2].reason.find("control character"), std::string::npos);
  EXPECT_NE(p.rejected[3].reason.find("msg"), std::string::npos);
  EXPECT_NE(p.rejected[4].reason.find("string"), std::string::npos);
}

TEST(RecordJson, MalformedArrayThrows) { EXPECT_THROW(parse("[{\"id\":"), MalformedInput); }

TEST(RecordJson, IdsAsUsersHaveThemAreAccepted) {
  for (const std::string id :
       {"830f559b22b74bfcbb5631fae20462cb", "Order_1.2:3-x", "user@example.com", "order/42",
        "caf\xc3\xa9-1", "q+/z9w==", "a b", "a\"b", "\xe2\x82\xac", "\xf0\x9f\x94\x91",
        "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xc2\xa0"}) {
    EXPECT_FALSE(invalid_id_reason(id)) << id;
  }
}

TEST(RecordJson, IdLengthIsOneTo512Bytes) {
  EXPECT_EQ(kMaxIdLength, 512u);
  EXPECT_TRUE(invalid_id_reason(""));
  EXPECT_FALSE(invalid_id_reason(std::string(512, 'a')));
  EXPECT_TRUE(invalid_id_reason(std::string(513, 'a')));
  // Bytes, not characters: 256 two-byte characters fit, one more byte does not.
  std::string wide;
  for (int i = 0; i < 256; ++i) wide += "\xc3\xa9";
  EXPECT_FALSE(invalid_id_reason(wide));
  EXPECT_TRUE(invalid_id_reason(wide + "a"));
}

TEST(RecordJson, IdsWithControlCharactersAreRejected) {
  for (const std::string& id :
       {std::string("a\nb"), std::string("a\0b", 3), std::string("\t"), std::string("a\x1f"),
        std::string("a\x7f"), std::string("a\xc2\x80"),
        std::string("a\xc2\x85"
                    "b"),
        std::string("\xc2\x9f")}) {
    const auto reason = invalid_id_reason(id);
    ASSERT_TRUE(reason) << ::testing::PrintToString(id);
    EXPECT_NE(reason->find("control character"), std::string::npos) << *reason;
  }
}

TEST(RecordJson, IdsThatAreNotWellFormedUtf8AreRejected) {
  for (const std::string id :
       {"\xff", "a\xfe", "\x80", "caf\xc3", "\xc3(", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf",
        "\xed\xa0\x80", "\xf0\x80\x80\xaf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe2\x82"}) {
    const auto reason = invalid_id_reason(id);
    ASSERT_TRUE(reason) << ::testing::PrintToString(id);
    EXPECT_NE(reason->find("UTF-8"), std::string::npos) << *reason;
  }
}

TEST(RecordJson, ReportedIdIsCutOnACharacterBoundary) {
  std::string id(511, 'a');
  id += "\xc3\xa9\xc3\xa9";  // the first \xc3\xa9 straddles byte 512
  const auto reported = reported_id(nlohmann::json{{"id", id}});
  EXPECT_EQ(reported, std::string(511, 'a'));
}

TEST(RecordJson, OversizedMessageIsRejected) {
  const std::string big(kMaxMsgBytes + 1, 'm');
  const Parsed p = parse(nlohmann::json{{"id", "a"}, {"msg", big}}.dump());
  EXPECT_TRUE(p.records.empty());
  ASSERT_EQ(p.rejected.size(), 1u);
}

TEST(RecordJson, SignedRecordRoundTrip) {
  const SignedRecord r{"id1", "héllo \"q\"", "salt", "0xsig", "0x04key", ""};
  std::string line;
  append_json_line(line, r);
  ASSERT_EQ(line.back(), '\n');
  SignedRecord back;
  EXPECT_FALSE(signed_record_from_json(nlohmann::json::parse(line), back));
  EXPECT_EQ(back.msg, r.msg);
  EXPECT_EQ(back.key, r.key);
}

TEST(RecordJson, SignedRecordShowsItsJobIdOnlyWhenItHasOne) {
  SignedRecord r{"id1", "m", "salt", "0xsig", "0x04key", ""};
  EXPECT_FALSE(to_json(r).contains("job_id"));  // the original layout, field for field
  r.job_id = "j-0123456789ab-0123456789abcdef";
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j.at("job_id"), r.job_id);
  SignedRecord back;
  EXPECT_FALSE(signed_record_from_json(j, back));
  EXPECT_EQ(back.job_id, r.job_id);
}

}  // namespace
}  // namespace signer::records
