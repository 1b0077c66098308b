// PostgreSQL-specific behaviour of the PostgresStore, beyond the Store contract (which
// store_contract_test.cpp runs on it): the schema and its version, the plans of the hot-path
// statements, connection errors and timeouts, reconnection, and what text columns cannot hold.
// Needs the server named by SIGNER_TEST_PG_URL (pg_test_support.h); the configuration tests that
// need no server always run.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "pg_test_support.h"
#include "records/shard.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/postgres_sql.h"
#include "store/postgres/postgres_store.h"
#include "store/store_factory.h"

namespace signer::store {
namespace {

using Clock = std::chrono::steady_clock;
using testing::pg_required;
using testing::pg_url;
using testing::RawPg;

// The URL with its password replaced by `password`.
std::string with_password(const std::string& url, const std::string& password) {
  const std::size_t scheme = url.find("://") + 3;
  const std::size_t at = url.find('@', scheme);
  const std::size_t colon = url.find(':', scheme);
  return url.substr(0, colon + 1) + password + url.substr(at);
}

std::string password_of(const std::string& url) {
  const std::size_t scheme = url.find("://") + 3;
  const std::size_t colon = url.find(':', scheme);
  return url.substr(colon + 1, url.find('@', scheme) - colon - 1);
}

std::vector<records::UnsignedRecord> numbered(std::size_t n, const std::string& prefix = "r") {
  std::vector<records::UnsignedRecord> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back({prefix + std::to_string(i), "message " + std::to_string(i)});
  }
  return out;
}

// ---- configuration errors (no server needed) -------------------------------------------------

TEST(PostgresStoreConfig, UnparsableUrlIsInvalidAndHidesThePassword) {
  for (const std::string url :
       {"postgresql://signer:UrlPassw0rd!@[::1/db", "postgresql://signer:UrlPassw0rd!@h/db?bogus=1",
        "postgres://signer@h/db?password=UrlPassw0rd%zz"}) {
    SCOPED_TRACE(url);
    try {
      PostgresStore store({.url = url, .timeout_ms = 300});
      FAIL() << "accepted " << url;
    } catch (const StoreError& e) {
      const std::string message = e.what();
      EXPECT_EQ(e.kind(), ErrorKind::kInvalid) << message;
      EXPECT_NE(message.find("bad PostgreSQL URL"), std::string::npos) << message;
      EXPECT_EQ(message.find("UrlPassw0rd"), std::string::npos) << message;
    }
  }
}

TEST(PostgresStoreConfig, UnreachableServerFailsWithinTheTimeoutAndHidesThePassword) {
  const auto start = Clock::now();
  try {
    StoreOptions options{.url = "postgresql://signer:UrlPassw0rd!@127.0.0.1:1/signer",
                         .timeout_ms = 2000};
    options.pg_password = "EnvPassw0rd!";
    PostgresStore store(options);
    FAIL() << "connected to port 1";
  } catch (const StoreError& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable) << message;
    EXPECT_NE(message.find("127.0.0.1"), std::string::npos) << message;
    EXPECT_EQ(message.find("UrlPassw0rd"), std::string::npos) << message;
    EXPECT_EQ(message.find("EnvPassw0rd"), std::string::npos) << message;
  }
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
}

// A primary and its standby, the URL a failover setup gives (docs/K8S.md): each host named with
// its port, never a password.
TEST(PostgresStoreConfig, AMultiHostUrlIsDescribedHostByHost) {
  EXPECT_EQ(pg::describe_url("postgresql://signer:secret@10.0.0.1:5432,10.0.0.2:5433/signer"
                             "?target_session_attrs=read-write"),
            "postgresql://signer@10.0.0.1:5432,10.0.0.2:5433/signer");
  // libpq: a host without a port of its own gets the default one.
  EXPECT_EQ(pg::describe_url("postgresql://signer@pg-a,pg-b:6432/db"),
            "postgresql://signer@pg-a,pg-b:6432/db");
  EXPECT_EQ(pg::describe_url("host=pg-a,pg-b port=6432 dbname=db user=signer"),
            "postgresql://signer@pg-a:6432,pg-b:6432/db");
}

TEST(PostgresStoreConfig, NonPositiveTimeoutsAreInvalid) {
  for (auto [connect, statement] : {std::pair{0, 1000}, std::pair{1000, 0}}) {
    StoreOptions options{.url = "postgresql://127.0.0.1:1/signer", .timeout_ms = connect};
    options.statement_timeout_ms = statement;
    try {
      PostgresStore store(options);
      FAIL();
    } catch (const StoreError& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalid) << e.what();
    }
  }
}

TEST(PostgresStoreConfig, TheFactoryTakesBothSchemes) {
  EXPECT_TRUE(is_postgres_url("postgres://h/db"));
  EXPECT_TRUE(is_postgres_url("postgresql://h/db"));
  EXPECT_FALSE(is_postgres_url("mongodb://h/"));
  EXPECT_FALSE(is_postgres_url("sqlite:postgres.db"));
}

TEST(PostgresArrays, TextElementsAreQuotedAndEscaped) {
  pg::TextArray a;
  EXPECT_EQ(a.literal(), "{}");
  a.add("plain");
  a.add("with \"quote\" and \\ backslash, comma {braces}");
  a.add("");
  EXPECT_EQ(a.literal(), R"({"plain","with \"quote\" and \\ backslash, comma {braces}",""})");
  a.add("more");  // reopens after literal()
  EXPECT_EQ(a.literal(),
            R"({"plain","with \"quote\" and \\ backslash, comma {braces}","","more"})");
  EXPECT_EQ(a.size(), 4u);
  pg::IntArray n;
  EXPECT_EQ(n.literal(), "{}");
  n.add(-1);
  n.add(4294967295);
  EXPECT_EQ(n.literal(), "{-1,4294967295}");
}

// ---- against the server ----------------------------------------------------------------------

TEST(PostgresTestServer, IsConfiguredWhenRequired) {
  if (!pg_url().empty()) return;
  if (pg_required()) FAIL() << testing::kPgMissing;
  GTEST_SKIP() << "SIGNER_TEST_PG_URL is not set: PostgreSQL tests left out";
}

class PostgresServer : public ::testing::Test {
 protected:
  void SetUp() override {
    if (pg_url().empty()) {
      if (pg_required()) FAIL() << testing::kPgMissing;
      GTEST_SKIP() << "SIGNER_TEST_PG_URL is not set";
    }
    raw_ = std::make_unique<RawPg>(pg_url());
    raw_->drop_store_tables();
  }

  std::unique_ptr<PostgresStore> open(int statement_timeout_ms = 30000) {
    StoreOptions options{.url = pg_url(), .timeout_ms = 5000};
    options.statement_timeout_ms = statement_timeout_ms;
    return std::make_unique<PostgresStore>(options);
  }

  // EXPLAIN of `statement` with `params` (a generic plan is what a prepared statement settles on
  // after five runs, so check that one: plan_cache_mode forces it).
  std::string explain(const std::string& statement, const std::string& params) {
    raw_->query("SET plan_cache_mode = force_generic_plan");
    raw_->query("DEALLOCATE ALL");
    raw_->query("PREPARE under_test AS " + statement);
    std::string plan;
    for (const auto& row : raw_->query("EXPLAIN EXECUTE under_test(" + params + ")")) {
      plan += row[0] + "\n";
    }
    return plan;
  }

  std::unique_ptr<RawPg> raw_;
};

TEST_F(PostgresServer, CreatesTheSchemaWithItsIndexesAndVersion) {
  auto store = open();
  EXPECT_EQ(store->schema_version(), PostgresStore::kSchemaVersion);
  const auto indexes = raw_->query(
      "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
      "AND tablename IN ('records', 'signedrecords') ORDER BY indexname");
  std::vector<std::string> defs;
  for (const auto& row : indexes) defs.push_back(row[0] + ": " + row[1]);
  const auto has = [&](const std::string& part) {
    return std::any_of(defs.begin(), defs.end(),
                       [&](const std::string& d) { return d.find(part) != std::string::npos; });
  };
  EXPECT_TRUE(has("records: CREATE UNIQUE INDEX records_pkey ON public.records USING btree (id)"))
      << ::testing::PrintToString(defs);
  EXPECT_TRUE(
      has("records: CREATE INDEX records_shard_id ON public.records USING btree (shard, "
          "id)"))
      << ::testing::PrintToString(defs);
  EXPECT_TRUE(
      has("signedrecords: CREATE UNIQUE INDEX signedrecords_pkey ON public.signedrecords "
          "USING btree (id)"))
      << ::testing::PrintToString(defs);
  EXPECT_TRUE(has("signedrecords_job_id")) << ::testing::PrintToString(defs);
  // Bytewise order, as the other stores and the contract's (shard, id) order have it.
  const auto collations = raw_->query(
      "SELECT table_name, collation_name FROM information_schema.columns "
      "WHERE column_name = 'id' AND table_name IN ('records', 'signedrecords') "
      "AND table_schema = current_schema() ORDER BY table_name");
  ASSERT_EQ(collations.size(), 2u);
  EXPECT_EQ(collations[0][1], "C");
  EXPECT_EQ(collations[1][1], "C");
}

TEST_F(PostgresServer, OpeningAgainKeepsTheDataAndMigratesNothing) {
  open()->ingest(numbered(10));
  auto again = open();
  EXPECT_EQ(again->count().unsigned_records, 10u);
  // One row per migration, each made once.
  EXPECT_EQ(raw_->query("SELECT count(*) FROM signer_schema")[0][0],
            std::to_string(PostgresStore::kSchemaVersion));
}

TEST_F(PostgresServer, PodsOpeningTogetherCreateTheSchemaOnce) {
  std::vector<std::future<void>> opens;
  for (int i = 0; i < 6; ++i) {
    opens.push_back(std::async(std::launch::async, [&] { open(); }));
  }
  for (auto& f : opens) EXPECT_NO_THROW(f.get());
  EXPECT_EQ(raw_->query("SELECT count(*) FROM signer_schema")[0][0],
            std::to_string(PostgresStore::kSchemaVersion));
}

TEST_F(PostgresServer, RefusesADatabaseWhoseSchemaIsNewer) {
  open();
  raw_->query("INSERT INTO signer_schema (version) VALUES (" +
              std::to_string(PostgresStore::kSchemaVersion + 1) + ")");
  try {
    open();
    FAIL() << "opened a schema from the future";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalid) << e.what();
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
}

// count() sums the slots the triggers keep, not the tables: a slot changed by hand is what it
// reports.
TEST_F(PostgresServer, CountReadsTheKeptSlots) {
  auto store = open();
  store->ingest(numbered(3));
  raw_->query("UPDATE signer_counts SET signed_records = signed_records + 1000 WHERE slot = 7");
  EXPECT_EQ(store->count().unsigned_records, 3u);
  EXPECT_EQ(store->count().signed_records, 1000u);
}

// Tables written before the counts existed (by another tool, or an older signer) are counted once
// when the store opens them; from then on every writer's inserts, deletes and truncates are.
TEST_F(PostgresServer, ADatabaseWrittenBeforeTheCountsIsCountedOnOpenAndEveryWriterAfter) {
  raw_->query("CREATE TABLE records (id text PRIMARY KEY, msg text)");
  raw_->query("INSERT INTO records VALUES ('r1', 'm'), ('r2', 'm'), ('r3', 'm')");
  auto store = open();
  EXPECT_EQ(store->count().unsigned_records, 3u);
  raw_->query("INSERT INTO records (id, msg) VALUES ('r4', 'm'), ('r5', 'm')");
  raw_->query("DELETE FROM records WHERE id = 'r1'");
  EXPECT_EQ(store->count().unsigned_records, 4u);
  raw_->query(
      "INSERT INTO signedrecords (id, msg, salt, sign, key) VALUES ('s', 'm', 's', 'x', 'k')");
  raw_->query("TRUNCATE records");
  EXPECT_EQ(store->count().unsigned_records, 0u);
  EXPECT_EQ(store->count().signed_records, 1u);
}

// A slot or trigger removed by hand: the counts cannot be trusted, so they are counted exactly on
// each read until the next open counts them again.
TEST_F(PostgresServer, ARemovedSlotOrTriggerIsCountedAgain) {
  open()->ingest(numbered(5));
  raw_->query("DROP TRIGGER signer_count_insert ON records");
  raw_->query("INSERT INTO records (id, msg) VALUES ('x', 'm')");
  auto store = open();
  EXPECT_EQ(store->count().unsigned_records, 6u);
  store->ingest(numbered(2, "b"));
  EXPECT_EQ(store->count().unsigned_records, 8u);  // the trigger is back

  raw_->query("DELETE FROM signer_counts WHERE slot = 0");
  EXPECT_EQ(store->count().unsigned_records, 8u);
  EXPECT_EQ(open()->count().unsigned_records, 8u);
  EXPECT_EQ(raw_->query("SELECT count(*) FROM signer_counts")[0][0], "32");
}

TEST_F(PostgresServer, AdoptsARecordsTableAnotherToolMade) {
  raw_->query("CREATE TABLE records (id text PRIMARY KEY, msg text)");
  raw_->query("INSERT INTO records VALUES ('foreign-1', 'hello')");
  auto store = open();
  EXPECT_EQ(store->backfill_shards(), 1u);
  ReadCursor cursor;
  const auto page = store->read_unsigned(records::shard_range_for_batch(0, 1), cursor, 10);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].msg, "hello");
}

// A table another tool made with the columns but without a unique index on id: ON CONFLICT (id)
// would fail every move, and nothing would stop an id from being stored twice.
TEST_F(PostgresServer, GivesATableAnotherToolMadeTheUniqueIndexOnIdItLacks) {
  raw_->query("CREATE TABLE signedrecords (id text, msg text, salt text, sign text, key text)");
  raw_->query("INSERT INTO signedrecords VALUES ('a', 'm', 's', 'x', 'k')");
  auto store = open();
  EXPECT_EQ(store
                ->move_to_signed(std::vector<records::SignedRecord>{{"a", "m", "s2", "x2", "k", ""},
                                                                    {"b", "m", "s", "x", "k", ""}})
                .inserted,
            1u);
  EXPECT_EQ(raw_->query("SELECT count(*) FROM signedrecords WHERE id = 'a'")[0][0], "1");
}

TEST_F(PostgresServer, RefusesATableThatHoldsAnIdTwiceNamingIt) {
  raw_->query("CREATE TABLE signedrecords (id text, msg text, salt text, sign text, key text)");
  raw_->query(
      "INSERT INTO signedrecords VALUES ('a', 'm', 's', 'x', 'k'), ('a', 'm', 't', 'y', 'k')");
  try {
    open();
    FAIL() << "a table holding an id twice was accepted";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConflict) << e.what();
    EXPECT_NE(std::string(e.what()).find("signedrecords has no unique index on id"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(PostgresServer, AShardColumnOfAnotherTypeBecomesBigintAndIsBackfilled) {
  raw_->query("CREATE TABLE records (id text PRIMARY KEY, msg text, shard double precision)");
  raw_->query("INSERT INTO records VALUES ('0000000c-a', 'm', 12.5), ('0000000d-b', 'm', 13)");
  auto store = open();
  EXPECT_EQ(raw_->query("SELECT data_type FROM information_schema.columns WHERE table_name = "
                        "'records' AND column_name = 'shard'")[0][0],
            "bigint");
  EXPECT_EQ(store->backfill_shards(), 2u);
  ReadCursor cursor;
  EXPECT_EQ(store->read_unsigned(records::shard_range_for_batch(0, 1), cursor, 10).size(), 2u);
}

// The race of the issue, forced: a move of id X holds its transaction open (X deleted from records
// and inserted into signedrecords, not yet committed) while an ingest of X with another msg
// arrives. The ingest's insert waits on the move's row lock; once the move commits, the insert
// goes through, since its snapshot saw neither copy. It must be taken back and answered
// "conflict": before, it was "accepted", and the next job dropped it as already signed.
TEST_F(PostgresServer, AnIngestThatWaitedOnAMoveOfItsIdIsAnsweredAsAConflict) {
  auto store = open();
  const std::string id = "0000abcd-raced";
  store->ingest(std::vector<records::UnsignedRecord>{{id, "first"}});
  RawPg mover(pg_url());
  mover.query("BEGIN");
  mover.query(
      "INSERT INTO signedrecords (id, msg, salt, sign, key, job_id) "
      "VALUES ($1, 'first', 's', '0xsign', '0x04key', '')",
      {id});
  mover.query("DELETE FROM records WHERE id = $1", {id});
  auto ingest = std::async(std::launch::async, [&] {
    return store->ingest(std::vector<records::UnsignedRecord>{{id, "second"}});
  });
  // Until the ingest is waiting on the move's lock.
  bool waiting = false;
  for (int i = 0; i < 200 && !waiting; ++i) {
    waiting = raw_->query(
                  "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                  "'message-signer' AND wait_event_type = 'Lock'")[0][0] == "1";
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_TRUE(waiting) << "the ingest never waited on the move";
  EXPECT_EQ(ingest.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  mover.query("COMMIT");
  const IngestResult result = ingest.get();
  EXPECT_EQ(result.accepted, 0u);
  EXPECT_EQ(result.conflicts, 1u);
  EXPECT_EQ(raw_->query("SELECT count(*) FROM records WHERE id = $1", {id})[0][0], "0");
  EXPECT_EQ(raw_->query("SELECT msg FROM signedrecords WHERE id = $1", {id})[0][0], "first");
}

// An ingest of records with the job's start in between: the start waits for the ingest's
// transaction, so its records are counted in the start's epoch, all of them or none.
TEST_F(PostgresServer, AJobStartWaitsForAnIngestInFlight) {
  auto store = open();
  RawPg ingester(pg_url());
  ingester.query("BEGIN");
  ingester.query("SELECT pg_advisory_xact_lock_shared(7163550141852860020)");
  ingester.query(
      "INSERT INTO records (id, msg, shard, epoch) SELECT 'late', 'm', 1, epoch FROM signer_epoch");
  auto start = std::async(std::launch::async, [&] { return store->start_job(); });
  EXPECT_EQ(start.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  ingester.query("COMMIT");
  const JobStart opened = start.get();
  EXPECT_EQ(opened.counts.unsigned_records, 1u);
  EXPECT_EQ(store->count_unsigned_through_epoch(opened.epoch), 1u);
}

// The hot path stays an index range scan however large the table: the chunk read walks
// records_shard_id from the cursor, and the move finds each id through the primary keys.
TEST_F(PostgresServer, ChunkReadAndMoveAreIndexScans) {
  auto store = open();
  std::vector<records::UnsignedRecord> many;
  for (int i = 0; i < 20000; ++i) many.push_back({"id-" + std::to_string(i), "m"});
  store->ingest(many);
  raw_->query("ANALYZE records");
  raw_->query("ANALYZE signedrecords");
  const std::string read = explain(pg::sql::kReadUnsigned, "0, '', 1073741824, 2000, 8388608");
  EXPECT_NE(read.find("Index Scan using records_shard_id on records"), std::string::npos) << read;
  EXPECT_EQ(read.find("Seq Scan"), std::string::npos) << read;
  const std::string move =
      explain(pg::sql::kMove.one_statement, "'{a,b}', '{m,m}', '{s,s}', '{x,x}', '{k,k}', '{j,j}'");
  EXPECT_NE(move.find("records_pkey"), std::string::npos) << move;
  EXPECT_EQ(move.find("Seq Scan on records"), std::string::npos) << move;
}

TEST_F(PostgresServer, WrongCredentialsAreRefusedClearlyWithinTheTimeout) {
  const auto start = Clock::now();
  try {
    PostgresStore store({.url = with_password(pg_url(), "Wr0ngPassw0rd"), .timeout_ms = 5000});
    FAIL() << "logged in with a wrong password";
  } catch (const StoreError& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable) << message;
    EXPECT_NE(message.find("password authentication failed"), std::string::npos) << message;
    EXPECT_EQ(message.find("Wr0ngPassw0rd"), std::string::npos) << message;
  }
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

TEST_F(PostgresServer, ThePasswordOptionReplacesTheUrlPassword) {
  StoreOptions options{.url = with_password(pg_url(), "Wr0ngPassw0rd"), .timeout_ms = 5000};
  options.pg_password = password_of(pg_url());
  PostgresStore store(options);
  EXPECT_NO_THROW(store.ping());
  EXPECT_EQ(store.describe().find(password_of(pg_url())), std::string::npos) << store.describe();
}

TEST_F(PostgresServer, AMsgWithANulCharacterIsRefusedAndNothingIsWritten) {
  auto store = open();
  std::vector<records::UnsignedRecord> batch = numbered(3);
  batch[1].msg = std::string("nul\0inside", 10);
  try {
    store->ingest(batch);
    FAIL() << "stored a NUL";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalid) << e.what();
    EXPECT_NE(std::string(e.what()).find("r1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store->count().unsigned_records, 0u);
}

// A statement held up (here by a lock another session keeps) ends at the statement timeout with
// a retryable error, and the store works again once the lock is gone.
// A server that stops answering altogether (frozen, or behind a link that accepts bytes and
// delivers none) cannot cancel the statement itself: the store gives up after the statement
// timeout plus the store timeout, closes the connection, and the next statement reconnects.
TEST_F(PostgresServer,
       AServerThatStopsAnsweringFailsTheStatementAfterItsTimeoutPlusTheStoreTimeout) {
  StoreOptions options{.url = pg_url(), .timeout_ms = 1000};
  options.statement_timeout_ms = 500;
  options.pg_pool_size = 1;
  PostgresStore store(options);
  store.ingest(numbered(5));
  // The one pooled connection's server process, frozen.
  const std::string backend = raw_->query(
      "SELECT pid FROM pg_stat_activity WHERE application_name = 'message-signer'")[0][0];
  ASSERT_EQ(::kill(std::stoi(backend), SIGSTOP), 0);
  const auto start = Clock::now();
  try {
    store.count();
    ADD_FAILURE() << "a frozen server answered";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable) << e.what();
    EXPECT_NE(std::string(e.what()).find("did not answer within 1500 ms"), std::string::npos)
        << e.what();
  }
  const auto took = Clock::now() - start;
  ::kill(std::stoi(backend), SIGCONT);
  EXPECT_GE(took, std::chrono::milliseconds(1400));
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(store.count().unsigned_records, 5u);
}

TEST_F(PostgresServer, AStatementBlockedPastItsTimeoutFailsAsUnavailable) {
  auto store = open(300);
  store->ingest(numbered(5));
  raw_->query("BEGIN");
  raw_->query("LOCK TABLE records IN ACCESS EXCLUSIVE MODE");
  const auto start = Clock::now();
  try {
    // A statement that reads the table (count() reads only the counts the triggers keep).
    store->count_unsigned_through_epoch(1);
    ADD_FAILURE() << "counted through an exclusive lock";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable) << e.what();
    EXPECT_NE(std::string(e.what()).find("statement timeout"), std::string::npos) << e.what();
  }
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  raw_->query("COMMIT");
  EXPECT_EQ(store->count().unsigned_records, 5u);
}

// The server ends every connection of the store (as a restart does): the pool notices the closed
// sockets and reconnects, so the next operation succeeds without an error reaching the caller.
TEST_F(PostgresServer, ReconnectsWhenTheServerDropsItsConnections) {
  auto store = open();
  // Several pooled connections, all idle afterwards.
  std::vector<std::thread> users;
  for (int i = 0; i < 4; ++i) users.emplace_back([&] { store->count(); });
  for (auto& t : users) t.join();
  const auto ended = raw_->query(
      "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE application_name = 'message-signer' AND pid <> pg_backend_pid()) t");
  EXPECT_NE(ended[0][0], "0");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the FATAL notices arrive
  for (int i = 0; i < 6; ++i)
    EXPECT_NO_THROW(store->ingest(numbered(1, "after" + std::to_string(i))));
  EXPECT_EQ(store->count().unsigned_records, 6u);
}

}  // namespace
}  // namespace signer::store
