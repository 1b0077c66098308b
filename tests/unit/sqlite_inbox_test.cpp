// The SQLite store's inbox (sqlite_store.h): ids spread thin over a large store are ingested into
// records_inbox, read and moved by batches together with the records of `records`, and merged
// into `records` by the store's own thread. Whatever table holds it, a record is stored once,
// read once in (shard, id) order, signed once, and counted exactly.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "records/shard.h"
#include "sqlite_test_support.h"
#include "store/sqlite/sqlite_store.h"
#include "test_support.h"

namespace signer::store {
namespace {

using namespace std::chrono_literals;

using testing_sqlite::exec;
using testing_sqlite::open_raw;

std::int64_t count_rows(sqlite3* db, const std::string& table) {
  sqlite3_stmt* raw = nullptr;
  const std::string sql = "SELECT count(*) FROM " + table;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
  EXPECT_EQ(sqlite3_step(raw), SQLITE_ROW);
  return sqlite3_column_int64(raw, 0);
}

// Random ids as the original generator makes them (32 lowercase hex digits), and a few that are
// not keyed by id (uppercase, named), whose shard is a hash: both kinds reach the inbox.
std::vector<records::UnsignedRecord> random_records(std::size_t n, std::uint32_t seed,
                                                    const std::string& msg) {
  std::mt19937_64 rng(seed);
  std::vector<records::UnsignedRecord> out;
  for (std::size_t i = 0; i < n; ++i) {
    char id[40];
    std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng()));
    std::string text = id;
    if (i % 50 == 1) std::transform(text.begin(), text.end(), text.begin(), ::toupper);
    if (i % 50 == 2) text = "named-" + std::to_string(seed) + "-" + std::to_string(i);
    out.push_back({text, msg + text});
  }
  return out;
}

// The store's count against both tables of unsigned records and signedrecords, counted row by row
// by another connection.
void expect_exact_counts(SqliteStore& store, const std::filesystem::path& path) {
  auto db = open_raw(path);
  const Counts kept = store.count();
  EXPECT_EQ(kept.unsigned_records,
            static_cast<std::uint64_t>(count_rows(db.get(), "records") +
                                       count_rows(db.get(), "records_inbox")));
  EXPECT_EQ(kept.signed_records, static_cast<std::uint64_t>(count_rows(db.get(), "signedrecords")));
}

// Every unsigned record, read as `batches` batches would, each batch in pages of 7; checks each
// batch's order is (shard, id).
std::vector<records::UnsignedRecord> read_as_batches(SqliteStore& store, std::uint64_t batches) {
  std::vector<records::UnsignedRecord> out;
  for (std::uint64_t b = 0; b < batches; ++b) {
    const records::ShardRange range = records::shard_range_for_batch(b, batches);
    ReadCursor cursor;
    std::vector<records::UnsignedRecord> batch;
    for (;;) {
      auto page = store.read_unsigned(range, cursor, 7);
      batch.insert(batch.end(), page.begin(), page.end());
      if (cursor.exhausted) break;
    }
    for (std::size_t i = 1; i < batch.size(); ++i) {
      const auto before = std::pair{records::shard_of(batch[i - 1].id), batch[i - 1].id};
      const auto after = std::pair{records::shard_of(batch[i].id), batch[i].id};
      EXPECT_LT(before, after) << "batch " << b << " at " << i;
    }
    for (const auto& r : batch) {
      EXPECT_TRUE(range.contains(records::shard_of(r.id))) << r.id << " read by batch " << b;
    }
    out.insert(out.end(), batch.begin(), batch.end());
  }
  return out;
}

// The same, in id order: what `signer load` ingests, dense in `records`.
std::vector<records::UnsignedRecord> sorted_records(std::size_t n, std::uint32_t seed,
                                                    const std::string& msg) {
  auto out = random_records(n, seed, msg);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::vector<records::SignedRecord> signed_from(const std::vector<records::UnsignedRecord>& read) {
  std::vector<records::SignedRecord> out;
  for (const auto& r : read) out.push_back({r.id, r.msg, "salt", "0xs", "0x04k", "job"});
  return out;
}

bool wait_for_empty_inbox(const std::filesystem::path& path) {
  auto db = open_raw(path);
  for (auto deadline = std::chrono::steady_clock::now() + 20s;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(10ms)) {
    if (count_rows(db.get(), "records_inbox") == 0) return true;
  }
  return false;
}

// 4,000 records in id order fill `records`; 300 random ids then land among them thinly (4,000
// stored across their span, more than 8 a new record), so they go to the inbox. A second ingest of
// any of them, through either path, finds it wherever it is. Batches read both tables as one,
// and a move takes each record from the table that holds it.
TEST(SqliteInbox, SparseIdsWaitInTheInboxAndBatchesSignThemWithTheRestOnce) {
  testing::TempDir dir;
  SqliteStore store(dir / "s.db", true, 1000);
  const auto dense = sorted_records(4000, 1, "dense ");
  EXPECT_EQ(store.ingest(dense).accepted, 4000u);
  const auto sparse = random_records(300, 2, "sparse ");
  EXPECT_EQ(store.ingest(sparse).accepted, 300u);
  auto db = open_raw(dir / "s.db");
  EXPECT_EQ(count_rows(db.get(), "records"), 4000);
  EXPECT_EQ(count_rows(db.get(), "records_inbox"), 300);
  expect_exact_counts(store, dir / "s.db");

  // Again, sparse: the inbox's own records and those of `records` are duplicates or conflicts.
  std::vector<records::UnsignedRecord> again = random_records(300, 2, "sparse ");
  again[5].msg = "another msg";
  for (std::size_t i = 0; i < 300; i += 3) again.push_back(dense[i * 13]);
  const IngestResult repeated = store.ingest(again);
  EXPECT_EQ(repeated.accepted, 0u);
  EXPECT_EQ(repeated.duplicates, 399u);
  EXPECT_EQ(repeated.conflicts, 1u);
  // One record, dense (its span is one shard): it goes to `records`, and still finds its copy in
  // the inbox.
  const IngestResult one = store.ingest(std::vector{sparse[7]});
  EXPECT_EQ(one.accepted, 0u);
  EXPECT_EQ(one.duplicates, 1u);
  EXPECT_EQ(count_rows(db.get(), "records_inbox"), 300);
  expect_exact_counts(store, dir / "s.db");

  const auto read = read_as_batches(store, 3);
  std::map<std::string, std::string> expected;
  for (const auto* part : {&dense, &sparse}) {
    for (const auto& r : *part) expected[r.id] = r.msg;
  }
  std::map<std::string, std::string> got;
  for (const auto& r : read) EXPECT_TRUE(got.emplace(r.id, r.msg).second) << r.id << " read twice";
  EXPECT_EQ(got, expected);

  const MoveResult moved = store.move_to_signed(signed_from(read));
  EXPECT_EQ(moved.inserted, 4300u);
  EXPECT_EQ(count_rows(db.get(), "records"), 0);
  EXPECT_EQ(count_rows(db.get(), "records_inbox"), 0);
  expect_exact_counts(store, dir / "s.db");
  EXPECT_EQ(store.count().unsigned_records, 0u);
  EXPECT_EQ(store.count().signed_records, 4300u);
  // Signed, a record of the inbox is a duplicate like any other.
  EXPECT_EQ(store.ingest(std::vector{sparse[9]}).duplicates, 1u);
}

// Once the inbox holds an eighth of the store (and at least the merge size given), the store's
// thread merges it into `records`; the records and their counts are as they were.
TEST(SqliteInbox, IsMergedIntoRecordsOnceItHoldsAnEighthOfTheStore) {
  testing::TempDir dir;
  SqliteStore store(dir / "s.db", true, 400);
  const auto dense = sorted_records(4000, 3, "dense ");
  store.ingest(dense);
  const auto first = random_records(450, 4, "sparse ");  // under 4,000 / 8: stays
  EXPECT_EQ(store.ingest(first).accepted, 450u);
  auto db = open_raw(dir / "s.db");
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(count_rows(db.get(), "records_inbox"), 450);
  const auto second = random_records(200, 5, "sparse ");  // 650, over 4,450 / 8: merged
  EXPECT_EQ(store.ingest(second).accepted, 200u);
  ASSERT_TRUE(wait_for_empty_inbox(dir / "s.db"));
  EXPECT_EQ(count_rows(db.get(), "records"), 4650);
  expect_exact_counts(store, dir / "s.db");
  EXPECT_EQ(store.ingest(first).duplicates, 450u);
  EXPECT_EQ(read_as_batches(store, 2).size(), 4650u);
}

// A process that stops with records in its inbox leaves them there, safe; the next store to open
// the file merges them when due. An id another tool put into `records` meanwhile keeps that row,
// and the inbox's copy is dropped without being counted twice.
TEST(SqliteInbox, ALeftoverInboxIsMergedOnOpenAndAnotherToolsCopyWins) {
  testing::TempDir dir;
  const auto sparse = random_records(200, 7, "sparse ");
  {
    SqliteStore store(dir / "s.db", true, 1000);
    const auto dense = sorted_records(3000, 6, "dense ");
    store.ingest(dense);
    // Each ingest is sparse (3,000 or more stored across its span, over 8 a record); 600 in all
    // stay under the merge size of 1,000.
    EXPECT_EQ(store.ingest(sparse).accepted, 200u);
    EXPECT_EQ(store.ingest(random_records(200, 17, "sparse ")).accepted, 200u);
    EXPECT_EQ(store.ingest(random_records(200, 27, "sparse ")).accepted, 200u);
  }
  auto db = open_raw(dir / "s.db");
  EXPECT_EQ(count_rows(db.get(), "records_inbox"), 600);
  exec(db.get(), "INSERT INTO records (id, msg) VALUES ('" + sparse[10].id + "', 'theirs')");
  // 600 is over 3,601 / 8 and over 100: due.
  SqliteStore store(dir / "s.db", true, 100);
  ASSERT_TRUE(wait_for_empty_inbox(dir / "s.db"));
  EXPECT_EQ(count_rows(db.get(), "records"), 3600);
  expect_exact_counts(store, dir / "s.db");
  std::set<std::string> msgs;
  for (const auto& r : read_as_batches(store, 1)) {
    if (r.id == sparse[10].id) msgs.insert(r.msg);
  }
  EXPECT_EQ(msgs, std::set<std::string>{"theirs"});
}

// Moves of a running job and the merge take turns on the write lock: a job signing the store while
// its inbox is merged signs every record once and leaves nothing behind.
TEST(SqliteInbox, AJobSigningWhileTheInboxMergesSignsEveryRecordOnce) {
  testing::TempDir dir;
  SqliteStore store(dir / "s.db", true, 500);
  const auto dense = sorted_records(6000, 8, "dense ");
  store.ingest(dense);
  std::vector<records::UnsignedRecord> sparse;
  for (std::uint32_t part = 0; part < 4; ++part) {
    auto more = random_records(250, 10 + part, "sparse ");
    sparse.insert(sparse.end(), more.begin(), more.end());
    store.ingest(more);  // the fourth takes the inbox to 1,000, past 6,750 / 8
  }
  std::set<std::string> signed_ids;
  const std::uint64_t batches = 16;
  for (std::uint64_t b = 0; b < batches; ++b) {
    const records::ShardRange range = records::shard_range_for_batch(b, batches);
    ReadCursor cursor;
    for (;;) {
      auto page = store.read_unsigned(range, cursor, 50);
      for (const auto& r : page) EXPECT_TRUE(signed_ids.insert(r.id).second) << r.id;
      EXPECT_EQ(store.move_to_signed(signed_from(page)).inserted, page.size());
      if (cursor.exhausted) break;
    }
  }
  EXPECT_EQ(signed_ids.size(), 7000u);
  ASSERT_TRUE(wait_for_empty_inbox(dir / "s.db"));
  EXPECT_EQ(store.count().unsigned_records, 0u);
  EXPECT_EQ(store.count().signed_records, 7000u);
  expect_exact_counts(store, dir / "s.db");
}

}  // namespace
}  // namespace signer::store
