// ingest::IngestSession against a real SQLite store: chunks go to the store in id order, yet what
// the report says about each record (its body index, duplicate or conflict, which occurrence
// won) is as the body gave them.
#include <gtest/gtest.h>

#include "ingest/ingest_session.h"
#include "store/sqlite/sqlite_store.h"
#include "test_support.h"

namespace signer::ingest {
namespace {

std::string ndjson_line(const std::string& id, const std::string& msg) {
  return nlohmann::json{{"id", id}, {"msg", msg}}.dump() + "\n";
}

TEST(IngestSession, ReportsConflictsByBodyIndexInBodyOrderWhateverOrderTheStoreSeesThem) {
  testing::TempDir dir;
  store::SqliteStore store(dir / "s.db");
  store.ingest(std::vector<records::UnsignedRecord>{{"m-stored", "old"}});

  IngestLimits limits;
  limits.flush_records = 4;  // chunks of 4, each put in id order before it is stored
  IngestSession session(store, limits);
  const std::vector<std::pair<std::string, std::string>> body = {
      {"z-first", "1"},     // 0
      {"m-stored", "new"},  // 1: conflicts with the stored record
      {"a-twice", "A"},     // 2: first occurrence, kept
      {"a-twice", "B"},     // 3: conflicts with 2, in the same chunk
      {"y", "y"},           // 4
      {"b", "b"},           // 5
      {"z-first", "1"},     // 6: duplicate of 0, from another chunk
      {"c", "c"},           // 7
      {"k-split", "K1"},    // 8: first, in the third chunk
      {"k-split", "K2"},    // 9: conflicts with 8
  };
  std::string text;
  for (const auto& [id, msg] : body) text += ndjson_line(id, msg);
  ASSERT_TRUE(session.feed(text));
  session.finish();

  const IngestReport& report = session.report();
  EXPECT_EQ(report.status, 200) << report.error;
  EXPECT_EQ(report.accepted, 6u);
  EXPECT_EQ(report.duplicates, 1u);
  EXPECT_EQ(report.conflicts, 3u);
  std::vector<std::pair<std::size_t, std::string>> listed;
  for (const auto& e : report.errors) {
    listed.emplace_back(e["index"].get<std::size_t>(), e["id"].get<std::string>());
  }
  EXPECT_EQ(listed, (std::vector<std::pair<std::size_t, std::string>>{
                        {1, "m-stored"}, {3, "a-twice"}, {9, "k-split"}}));

  // The first occurrence of each id is the one stored.
  std::map<std::string, std::string> stored;
  store::ReadCursor cursor;
  for (auto& r : store.read_unsigned(records::shard_range_for_batch(0, 1), cursor, 100)) {
    stored[r.id] = r.msg;
  }
  EXPECT_EQ(stored, (std::map<std::string, std::string>{{"a-twice", "A"},
                                                        {"b", "b"},
                                                        {"c", "c"},
                                                        {"k-split", "K1"},
                                                        {"m-stored", "old"},
                                                        {"y", "y"},
                                                        {"z-first", "1"}}));
}

}  // namespace
}  // namespace signer::ingest
