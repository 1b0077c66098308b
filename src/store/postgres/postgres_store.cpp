#include "store/postgres/postgres_store.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

#include "audit/audit_json.h"
#include "records/shard.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/postgres_sql.h"

namespace signer::store {
namespace {

using pg::Connection;
using pg::IntArray;
using pg::TextArray;

// Any constant shared by every release: pods that start together take this advisory lock, so
// one of them creates or migrates the schema and the others then find it done.
constexpr const char* kSchemaLock = "SELECT pg_advisory_xact_lock(7163550141852860019)";
// The ingest epoch's lock: every ingest holds it shared for its transaction, a job's start takes
// it alone, so no ingest commits between the start's counts and its closing of the epoch.
constexpr const char* kBeginIngest =
    "BEGIN; SELECT pg_advisory_xact_lock_shared(7163550141852860020)";
constexpr const char* kBeginJobStart = "BEGIN; SELECT pg_advisory_xact_lock(7163550141852860020)";

// Whether `table` has a unique index on exactly (id), its primary key or another, without a
// predicate. A table another tool made first may have none: ON CONFLICT (id) would then fail
// every move, or a plain insert store an id twice.
constexpr const char* kHasUniqueId =
    "SELECT count(*) FROM pg_index i "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
    "WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnkeyatts = 1 "
    "AND i.indpred IS NULL AND a.attname = 'id'";

// Version 1. Written to run over tables another tool made first (IF NOT EXISTS, ADD COLUMN IF NOT
// EXISTS), as the SQLite and MongoDB stores read what the original's generator wrote.
// `msg` may be NULL in records (another tool's row): such a record is reported, never signed.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS records (
  id    text COLLATE "C" PRIMARY KEY,
  msg   text
);
ALTER TABLE records ADD COLUMN IF NOT EXISTS shard bigint;
ALTER TABLE records ADD COLUMN IF NOT EXISTS sign text NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN IF NOT EXISTS key text NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS records_shard_id ON records (shard, id);
CREATE TABLE IF NOT EXISTS signedrecords (
  id   text COLLATE "C" PRIMARY KEY,
  msg  text NOT NULL,
  salt text NOT NULL,
  sign text NOT NULL,
  key  text NOT NULL
);
ALTER TABLE signedrecords ADD COLUMN IF NOT EXISTS job_id text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE signedrecords ADD COLUMN IF NOT EXISTS scheme text;
ALTER TABLE signedrecords ADD COLUMN IF NOT EXISTS digest text;
CREATE INDEX IF NOT EXISTS signedrecords_job_id ON signedrecords (job_id, id);
CREATE TABLE IF NOT EXISTS jobs (
  id              text COLLATE "C" PRIMARY KEY,
  started_unix_ms bigint NOT NULL,
  state           text NOT NULL,
  body            text NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_started ON jobs (started_unix_ms, id);
CREATE TABLE IF NOT EXISTS audit (
  seq          bigserial PRIMARY KEY,
  time_unix_ms bigint NOT NULL,
  job_id       text COLLATE "C" NOT NULL,
  route        text NOT NULL,
  body         text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_job ON audit (job_id, seq);
)sql";

// Version 2: the ingest epoch (store.h, JobStart). Records get the epoch they were ingested in
// (NULL: before this, or by another tool); signer_epoch holds the current one, which a job's
// start closes. A `shard` column another tool made with another type (numeric, double, text)
// could hold values a cursor cannot follow; it becomes bigint, emptied, and the next backfill
// gives every record its shard again.
constexpr const char* kSchemaV2 = R"sql(
ALTER TABLE records ADD COLUMN IF NOT EXISTS epoch bigint;
CREATE TABLE IF NOT EXISTS signer_epoch (epoch bigint NOT NULL);
INSERT INTO signer_epoch (epoch) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM signer_epoch);
DO $$
BEGIN
  IF (SELECT data_type FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = 'records'
        AND column_name = 'shard') <> 'bigint' THEN
    ALTER TABLE records ALTER COLUMN shard TYPE bigint USING NULL;
  END IF;
END
$$;
)sql";

// Version 3: a job's outcomes are rows of their own, numbered in the order their batches ended
// (store.h, save_job); a job saved before keeps them in its body.
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE IF NOT EXISTS job_results (
  job_id text COLLATE "C" NOT NULL,
  seq    bigint NOT NULL,
  body   text NOT NULL,
  PRIMARY KEY (job_id, seq)
);
)sql";

// The counts /stats reports, kept by statement-level triggers in the transaction of every insert,
// delete and truncate of records and signedrecords, so they are exact at every commit whoever
// writes (another tool, an older signer) and survive any crash with the data they count. They are
// spread over kCountSlots rows, each transaction adding to the row its id picks, so concurrent
// moves of several pods rarely wait on one another's row; a read sums the rows. Not a schema
// version: older signers keep opening the database, and their writes are counted too.
constexpr int kCountSlots = 32;
constexpr int kCountTriggers = 6;
constexpr const char* kCountTable = R"sql(
CREATE TABLE IF NOT EXISTS signer_counts (
  slot             integer PRIMARY KEY,
  unsigned_records bigint NOT NULL,
  signed_records   bigint NOT NULL
);
)sql";
// Makes the functions and triggers, then counts both tables exactly into slot 0 (every other
// slot 0) while holding a lock that keeps every writer out, so no write is counted twice or
// missed. Run when the counts cannot be trusted: made before them, or a row or trigger removed.
constexpr const char* kCountSetup = R"sql(
CREATE OR REPLACE FUNCTION signer_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  delta bigint;
  s integer := (txid_current() % 32)::integer;
BEGIN
  SELECT count(*) INTO delta FROM changed;
  IF delta = 0 THEN RETURN NULL; END IF;
  IF TG_OP = 'DELETE' THEN delta := -delta; END IF;
  IF TG_TABLE_NAME = 'records' THEN
    UPDATE signer_counts SET unsigned_records = unsigned_records + delta WHERE slot = s;
  ELSE
    UPDATE signer_counts SET signed_records = signed_records + delta WHERE slot = s;
  END IF;
  RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION signer_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'records' THEN
    UPDATE signer_counts SET unsigned_records = 0;
  ELSE
    UPDATE signer_counts SET signed_records = 0;
  END IF;
  RETURN NULL;
END
$$;
LOCK TABLE records, signedrecords IN SHARE ROW EXCLUSIVE MODE;
DROP TRIGGER IF EXISTS signer_count_insert ON records;
DROP TRIGGER IF EXISTS signer_count_delete ON records;
DROP TRIGGER IF EXISTS signer_count_truncate ON records;
DROP TRIGGER IF EXISTS signer_count_insert ON signedrecords;
DROP TRIGGER IF EXISTS signer_count_delete ON signedrecords;
DROP TRIGGER IF EXISTS signer_count_truncate ON signedrecords;
CREATE TRIGGER signer_count_insert AFTER INSERT ON records
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION signer_count_rows();
CREATE TRIGGER signer_count_delete AFTER DELETE ON records
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION signer_count_rows();
CREATE TRIGGER signer_count_truncate AFTER TRUNCATE ON records
  FOR EACH STATEMENT EXECUTE FUNCTION signer_count_truncate();
CREATE TRIGGER signer_count_insert AFTER INSERT ON signedrecords
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION signer_count_rows();
CREATE TRIGGER signer_count_delete AFTER DELETE ON signedrecords
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION signer_count_rows();
CREATE TRIGGER signer_count_truncate AFTER TRUNCATE ON signedrecords
  FOR EACH STATEMENT EXECUTE FUNCTION signer_count_truncate();
DELETE FROM signer_counts;
INSERT INTO signer_counts (slot, unsigned_records, signed_records)
  SELECT s, 0, 0 FROM generate_series(1, 31) AS s;
INSERT INTO signer_counts (slot, unsigned_records, signed_records)
  VALUES (0, (SELECT count(*) FROM records), (SELECT count(*) FROM signedrecords));
)sql";
// How many of the slots and of the triggers exist: kCountSlots and kCountTriggers when the counts
// can be trusted.
constexpr const char* kCountState =
    "SELECT (SELECT count(*) FROM signer_counts WHERE slot >= 0 AND slot < 32), "
    "(SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname IN "
    "('signer_count_insert', 'signer_count_delete', 'signer_count_truncate') "
    "AND tgrelid IN (to_regclass('records'), to_regclass('signedrecords')))";
// The sum of the slots, and how many there are (a read that finds fewer counts exactly instead).
constexpr const char* kReadCounts =
    "SELECT coalesce(sum(unsigned_records), 0)::bigint, coalesce(sum(signed_records), 0)::bigint, "
    "count(*) FROM signer_counts";
constexpr const char* kExactCounts =
    "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM signedrecords)";

// Migration i+1 takes the schema from version i to i+1.
constexpr const char* kMigrations[] = {kSchemaV1, kSchemaV2, kSchemaV3};
static_assert(std::size(kMigrations) == PostgresStore::kSchemaVersion);

constexpr int kStreamPage = 1000;

records::SignedRecord signed_from_row(const pg::Result& r, int row) {
  return {r.string(row, 0), r.string(row, 1), r.string(row, 2), r.string(row, 3),
          r.string(row, 4), r.string(row, 5), r.string(row, 6), r.string(row, 7)};
}

std::string decimal(std::uint64_t value) { return std::to_string(value); }

// Limits as the bigint parameters they are sent as.
std::string bigint_limit(std::size_t value) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return std::to_string(std::min(value, kMax));
}

// A PostgreSQL text value cannot hold a NUL character.
void check_no_nul(const records::UnsignedRecord& r) {
  if (r.id.find('\0') != std::string::npos || r.msg.find('\0') != std::string::npos) {
    throw StoreError(ErrorKind::kInvalid,
                     "postgres: record " +
                         std::string(r.id.substr(0, std::min<std::size_t>(r.id.find('\0'), 64))) +
                         " has a NUL character, which a PostgreSQL text column cannot hold");
  }
}

}  // namespace

PostgresStore::PostgresStore(const StoreOptions& options, PgMoveStrategy move_strategy)
    : description_(pg::describe_url(options.url)), move_strategy_(move_strategy) {
  if (options.timeout_ms <= 0 || options.statement_timeout_ms <= 0) {
    throw StoreError(ErrorKind::kInvalid, "postgres: timeouts must be positive");
  }
  pool_ = std::make_unique<pg::Pool>(
      pg::ConnectParams{options.url, options.pg_password, options.timeout_ms,
                        options.statement_timeout_ms},
      options.pg_pool_size);
  migrate();
}

PostgresStore::~PostgresStore() = default;

std::string PostgresStore::describe() const { return description_; }

void PostgresStore::migrate() {
  auto conn = pool_->borrow();
  conn->exec("BEGIN");
  conn->exec(kSchemaLock);
  conn->exec("CREATE TABLE IF NOT EXISTS signer_schema (version integer NOT NULL)");
  const pg::Result current = conn->run("schema_version", "SELECT max(version) FROM signer_schema",
                                       std::initializer_list<std::string_view>{});
  const int version = current.is_null(0, 0) ? 0 : static_cast<int>(current.int64(0, 0));
  if (version > kSchemaVersion) {
    conn->exec("ROLLBACK");
    throw StoreError(ErrorKind::kInvalid,
                     "postgres: " + description_ + " has schema version " +
                         std::to_string(version) + ", newer than this signer's (" +
                         std::to_string(kSchemaVersion) + "); upgrade the signer");
  }
  for (int next = version; next < kSchemaVersion; ++next) {
    conn->exec(kMigrations[next]);
    const std::string record =
        "INSERT INTO signer_schema (version) VALUES (" + std::to_string(next + 1) + ")";
    conn->exec(record.c_str());
  }
  // Checked on every open, not only when the tables are made: they may predate the signer.
  for (const char* table : {"records", "signedrecords"}) {
    const pg::Result unique = conn->run("has_unique_id", kHasUniqueId, {table});
    if (unique.int64(0, 0) > 0) continue;
    const std::string create =
        std::string("CREATE UNIQUE INDEX ") + table + "_id_unique ON " + table + " (id)";
    try {
      conn->exec(create.c_str());
    } catch (const StoreError& e) {
      throw StoreError(e.kind(),
                       "postgres: " + description_ + ": table " + table +
                           " has no unique index on id, and one cannot be made: " + e.what());
    }
  }
  // Every open, not only on migration: the counts of a database written before them (or whose
  // row or trigger was removed) are made exactly once here.
  conn->exec(kCountTable);
  const pg::Result state =
      conn->run("count_state", kCountState, std::initializer_list<std::string_view>{});
  if (state.int64(0, 0) != kCountSlots || state.int64(0, 1) != kCountTriggers) {
    conn->exec(kCountSetup);
  }
  conn->exec("COMMIT");
}

int PostgresStore::schema_version() {
  auto conn = pool_->borrow();
  const pg::Result r = conn->run("schema_version", "SELECT max(version) FROM signer_schema",
                                 std::initializer_list<std::string_view>{});
  return r.is_null(0, 0) ? 0 : static_cast<int>(r.int64(0, 0));
}

void PostgresStore::ping() {
  auto conn = pool_->borrow();
  conn->run("ping", "SELECT 1", std::initializer_list<std::string_view>{});
}

Counts PostgresStore::count() {
  auto conn = pool_->borrow();
  // The slots the triggers keep: O(1) at any size, one statement, so one snapshot.
  const pg::Result slots =
      conn->run("read_counts", kReadCounts, std::initializer_list<std::string_view>{});
  if (slots.int64(0, 2) == kCountSlots) {
    return {static_cast<std::uint64_t>(slots.int64(0, 0)),
            static_cast<std::uint64_t>(slots.int64(0, 1))};
  }
  // A slot was deleted since the store opened (by hand): counted exactly instead, until the
  // next open puts the counts back.
  const pg::Result r = conn->run("count", kExactCounts, std::initializer_list<std::string_view>{});
  return {static_cast<std::uint64_t>(r.int64(0, 0)), static_cast<std::uint64_t>(r.int64(0, 1))};
}

JobStart PostgresStore::start_job() {
  auto conn = pool_->borrow();
  // Taking the epoch lock alone waits for the ingests in flight to commit; the ones that come
  // after wait for this transaction, and then read the next epoch.
  conn->exec(kBeginJobStart);
  const pg::Result closed =
      conn->run("close_epoch", "UPDATE signer_epoch SET epoch = epoch + 1 RETURNING epoch - 1",
                std::initializer_list<std::string_view>{});
  if (closed.rows() != 1) {
    conn->exec("ROLLBACK");
    throw StoreError(ErrorKind::kInvalid,
                     "postgres: " + description_ + ": table signer_epoch must hold one row");
  }
  // A new statement, so a snapshot taken after every ingest of the closed epoch committed.
  const pg::Result r = conn->run("count", kExactCounts, std::initializer_list<std::string_view>{});
  JobStart start{
      {static_cast<std::uint64_t>(r.int64(0, 0)), static_cast<std::uint64_t>(r.int64(0, 1))},
      static_cast<std::uint64_t>(closed.int64(0, 0))};
  conn->exec("COMMIT");
  return start;
}

std::uint64_t PostgresStore::count_unsigned_through_epoch(std::uint64_t epoch) {
  auto conn = pool_->borrow();
  return static_cast<std::uint64_t>(
      conn->run("count_through_epoch",
                "SELECT count(*) FROM records WHERE epoch IS NULL OR epoch <= $1::bigint",
                {decimal(epoch)})
          .int64(0, 0));
}

std::uint64_t PostgresStore::count_signed_of_job(std::string_view job_id) {
  auto conn = pool_->borrow();
  return static_cast<std::uint64_t>(
      conn->run("count_signed_of_job", "SELECT count(*) FROM signedrecords WHERE job_id = $1",
                {job_id})
          .int64(0, 0));
}

std::uint64_t PostgresStore::backfill_shards() {
  std::uint64_t updated = 0;
  for (;;) {
    auto conn = pool_->borrow();
    // Missing, negative or at/above 2^32: no batch's range holds these. Index ranges, not a scan.
    const pg::Result page =
        conn->run("backfill_page",
                  "SELECT id FROM records WHERE shard IS NULL OR shard < 0 OR shard >= 4294967296 "
                  "LIMIT 10000",
                  std::initializer_list<std::string_view>{});
    if (page.rows() == 0) return updated;
    TextArray ids;
    IntArray shards;
    for (int row = 0; row < page.rows(); ++row) {
      ids.add(page.text(row, 0));
      shards.add(records::shard_of(page.text(row, 0)));
    }
    const pg::Result done = conn->run(
        "backfill_update",
        "WITH u AS (UPDATE records r SET shard = s.shard "
        "FROM unnest($1::text[], $2::bigint[]) AS s(id, shard) WHERE r.id = s.id RETURNING 1) "
        "SELECT count(*) FROM u",
        {ids.literal(), shards.literal()});
    const auto page_updated = static_cast<std::uint64_t>(done.int64(0, 0));
    updated += page_updated;
    if (page_updated == 0) return updated;  // another process took them meanwhile
  }
}

std::vector<records::UnsignedRecord> PostgresStore::read_unsigned(const records::ShardRange& range,
                                                                  ReadCursor& cursor,
                                                                  std::size_t limit,
                                                                  std::size_t byte_limit) {
  cursor.begin_read(range);
  auto conn = pool_->borrow();
  // Cut on the server at the byte budget (see pg::sql::kReadUnsigned).
  // A budget of at least one byte always lets the first row of a page through, so a page that
  // comes back empty was empty.
  const pg::Result r =
      conn->run("read_unsigned", pg::sql::kReadUnsigned.c_str(),
                {decimal(cursor.shard), cursor.id, decimal(range.end), bigint_limit(limit),
                 bigint_limit(std::max<std::size_t>(byte_limit, 1))});
  const auto page_rows = r.rows() == 0 ? 0 : static_cast<std::size_t>(r.int64(0, 3));
  cursor.exhausted = page_rows < limit && static_cast<std::size_t>(r.rows()) == page_rows;
  std::vector<records::UnsignedRecord> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int row = 0; row < r.rows(); ++row) {
    ++cursor.visited;
    cursor.shard = static_cast<std::uint64_t>(r.int64(row, 2));
    cursor.id = r.string(row, 0);
    if (r.is_null(row, 1)) {
      cursor.invalid.push_back({cursor.id, "msg is NULL"});
      continue;
    }
    out.push_back({cursor.id, r.string(row, 1)});
  }
  return out;
}

MoveResult PostgresStore::move_to_signed(std::span<const records::SignedRecord> signed_records) {
  MoveResult result;
  if (signed_records.empty()) return result;
  std::size_t bytes = 0;
  for (const records::SignedRecord& r : signed_records) {
    bytes += r.id.size() + r.msg.size() + r.salt.size() + r.sign.size() + r.key.size() + 32;
  }
  TextArray ids, msgs, salts, signs, keys, job_ids, schemes, digests;
  ids.reserve(bytes);
  msgs.reserve(bytes);
  // Raw chunks send the original's six arrays and nothing more (pg::sql::MoveStatements).
  const bool with_scheme =
      std::any_of(signed_records.begin(), signed_records.end(),
                  [](const records::SignedRecord& r) { return !r.scheme.empty(); });
  for (const records::SignedRecord& r : signed_records) {
    ids.add(r.id);
    msgs.add(r.msg);
    salts.add(r.salt);
    signs.add(r.sign);
    keys.add(r.key);
    job_ids.add(r.job_id);
    if (with_scheme) {
      schemes.add(r.scheme);
      digests.add(r.digest);
    }
  }
  const std::initializer_list<std::string_view> raw_arrays{ids.literal(),   msgs.literal(),
                                                           salts.literal(), signs.literal(),
                                                           keys.literal(),  job_ids.literal()};
  const std::initializer_list<std::string_view> scheme_arrays{
      ids.literal(),  msgs.literal(),    salts.literal(),   signs.literal(),
      keys.literal(), job_ids.literal(), schemes.literal(), digests.literal()};
  const auto arrays = with_scheme ? scheme_arrays : raw_arrays;
  const pg::sql::MoveStatements& sql = with_scheme ? pg::sql::kMoveWithScheme : pg::sql::kMove;
  auto conn = pool_->borrow();
  std::int64_t inserted = 0;
  switch (move_strategy_) {
    case PgMoveStrategy::kInsertAndDeleteOneStatement:
      // One statement is one transaction: both writes commit together or not at all.
      inserted = conn->run(with_scheme ? "move_scheme" : "move", sql.one_statement.c_str(), arrays)
                     .int64(0, 0);
      break;
    case PgMoveStrategy::kInsertThenDelete:
      conn->exec("BEGIN");
      inserted = conn->run(with_scheme ? "move_insert_scheme" : "move_insert",
                           sql.insert_only.c_str(), arrays)
                     .int64(0, 0);
      conn->run("move_delete", pg::sql::kMoveDeleteOnly.c_str(), {ids.literal()});
      conn->exec("COMMIT");
      break;
    case PgMoveStrategy::kDeleteReturningInsert:
      // Only what is still unsigned is written: a record another pod moved meanwhile, or one never
      // ingested, is left alone (so this strategy does not finish a copy left in both tables).
      inserted = conn->run(with_scheme ? "move_delete_returning_scheme" : "move_delete_returning",
                           sql.delete_returning.c_str(), arrays)
                     .int64(0, 0);
      break;
  }
  result.inserted = static_cast<std::uint64_t>(inserted);
  result.already_signed = signed_records.size() - result.inserted;
  return result;
}

IngestResult PostgresStore::ingest(std::span<const records::UnsignedRecord> unsigned_records) {
  IngestResult result;
  if (unsigned_records.empty()) return result;
  for (const records::UnsignedRecord& r : unsigned_records) check_no_nul(r);

  // The first occurrence of each id is offered to the server; later ones are settled here.
  std::unordered_map<std::string_view, std::size_t> first;  // id -> position of its first
  first.reserve(unsigned_records.size());
  TextArray ids, msgs;
  IntArray shards;
  for (std::size_t i = 0; i < unsigned_records.size(); ++i) {
    const records::UnsignedRecord& r = unsigned_records[i];
    if (!first.emplace(r.id, i).second) continue;
    ids.add(r.id);
    msgs.add(r.msg);
    shards.add(records::shard_of(r.id));
  }
  auto conn = pool_->borrow();
  // One transaction, holding the epoch lock shared (see start_job): the records land in the
  // epoch read here, and nothing of the call stays when any statement of it fails.
  conn->exec(kBeginIngest);
  const pg::Result inserted_rows =
      conn->run("ingest",
                "INSERT INTO records (id, msg, shard, epoch) "
                "SELECT t.id, t.msg, t.shard, (SELECT epoch FROM signer_epoch) "
                "FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(id, msg, shard) "
                "WHERE NOT EXISTS (SELECT 1 FROM signedrecords s WHERE s.id = t.id) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                {ids.literal(), msgs.literal(), shards.literal()});
  std::unordered_map<std::string_view, bool> inserted;  // id -> not stored before this call
  inserted.reserve(static_cast<std::size_t>(inserted_rows.rows()));
  for (int row = 0; row < inserted_rows.rows(); ++row) {
    inserted.emplace(inserted_rows.text(row, 0), true);
  }

  // The stored msg of every offered id that was not inserted, or that was inserted next to a
  // signed copy (signed copy first).
  std::unordered_map<std::string, std::optional<std::string>> stored;
  auto remember = [&](const pg::Result& r) {
    for (int row = 0; row < r.rows(); ++row) {
      std::optional<std::string> msg;
      if (!r.is_null(row, 1)) msg = r.string(row, 1);
      stored.emplace(r.string(row, 0), std::move(msg));
    }
  };

  // A move of one of these ids that committed while the insert ran: the insert's snapshot did
  // not see its signed copy, and waited on its delete of the unsigned one, then inserted. This
  // statement sees the move (a new snapshot) and takes such an insert back, so the id is not
  // left unsigned and signed with two messages, and the caller hears "conflict", not "accepted".
  if (!inserted.empty()) {
    TextArray fresh;
    for (const auto& [id, unused] : inserted) fresh.add(id);
    const pg::Result raced =
        conn->run("ingest_raced",
                  "DELETE FROM records r USING signedrecords s "
                  "WHERE r.id = ANY($1::text[]) AND s.id = r.id RETURNING r.id, s.msg",
                  {fresh.literal()});
    for (int row = 0; row < raced.rows(); ++row) inserted.erase(raced.text(row, 0));
    remember(raced);
  }
  if (inserted.size() < first.size()) {
    TextArray taken;
    for (const auto& [id, position] : first) {
      if (!inserted.contains(id) && !stored.contains(std::string(id))) taken.add(id);
    }
    if (taken.size() > 0) {
      remember(conn->run("ingest_stored",
                         "SELECT id, msg FROM signedrecords WHERE id = ANY($1::text[]) "
                         "UNION ALL SELECT id, msg FROM records WHERE id = ANY($1::text[])",
                         {taken.literal()}));
    }
  }
  conn->exec("COMMIT");

  for (std::size_t i = 0; i < unsigned_records.size(); ++i) {
    const records::UnsignedRecord& r = unsigned_records[i];
    const std::size_t first_position = first.at(r.id);
    const bool new_here = inserted.contains(r.id);
    if (first_position == i && new_here) {
      ++result.accepted;
      continue;
    }
    if (new_here) {
      // A repeat of an id this call stored: compared with its first occurrence.
      if (unsigned_records[first_position].msg == r.msg) {
        ++result.duplicates;
      } else {
        add_conflict(result, i, r.id, true);
      }
      continue;
    }
    // Stored before this call (or removed again meanwhile, which counts as a conflict).
    const auto it = stored.find(r.id);
    if (it != stored.end() && it->second && *it->second == r.msg) {
      ++result.duplicates;
    } else {
      add_conflict(result, i, r.id, false);
    }
  }
  return result;
}

std::optional<records::SignedRecord> PostgresStore::find_signed(std::string_view id) {
  auto conn = pool_->borrow();
  const pg::Result r = conn->run(
      "find_signed",
      "SELECT id, msg, salt, sign, key, job_id, scheme, digest FROM signedrecords WHERE id = $1",
      {id});
  if (r.rows() == 0) return std::nullopt;
  return signed_from_row(r, 0);
}

void PostgresStore::stream_signed(const std::optional<std::string_view>& job_id,
                                  const std::function<void(const records::SignedRecord&)>& sink) {
  std::string after;
  bool first_page = true;
  for (;;) {
    std::vector<records::SignedRecord> page;
    {
      // Borrowed per page and returned before the sink runs, which may use the store itself.
      auto conn = pool_->borrow();
      const std::string limit = std::to_string(kStreamPage);
      // The first page has no lower bound, so an empty id (another tool's) is visited too.
      pg::Result r;
      if (job_id && first_page) {
        r = conn->run("stream_signed_job_first",
                      "SELECT id, msg, salt, sign, key, job_id, scheme, digest FROM signedrecords "
                      "WHERE job_id = $1 ORDER BY id LIMIT $2::bigint",
                      {*job_id, limit});
      } else if (job_id) {
        r = conn->run("stream_signed_job",
                      "SELECT id, msg, salt, sign, key, job_id, scheme, digest FROM signedrecords "
                      "WHERE job_id = $1 AND id > $3 ORDER BY id LIMIT $2::bigint",
                      {*job_id, limit, after});
      } else if (first_page) {
        r = conn->run("stream_signed_first",
                      "SELECT id, msg, salt, sign, key, job_id, scheme, digest FROM signedrecords "
                      "ORDER BY id LIMIT $1::bigint",
                      {limit});
      } else {
        r = conn->run("stream_signed",
                      "SELECT id, msg, salt, sign, key, job_id, scheme, digest FROM signedrecords "
                      "WHERE id > $2 ORDER BY id LIMIT $1::bigint",
                      {limit, after});
      }
      for (int row = 0; row < r.rows(); ++row) page.push_back(signed_from_row(r, row));
    }
    for (const records::SignedRecord& record : page) sink(record);
    if (page.size() < static_cast<std::size_t>(kStreamPage)) return;
    after = page.back().id;
    first_page = false;
  }
}

void PostgresStore::for_each_signed(const std::function<void(const records::SignedRecord&)>& sink) {
  stream_signed(std::nullopt, sink);
}

void PostgresStore::for_each_signed_of_job(
    std::string_view job_id, const std::function<void(const records::SignedRecord&)>& sink) {
  stream_signed(job_id, sink);
}

void PostgresStore::save_job(const audit::JobRecord& job, std::uint64_t first_outcome) {
  const std::string body = audit::job_fields_text(job);
  TextArray outcomes;
  for (const audit::BatchOutcome& b : job.results) {
    outcomes.add(audit::dump_line(audit::to_json(b)));
  }
  auto conn = pool_->borrow();
  // One statement, so one transaction: the job and its new outcomes land together or not at all.
  conn->run("save_job",
            "WITH job AS (INSERT INTO jobs (id, started_unix_ms, state, body) "
            "VALUES ($1::text, $2::bigint, $3, $4) "
            "ON CONFLICT (id) DO UPDATE SET started_unix_ms = excluded.started_unix_ms, "
            "state = excluded.state, body = excluded.body RETURNING 1) "
            "INSERT INTO job_results (job_id, seq, body) "
            "SELECT $1::text, $5::bigint + t.n - 1, t.body "
            "FROM unnest($6::text[]) WITH ORDINALITY AS t(body, n) "
            "ON CONFLICT (job_id, seq) DO UPDATE SET body = excluded.body",
            {job.id, std::to_string(job.started_unix_ms), audit::to_string(job.state), body,
             std::to_string(first_outcome), outcomes.literal()});
}

namespace {

// Jobs from rows of (job body, part 0) each followed by its outcomes (part 1), in order.
std::vector<audit::JobRecord> jobs_from_rows(const pg::Result& r) {
  std::vector<audit::JobRecord> jobs;
  for (int row = 0; row < r.rows(); ++row) {
    if (r.int64(row, 0) == 0) {
      jobs.push_back(job_from_stored_body(r.string(row, 1), "postgres table jobs"));
    } else if (!jobs.empty()) {
      jobs.back().results.push_back(
          outcome_from_stored_body(r.string(row, 1), "postgres table job_results"));
    }
  }
  return jobs;
}

}  // namespace

std::optional<audit::JobRecord> PostgresStore::find_job(std::string_view id, bool with_outcomes) {
  pg::Result rows;
  {
    auto conn = pool_->borrow();
    // One statement, one snapshot: the job as one save left it.
    rows = conn->run(
        "find_job",
        "SELECT 0 AS part, body, 0::bigint AS seq FROM jobs WHERE id = $1::text "
        "UNION ALL SELECT 1, body, seq FROM job_results WHERE job_id = $1::text AND $2::boolean "
        "ORDER BY part, seq",
        {id, with_outcomes ? "true" : "false"});
  }
  std::vector<audit::JobRecord> found = jobs_from_rows(rows);
  if (found.empty()) return std::nullopt;
  // A job saved before its outcomes had rows holds them in its body.
  if (!with_outcomes) found.front().results.clear();
  return std::move(found.front());
}

std::vector<audit::JobRecord> PostgresStore::list_jobs(std::size_t limit) {
  pg::Result rows;
  {
    auto conn = pool_->borrow();
    rows = conn->run("list_jobs",
                     "WITH listed AS (SELECT id, started_unix_ms, body FROM jobs "
                     "ORDER BY started_unix_ms DESC, id DESC LIMIT $1::bigint) "
                     "SELECT 0 AS part, body, started_unix_ms, id, 0::bigint AS seq FROM listed "
                     "UNION ALL SELECT 1, r.body, l.started_unix_ms, l.id, r.seq "
                     "FROM job_results r JOIN listed l ON r.job_id = l.id "
                     "ORDER BY started_unix_ms DESC, id DESC, part, seq",
                     {bigint_limit(limit)});
  }
  return jobs_from_rows(rows);
}

void PostgresStore::append_audit(const audit::AuditEvent& event) {
  const std::string body = audit::dump_line(audit::to_json(event));
  auto conn = pool_->borrow();
  conn->run("append_audit",
            "INSERT INTO audit (time_unix_ms, job_id, route, body) VALUES ($1, $2, $3, $4)",
            {std::to_string(event.time_unix_ms), event.job_id, event.route, body});
}

std::uint64_t PostgresStore::prune_audit(std::int64_t before_unix_ms) {
  auto conn = pool_->borrow();
  const pg::Result r =
      conn->run("prune_audit",
                "WITH gone AS (DELETE FROM audit WHERE time_unix_ms < $1 RETURNING 1) "
                "SELECT count(*) FROM gone",
                {std::to_string(before_unix_ms)});
  return static_cast<std::uint64_t>(std::stoull(r.string(0, 0)));
}

std::vector<audit::AuditEvent> PostgresStore::list_audit(const std::optional<std::string>& job_id,
                                                         std::size_t limit) {
  std::vector<std::string> bodies;
  {
    auto conn = pool_->borrow();
    const std::string n = bigint_limit(limit);
    const pg::Result r =
        job_id ? conn->run("list_audit_job",
                           "SELECT body FROM audit WHERE job_id = $2 ORDER BY seq DESC "
                           "LIMIT $1::bigint",
                           {n, *job_id})
               : conn->run("list_audit",
                           "SELECT body FROM audit ORDER BY seq DESC LIMIT $1::bigint", {n});
    for (int row = 0; row < r.rows(); ++row) bodies.push_back(r.string(row, 0));
  }
  return audit_events_from_stored_bodies(bodies, "postgres table audit");
}

}  // namespace signer::store
