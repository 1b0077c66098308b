// The streaming ingest parser: the same records whatever the pieces, per-record rejections, and
// MalformedInput only for a broken array.
#include <gtest/gtest.h>

#include "records/ingest_stream.h"

namespace signer::records {
namespace {

struct Parsed {
  std::vector<std::string> objects;
  std::vector<std::string> rejections;
};

Parsed parse_in_pieces(std::string_view body, std::size_t piece) {
  Parsed out;
  IngestStream stream(
      [&](std::size_t index, const nlohmann::json& o) {
        out.objects.push_back(std::to_string(index) + ":" + o.dump());
      },
      [&](Rejection r) { out.rejections.push_back(std::to_string(r.index) + ":" + r.reason); });
  for (std::size_t at = 0; at < body.size(); at += piece) stream.feed(body.substr(at, piece));
  stream.finish();
  return out;
}

TEST(IngestStream, SplitsNdjsonIntoObjectsWhateverThePieces) {
  const std::string body = "{\"id\":\"a\",\"msg\":\"x\"}\n\n  \n{\"id\":\"b\",\"msg\":\"y\\n\"}";
  for (std::size_t piece : {1, 2, 3, 7, 1000}) {
    const Parsed p = parse_in_pieces(body, piece);
    ASSERT_EQ(p.objects.size(), 2u) << piece;
    EXPECT_EQ(p.objects[0], R"(0:{"id":"a","msg":"x"})");
    EXPECT_EQ(p.objects[1], R"(1:{"id":"b","msg":"y\n"})");
  }
}

TEST(IngestStream, SplitsAnArrayIncludingBracketsAndCommasInsideStrings) {
  const std::string body = R"( [ {"id":"a]","msg":"x,\"}{"} , {"id":"b","msg":{"n":[1,2]}} ] )";
  for (std::size_t piece : {1, 4, 1000}) {
    const Parsed p = parse_in_pieces(body, piece);
    ASSERT_EQ(p.objects.size(), 2u) << piece;
    EXPECT_EQ(p.objects[0], R"(0:{"id":"a]","msg":"x,\"}{"})");
    EXPECT_EQ(p.objects[1], R"(1:{"id":"b","msg":{"n":[1,2]}})");
  }
}

TEST(IngestStream, RejectsNonObjectsPerRecord) {
  const Parsed lines = parse_in_pieces("1\nnot json\n[]\n{\"id\":\"a\"}\n", 5);
  EXPECT_EQ(lines.objects.size(), 1u);
  EXPECT_EQ(lines.rejections,
            (std::vector<std::string>{"0:line is not a JSON object", "1:line is not valid JSON",
                                      "2:line is not a JSON object"}));
  const Parsed array = parse_in_pieces(R"([1, "s", {"id":"a"}, [2]])", 3);
  EXPECT_EQ(array.objects.size(), 1u);
  EXPECT_EQ(array.rejections.size(), 3u);
}

TEST(IngestStream, ABrokenArrayIsMalformed) {
  for (const char* body : {"[{\"id\":", "[{}", "[{} {}]", "[1 2]", "[,]", "[{},]", "[{}]x", "[}]",
                           "[{\"a\":}]", "[{]}"}) {
    EXPECT_THROW(parse_in_pieces(body, 2), MalformedInput) << body;
  }
  EXPECT_NO_THROW(parse_in_pieces("[]", 1));
  EXPECT_NO_THROW(parse_in_pieces("", 1));
}

TEST(IngestStream, AnOversizedRecordIsRejectedWithoutBeingKept) {
  std::string huge =
      "{\"id\":\"a\",\"msg\":\"" + std::string(IngestStream::kMaxRecordBytes, 'x') + "\"}";
  const Parsed lines = parse_in_pieces(huge + "\n{\"id\":\"b\"}\n", 4096);
  ASSERT_EQ(lines.rejections.size(), 1u);
  EXPECT_NE(lines.rejections[0].find("larger than"), std::string::npos);
  EXPECT_EQ(lines.objects, (std::vector<std::string>{R"(1:{"id":"b"})"}));
  const Parsed array = parse_in_pieces("[" + huge + ",{\"id\":\"b\"}]", 4096);
  EXPECT_EQ(array.rejections.size(), 1u);
  EXPECT_EQ(array.objects.size(), 1u);
}

TEST(IngestStream, DeepNestingIsMalformedNotARecursion) {
  EXPECT_THROW(parse_in_pieces("[" + std::string(100, '[') + std::string(100, ']') + "]", 50),
               MalformedInput);
}

}  // namespace
}  // namespace signer::records
