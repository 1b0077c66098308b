// What only the SQLite store has to prove on its own: ingest is serialised with a move of the
// same id by its write lock, and a table another tool made without a unique index on id gets one
// (or is refused when its data already breaks it).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_store.h"
#include "test_support.h"

namespace signer::store {
namespace {

using namespace std::chrono_literals;

struct Closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

// Another process on the same file.
std::unique_ptr<sqlite3, Closer> open_raw(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  sqlite3_busy_timeout(raw, 5000);
  return std::unique_ptr<sqlite3, Closer>(raw);
}

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
      << sql << ": " << (err ? err : "");
  sqlite3_free(err);
}

// The race of the issue, forced: a move of id X holds its write transaction open while an ingest
// of X with another msg arrives. The ingest waits for the lock (BEGIN IMMEDIATE), then sees the
// move and answers "conflict".
TEST(SqliteStoreRace, AnIngestWaitingOnAMoveOfItsIdIsAnsweredAsAConflict) {
  testing::TempDir dir;
  SqliteStore store(dir / "s.db");
  const std::string id = "0000abcd-raced";
  store.ingest(std::vector<records::UnsignedRecord>{{id, "first"}});
  auto mover = open_raw(dir / "s.db");
  exec(mover.get(), "BEGIN IMMEDIATE");
  exec(mover.get(),
       "INSERT INTO signedrecords (id, msg, salt, sign, key, job_id) "
       "VALUES ('" +
           id + "', 'first', 's', '0xsign', '0x04key', '')");
  exec(mover.get(), "DELETE FROM records WHERE id = '" + id + "'");
  auto ingest = std::async(std::launch::async, [&] {
    return store.ingest(std::vector<records::UnsignedRecord>{{id, "second"}});
  });
  EXPECT_EQ(ingest.wait_for(300ms), std::future_status::timeout);
  exec(mover.get(), "COMMIT");
  const IngestResult result = ingest.get();
  EXPECT_EQ(result.accepted, 0u);
  EXPECT_EQ(result.conflicts, 1u);
  EXPECT_EQ(store.count().unsigned_records, 0u);
  EXPECT_EQ(store.find_signed(id)->msg, "first");
}

std::vector<records::UnsignedRecord> numbered(std::size_t n, const std::string& prefix) {
  std::vector<records::UnsignedRecord> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back({prefix + std::to_string(i), "m"});
  return out;
}

// count() reads the one row the triggers keep, not the tables: changed by hand, the row is what it
// reports. A job's start counts the tables exactly under the write lock and sets the row to that,
// which mends the one drift a foreign writer can cause: INSERT OR REPLACE over a stored id, on a
// connection without recursive_triggers, deletes a row without firing its delete trigger.
TEST(SqliteStoreCounts, CountReadsTheKeptRowAndAJobStartSetsItExact) {
  testing::TempDir dir;
  SqliteStore store(dir / "s.db");
  store.ingest(numbered(3, "a"));
  exec(open_raw(dir / "s.db").get(), "INSERT OR REPLACE INTO records (id, msg) VALUES ('a0', 'm')");
  EXPECT_EQ(store.count().unsigned_records, 4u);  // the drift: one too many
  exec(open_raw(dir / "s.db").get(), "UPDATE signer_counts SET signed_records = 1000");
  EXPECT_EQ(store.count().signed_records, 1000u);

  const JobStart start = store.start_job();
  EXPECT_EQ(start.counts.unsigned_records, 3u);
  EXPECT_EQ(start.counts.signed_records, 0u);
  EXPECT_EQ(store.count().unsigned_records, 3u);
  EXPECT_EQ(store.count().signed_records, 0u);
}

// A database written before the counts existed (by an older signer, or in the original service's
// layout) is counted once when the store opens it; from then on every writer's rows are counted.
TEST(SqliteStoreCounts, ADatabaseWrittenBeforeTheCountsIsCountedOnOpen) {
  testing::TempDir dir;
  {
    auto db = open_raw(dir / "s.db");
    exec(db.get(),
         "CREATE TABLE records (id TEXT PRIMARY KEY, msg TEXT, shard INTEGER, sign TEXT, "
         "key TEXT)");
    exec(db.get(),
         "CREATE TABLE signedrecords (id TEXT PRIMARY KEY, msg TEXT, salt TEXT, sign TEXT, "
         "key TEXT)");
    exec(db.get(), "INSERT INTO records (id, msg) VALUES ('r1', 'm'), ('r2', 'm')");
    exec(db.get(), "INSERT INTO signedrecords VALUES ('s1', 'm', 's', 'x', 'k')");
  }
  SqliteStore store(dir / "s.db");
  EXPECT_EQ(store.count().unsigned_records, 2u);
  EXPECT_EQ(store.count().signed_records, 1u);
  exec(open_raw(dir / "s.db").get(), "INSERT INTO records (id, msg) VALUES ('r3', 'm')");
  exec(open_raw(dir / "s.db").get(), "DELETE FROM signedrecords");
  EXPECT_EQ(store.count().unsigned_records, 3u);
  EXPECT_EQ(store.count().signed_records, 0u);
}

// A counts row or trigger removed by hand: the row cannot be trusted, so the next open counts
// again; a row missing while the store runs is counted exactly on each read until then.
TEST(SqliteStoreCounts, ARemovedRowOrTriggerIsCountedAgain) {
  testing::TempDir dir;
  SqliteStore(dir / "s.db").ingest(numbered(5, "a"));
  exec(open_raw(dir / "s.db").get(),
       "DROP TRIGGER signer_count_records_insert; INSERT INTO records (id, msg) VALUES ('x', 'm')");
  SqliteStore store(dir / "s.db");
  EXPECT_EQ(store.count().unsigned_records, 6u);
  store.ingest(numbered(2, "b"));
  EXPECT_EQ(store.count().unsigned_records, 8u);  // the trigger is back

  exec(open_raw(dir / "s.db").get(), "DELETE FROM signer_counts");
  EXPECT_EQ(store.count().unsigned_records, 8u);
  store.ingest(numbered(1, "c"));
  EXPECT_EQ(store.count().unsigned_records, 9u);
}

// The store's writer counts its own rows (one UPDATE a transaction, with triggers off on that
// connection); every other connection's rows are counted by the triggers. Interleaved, the kept
// row must equal count(*) of both tables after each step: a write counted twice (triggers left on
// beside the store's own counting) or not at all (a path that forgets to count) shows here.
TEST(SqliteStoreCounts, TheStoresOwnWritesAndAnotherToolsAreEachCountedOnce) {
  testing::TempDir dir;
  SqliteStore store(dir / "s.db");
  auto other = open_raw(dir / "s.db");
  const auto expect_exact = [&](const char* after) {
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(other.get(),
                                 "SELECT (SELECT count(*) FROM records), "
                                 "(SELECT count(*) FROM signedrecords)",
                                 -1, &stmt, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    const Counts kept = store.count();
    EXPECT_EQ(kept.unsigned_records, static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 0)))
        << after;
    EXPECT_EQ(kept.signed_records, static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 1)))
        << after;
    sqlite3_finalize(stmt);
  };
  const IngestResult ingested = store.ingest(numbered(250, "a"));
  EXPECT_EQ(ingested.accepted, 250u);
  expect_exact("the store's ingest");
  store.ingest(numbered(3, "a"));  // duplicates: nothing stored, nothing counted
  expect_exact("an ingest of duplicates");
  exec(other.get(), "INSERT INTO records (id, msg) VALUES ('x1', 'm'), ('x2', 'm')");
  exec(other.get(),
       "INSERT INTO signedrecords (id, msg, salt, sign, key, job_id) "
       "VALUES ('a7', 'm', 's', '0xs', '0x04k', '')");
  expect_exact("another tool's inserts");
  // 150 records: one group of 100, then 50 one by one; a7 is already signed, and a140 was
  // deleted from records by the other tool before the move reached it.
  exec(other.get(), "DELETE FROM records WHERE id = 'a140'");
  std::vector<records::SignedRecord> moved;
  for (const records::UnsignedRecord& r : numbered(150, "a")) {
    moved.push_back({r.id, r.msg, "salt", "0xs", "0x04k", ""});
  }
  const MoveResult result = store.move_to_signed(moved);
  EXPECT_EQ(result.already_signed, 1u);
  expect_exact("the store's move");
  exec(other.get(), "DELETE FROM signedrecords WHERE id IN ('a3', 'a4')");
  exec(other.get(), "DELETE FROM records WHERE id = 'x1'");
  expect_exact("another tool's deletes");
  EXPECT_EQ(store.count().unsigned_records, 101u);  // 250 + 2 - 1 (a140) - 149 moved - 1 (x1)
  EXPECT_EQ(store.count().signed_records, 148u);    // 1 (a7) + 149 inserted - 2
}

// GET /stats reads the kept counts on a connection of its own: a long read on the reader (a job's
// closing count_signed_of_job scans every record it signed, 2 s at 10M) must not hold it up.
// for_each_signed holds the reader while its sink runs; count() is asked from another thread
// meanwhile. Sharing the reader, it waited until the scan ended.
TEST(SqliteStoreCounts, AreReadWhileALongReadHoldsTheReader) {
  testing::TempDir dir;
  SqliteStore store(dir / "s.db");
  store.ingest(numbered(3, "a"));
  std::vector<records::SignedRecord> moved;
  for (const records::UnsignedRecord& r : numbered(2, "a")) {
    moved.push_back({r.id, r.msg, "salt", "0xs", "0x04k", ""});
  }
  store.move_to_signed(moved);
  std::future<Counts> counted;
  bool answered_during_the_read = false;
  store.for_each_signed([&](const records::SignedRecord&) {
    if (counted.valid()) return;
    counted = std::async(std::launch::async, [&] { return store.count(); });
    answered_during_the_read = counted.wait_for(10s) == std::future_status::ready;
  });
  ASSERT_TRUE(counted.valid());
  const Counts counts = counted.get();
  EXPECT_TRUE(answered_during_the_read);
  EXPECT_EQ(counts.unsigned_records, 1u);
  EXPECT_EQ(counts.signed_records, 2u);
}

// INSERT OR IGNORE relies on the unique index: without it, a second move of an id would store it
// twice, signed with two salts.
TEST(SqliteStoreSchema, GivesATableAnotherToolMadeTheUniqueIndexOnIdItLacks) {
  testing::TempDir dir;
  {
    auto db = open_raw(dir / "s.db");
    exec(db.get(),
         "CREATE TABLE signedrecords (id TEXT, msg TEXT, salt TEXT, sign TEXT, key TEXT)");
    exec(db.get(), "INSERT INTO signedrecords VALUES ('a', 'm', 's', 'x', 'k')");
  }
  SqliteStore store(dir / "s.db");
  const MoveResult moved =
      store.move_to_signed(std::vector<records::SignedRecord>{{"a", "m", "s2", "x2", "k", ""}});
  EXPECT_EQ(moved.inserted, 0u);
  EXPECT_EQ(moved.already_signed, 1u);
  EXPECT_EQ(store.count().signed_records, 1u);
}

TEST(SqliteStoreSchema, RefusesATableThatHoldsAnIdTwiceNamingIt) {
  testing::TempDir dir;
  {
    auto db = open_raw(dir / "s.db");
    exec(db.get(),
         "CREATE TABLE signedrecords (id TEXT, msg TEXT, salt TEXT, sign TEXT, key TEXT)");
    exec(db.get(),
         "INSERT INTO signedrecords VALUES ('a', 'm', 's', 'x', 'k'), ('a', 'm', 't', 'y', 'k')");
  }
  try {
    SqliteStore store(dir / "s.db");
    FAIL() << "a table holding an id twice was accepted";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConflict) << e.what();
    EXPECT_NE(std::string(e.what()).find("signedrecords has no unique index on id"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace signer::store
