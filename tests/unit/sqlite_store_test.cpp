// What only the SQLite store has to prove on its own: ingest is serialised with a move of the
// same id by its write lock, a table another tool made without a unique index on id gets one
// (or is refused when its data already breaks it), and only ids whose order is not their shard
// order are kept in the (shard, id) index.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "audit/audit_json.h"
#include "records/shard.h"
#include "sqlite_test_support.h"
#include "store/sqlite/sqlite_store.h"
#include "test_support.h"

namespace signer::store {
namespace {

using namespace std::chrono_literals;

using testing_sqlite::exec;
using testing_sqlite::open_raw;

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

// Entries of index `name`, counted from its pages (the dbstat table), not through the planner.
std::int64_t index_entries(sqlite3* db, const char* name) {
  sqlite3_stmt* raw = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db,
                               "SELECT coalesce(sum(ncell), 0) FROM dbstat "
                               "WHERE name = ?1 AND pagetype = 'leaf'",
                               -1, &raw, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
  sqlite3_bind_text(raw, 1, name, -1, SQLITE_STATIC);
  EXPECT_EQ(sqlite3_step(raw), SQLITE_ROW) << sqlite3_errmsg(db);
  return sqlite3_column_int64(raw, 0);
}

bool has_index(sqlite3* db, const std::string& name) {
  sqlite3_stmt* raw = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1",
                               -1, &raw, nullptr),
            SQLITE_OK);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
  sqlite3_bind_text(raw, 1, name.c_str(), -1, SQLITE_TRANSIENT);
  return sqlite3_step(raw) == SQLITE_ROW;
}

std::vector<records::UnsignedRecord> read_everything(SqliteStore& store) {
  std::vector<records::UnsignedRecord> out;
  ReadCursor cursor;
  for (;;) {
    auto page = store.read_unsigned(records::shard_range_for_batch(0, 1), cursor, 7);
    out.insert(out.end(), page.begin(), page.end());
    if (cursor.exhausted) return out;
  }
}

// Lowercase-hex ids (UUIDs, the original generator's ids) are read by a range of the primary key;
// the (shard, id) index holds only the other ids. An ingest of random ids then writes one B-tree
// page a record, not two, and a move deletes from one (docs/PERFORMANCE.md).
TEST(SqliteStoreShardIndex, HoldsOnlyTheIdsWhoseIdOrderIsNotTheirShardOrder) {
  testing::TempDir dir;
  SqliteStore store(dir / "s.db");
  std::vector<records::UnsignedRecord> lower;
  std::vector<records::UnsignedRecord> others;
  for (unsigned i = 0; i < 200; ++i) {
    char id[40];
    std::snprintf(id, sizeof id, "%08x-8d1c-4b6e-9f3a-%012x", i * 21474836u, i);
    lower.push_back({id, "m"});
  }
  for (unsigned i = 0; i < 10; ++i) {
    char id[40];
    std::snprintf(id, sizeof id, "%08X-8D1C", 0xA0000000u + i * 12345u);
    others.push_back({id, "m"});
    others.push_back({"named-" + std::to_string(i), "m"});
  }
  others.push_back({"0000000:", "m"});  // sorts between hex digits
  store.ingest(lower);
  store.ingest(others);
  auto db = open_raw(dir / "s.db");
  EXPECT_TRUE(has_index(db.get(), "records_shard_other"));
  EXPECT_EQ(index_entries(db.get(), "records_shard_other"), 21);
  EXPECT_EQ(read_everything(store).size(), 221u);

  std::vector<records::SignedRecord> moved;
  for (const auto& r : lower) moved.push_back({r.id, r.msg, "s", "x", "k", "j"});
  EXPECT_EQ(store.move_to_signed(moved).inserted, 200u);
  EXPECT_EQ(index_entries(db.get(), "records_shard_other"), 21);
  moved.clear();
  for (const auto& r : others) moved.push_back({r.id, r.msg, "s", "x", "k", "j"});
  EXPECT_EQ(store.move_to_signed(moved).inserted, 21u);
  EXPECT_EQ(index_entries(db.get(), "records_shard_other"), 0);
  EXPECT_EQ(store.count().unsigned_records, 0u);
}

// A store written before the partial index had a full (shard, id) index: opening it drops that
// index and makes the partial one, and every record is read as before.
TEST(SqliteStoreShardIndex, AStoreWithTheFullIndexOfOlderSignersLosesItOnOpen) {
  testing::TempDir dir;
  std::vector<records::UnsignedRecord> records{
      {"0a0b0c0d-1", "m"}, {"0A0B0C0D-2", "m"}, {"named", "m"}, {"ffffffff", "m"}};
  SqliteStore(dir / "s.db").ingest(records);
  exec(open_raw(dir / "s.db").get(),
       "DROP INDEX records_shard_other; CREATE INDEX records_shard_id ON records (shard, id)");
  SqliteStore store(dir / "s.db");
  auto db = open_raw(dir / "s.db");
  EXPECT_FALSE(has_index(db.get(), "records_shard_id"));
  EXPECT_TRUE(has_index(db.get(), "records_shard_other"));
  EXPECT_EQ(index_entries(db.get(), "records_shard_other"), 2);
  EXPECT_EQ(read_everything(store).size(), 4u);
}

// Lowercase-hex ids another tool wrote with no shard, or a shard of the wrong type or range, are
// read by their id like any other: the backfill need not (and does not) touch them.
TEST(SqliteStoreShardIndex, LowercaseIdsAnotherToolWroteWithoutAShardAreReadWithoutBackfill) {
  testing::TempDir dir;
  SqliteStore store(dir / "s.db");
  exec(open_raw(dir / "s.db").get(),
       "INSERT INTO records (id, msg) VALUES ('00000001aa', 'm'), ('ABCDEF01', 'm');"
       "INSERT INTO records (id, msg, shard) VALUES ('00000002aa', 'm', 'x'), "
       "('00000003aa', 'm', 12.5), ('00000004aa', 'm', -1), ('00000005aa', 'm', 7)");
  std::vector<std::string> ids;
  for (const auto& r : read_everything(store)) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"00000001aa", "00000002aa", "00000003aa", "00000004aa",
                                           "00000005aa"}));
  EXPECT_EQ(store.backfill_shards(), 1u);  // ABCDEF01 only
  ids.clear();
  for (const auto& r : read_everything(store)) ids.push_back(r.id);
  EXPECT_EQ(ids.size(), 6u);
  EXPECT_EQ(ids.back(), "ABCDEF01");
}

}  // namespace
// A job saved before its outcomes had rows keeps them in its body: it reads back with them (and,
// asked for without its outcomes, without them).
TEST(SqliteStoreJobs, AJobSavedWithItsOutcomesInItsBodyReadsBackWithThem) {
  testing::TempDir dir;
  audit::JobRecord job;
  job.id = "j-000000000001-00000000000000aa";
  job.batches = 3;
  job.results = {{0, "pod-a", 0, "0xabc", 7, 0, 1, ""}, {2, "pod-b", 0, "0xabc", 0, 0, 4, "busy"}};
  {
    SqliteStore store(dir / "s.db");
    store.save_job(job, 0);  // makes the tables; the body below replaces the row
  }
  std::string body = audit::dump_line(audit::to_json(job));
  std::string quoted;
  for (const char c : body) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  exec(open_raw(dir / "s.db").get(),
       "DELETE FROM job_results; UPDATE jobs SET body = '" + quoted + "'");
  SqliteStore store(dir / "s.db");
  auto found = store.find_job(job.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(audit::to_json(*found), audit::to_json(job));
  EXPECT_TRUE(store.find_job(job.id, /*with_outcomes=*/false)->results.empty());
}

}  // namespace signer::store
