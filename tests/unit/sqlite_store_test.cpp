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
