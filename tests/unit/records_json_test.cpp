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
      "{\"id\":\"has space\",\"msg\":\"m\"}\n"
      "{\"id\":\"x\"}\n"
      "{\"id\":7,\"msg\":\"m\"}\n");
  ASSERT_EQ(p.records.size(), 1u);
  ASSERT_EQ(p.rejected.size(), 5u);
  EXPECT_EQ(p.rejected[0].index, 0u);
  EXPECT_EQ(p.rejected[2].id, "has space");
  EXPECT_NE(p.rejected[3].reason.find("msg"), std::string::npos);
  EXPECT_NE(p.rejected[4].reason.find("string"), std::string::npos);
}

TEST(RecordJson, MalformedArrayThrows) { EXPECT_THROW(parse("[{\"id\":"), MalformedInput); }

TEST(RecordJson, IdRules) {
  EXPECT_FALSE(invalid_id_reason("830f559b22b74bfcbb5631fae20462cb"));
  EXPECT_FALSE(invalid_id_reason("Order_1.2:3-x"));
  EXPECT_TRUE(invalid_id_reason(""));
  EXPECT_TRUE(invalid_id_reason(std::string(kMaxIdLength + 1, 'a')));
  EXPECT_FALSE(invalid_id_reason(std::string(kMaxIdLength, 'a')));
  EXPECT_TRUE(invalid_id_reason("a/b"));
  EXPECT_TRUE(invalid_id_reason("a\nb"));
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
