#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>
#include <sys/statvfs.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "audit/audit_json.h"
#include "records/shard.h"

namespace signer::store {
namespace {

constexpr int kBusyTimeoutMs = 15000;

// A move writes groups of this many records with one multi-row INSERT and one DELETE … IN, and
// the rest of its chunk row by row: one statement execution per group instead of one per record
// cuts a move's instructions by about 30% (docs/PERFORMANCE.md, "Where an embedded job's time
// goes"). 6 parameters a row (8 with a scheme), 800 at most, well under SQLite's limit of 32766.
constexpr std::size_t kMoveGroup = 100;

// Where an ingest's records go (sqlite_store.h, records_inbox). Into `records` when its ids are
// dense there: at most kDenseRows unsigned records stored per new one across the span of shards
// the ingest's ids cover, so the new records of one commit share leaf pages (a page holds about
// 45). Into records_inbox when they are spread thinner: random ids posted into a store of
// millions, each of which would dirty a page of `records` of its own (docs/PERFORMANCE.md).
constexpr double kDenseRows = 8.0;
// A merge moves this many inbox records into `records` a transaction: the write lock is held one
// chunk at a time, so a running job's moves go between chunks.
constexpr std::int64_t kMergeChunk = 20000;
// How long a merge that failed (a full disk, say) waits before it tries again.
constexpr auto kMergeRetry = std::chrono::seconds(5);

// Process-wide SQLite settings, applied before its first use. SQLITE_CONFIG_MEMSTATUS off: SQLite
// then keeps no global count of its allocations, which took a global mutex on every malloc and
// free (about 6% of a move's instructions). Nothing here reads sqlite3_memory_used().
void configure_sqlite_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);  // SQLITE_MISUSE if already initialized: harmless
  });
}

// "prefix(?,…,?),(?,…,?)…": `rows` groups of `columns` parameters, for a multi-row statement.
std::string with_parameter_groups(std::string sql, std::size_t rows, std::size_t columns) {
  for (std::size_t r = 0; r < rows; ++r) {
    sql += r == 0 ? "(" : ",(";
    for (std::size_t c = 0; c < columns; ++c) sql += c == 0 ? "?" : ",?";
    sql += ")";
  }
  return sql;
}

// `code` is an extended result code, `system_errno` what sqlite3_system_errno() said with it: a
// write the file system refused for lack of space (or of quota, or past the file-size limit) is
// reported by SQLite as SQLITE_FULL, or as an I/O error that carries ENOSPC.
ErrorKind kind_of(int code, int system_errno = 0) {
  if ((code & 0xff) == SQLITE_FULL) return ErrorKind::kFull;
  if ((code & 0xff) == SQLITE_IOERR &&
      (system_errno == ENOSPC || system_errno == EDQUOT || system_errno == EFBIG)) {
    return ErrorKind::kFull;
  }
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT: return ErrorKind::kConflict;
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG: return ErrorKind::kInvalid;
    default: return ErrorKind::kUnavailable;  // BUSY, LOCKED, IOERR, CANTOPEN, CORRUPT, …
  }
}

// What a full disk looks like in an error: the database file, how much room its file system
// has left, and SQLite's own words, so an operator knows which disk to free.
std::string disk_full_message(const std::filesystem::path& path, const std::string& detail) {
  std::string message = "sqlite: the disk holding " + path.string() + " is full (" + detail + ")";
  struct statvfs fs {};
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  if (::statvfs(dir.c_str(), &fs) == 0) {
    message += ": " + std::to_string(static_cast<unsigned long long>(fs.f_bavail) * fs.f_frsize) +
               " bytes free of " +
               std::to_string(static_cast<unsigned long long>(fs.f_blocks) * fs.f_frsize) +
               " on its file system; free space there and run the job again";
  }
  return message;
}

struct StatementDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

struct DatabaseDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

// Resets a cached statement when a scope ends, however it ends.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementUse() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
};

// A text column as it stands in the row, valid until the statement steps or resets.
std::string_view column_view(sqlite3_stmt* stmt, int col) {
  const auto* text = sqlite3_column_text(stmt, col);
  if (!text) return {};
  return {reinterpret_cast<const char*>(text),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt, col))};
}

std::string column_text(sqlite3_stmt* stmt, int col) { return std::string(column_view(stmt, col)); }

}  // namespace

// One sqlite3 handle with its prepared statements.
class SqliteConnection {
 public:
  SqliteConnection(const std::filesystem::path& path, bool synchronous_full) : path_(path) {
    configure_sqlite_once();
    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &raw,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK) {
      throw StoreError(ErrorKind::kUnavailable,
                       "cannot open sqlite database " + path.string() + ": " +
                           (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    }
    sqlite3_extended_result_codes(db_.get(), 1);
    sqlite3_busy_timeout(db_.get(), kBusyTimeoutMs);
    exec("PRAGMA journal_mode=WAL");
    // FULL in WAL mode: every commit is fsynced before it returns, so a move reported done
    // survives an OS crash too. (NORMAL would survive only a process crash; an OS crash could roll
    // back the last moves, and those records would be signed again.)
    exec(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    exec("PRAGMA foreign_keys=OFF");
  }

  sqlite3* get() const { return db_.get(); }

  void exec(const char* sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string message = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      raise(rc, message);
    }
  }

  // Returns the cached prepared statement for `sql`, which must live as long as the connection
  // (a literal, or a static string): statements are cached by the address of their text.
  sqlite3_stmt* statement(const char* sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second.get();
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) fail(rc);
    statements_.emplace(sql, StatementPtr(raw));
    return raw;
  }

  [[noreturn]] void fail(int rc) const { raise(rc, sqlite3_errmsg(db_.get())); }

  [[noreturn]] void raise(int rc, const std::string& message) const {
    const ErrorKind kind = kind_of(rc, sqlite3_system_errno(db_.get()));
    if (kind == ErrorKind::kFull) throw StoreError(kind, disk_full_message(path_, message));
    throw StoreError(kind, "sqlite: " + message);
  }

  // Steps `stmt`; returns true for a row, false when done, throws on error.
  bool step(sqlite3_stmt* stmt) const {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(rc);
  }

  void bind_text(sqlite3_stmt* stmt, int index, std::string_view text) const {
    const int rc =
        sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    if (rc != SQLITE_OK) fail(rc);
  }

  // Binds NULL for "": a column that the original layout lacks stays NULL for raw records.
  void bind_text_or_null(sqlite3_stmt* stmt, int index, std::string_view text) const {
    if (!text.empty()) return bind_text(stmt, index, text);
    const int rc = sqlite3_bind_null(stmt, index);
    if (rc != SQLITE_OK) fail(rc);
  }

  void bind_int(sqlite3_stmt* stmt, int index, std::int64_t value) const {
    const int rc = sqlite3_bind_int64(stmt, index, value);
    if (rc != SQLITE_OK) fail(rc);
  }

 private:
  std::filesystem::path path_;
  std::unique_ptr<sqlite3, DatabaseDeleter> db_;
  std::unordered_map<const char*, StatementPtr> statements_;
};

namespace {

// A write transaction that rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(SqliteConnection& conn) : conn_(conn) { conn_.exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!committed_) sqlite3_exec(conn_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    conn_.exec("COMMIT");
    committed_ = true;
  }

 private:
  SqliteConnection& conn_;
  bool committed_ = false;
};

// A read transaction on the reader connection: the statements inside it see one snapshot (WAL),
// so a job and its outcomes are read as one save left them.
class ReadTransaction {
 public:
  explicit ReadTransaction(SqliteConnection& conn) : conn_(conn) { conn_.exec("BEGIN"); }
  ~ReadTransaction() { sqlite3_exec(conn_.get(), "COMMIT", nullptr, nullptr, nullptr); }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  SqliteConnection& conn_;
};

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS records (
  id    TEXT PRIMARY KEY NOT NULL,
  msg   TEXT NOT NULL,
  shard INTEGER,
  sign  TEXT NOT NULL DEFAULT '',
  key   TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signedrecords (
  id   TEXT PRIMARY KEY NOT NULL,
  msg  TEXT NOT NULL,
  salt TEXT NOT NULL,
  sign TEXT NOT NULL,
  key  TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
  id              TEXT PRIMARY KEY NOT NULL,
  started_unix_ms INTEGER NOT NULL,
  state           TEXT NOT NULL,
  body            TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_started ON jobs (started_unix_ms, id);
CREATE TABLE IF NOT EXISTS job_results (
  job_id TEXT NOT NULL,
  seq    INTEGER NOT NULL,
  body   TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  time_unix_ms INTEGER NOT NULL,
  job_id       TEXT NOT NULL,
  route        TEXT NOT NULL,
  body         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_job ON audit (job_id, seq);
CREATE TABLE IF NOT EXISTS records_inbox (
  shard INTEGER NOT NULL,
  id    TEXT NOT NULL,
  msg   TEXT NOT NULL,
  epoch INTEGER,
  PRIMARY KEY (shard, id)
) WITHOUT ROWID;
)sql";

// How a batch finds the records of its shard range (records::shard_of). An id whose first 8
// characters are lowercase hex digits, as every UUID and the original generator's 32-digit ids
// are, has those digits for its shard, so its (shard, id) order is its id order: a batch reads
// such records by a range of the primary key, and they need no index of their own. Only the
// other ids (uppercase or mixed-case hex, anything else, and ids that are not text) are in
// records_shard_other, a partial index on (shard, id). Before it, every record was also in a
// full (shard, id) index: a second B-tree that each ingest inserted into and each move deleted
// from at a page of its own for random ids, and that each read went through before reaching the
// row (docs/PERFORMANCE.md, "The shard index only for ids not in id order").
#define SIGNER_KEYED_BY_ID            \
  "(typeof(id) = 'text' AND id GLOB " \
  "'[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*')"
#define SIGNER_NOT_KEYED_BY_ID "NOT " SIGNER_KEYED_BY_ID
constexpr const char* kShardIndex =
    "CREATE INDEX IF NOT EXISTS records_shard_other ON records (shard, id) "
    "WHERE " SIGNER_NOT_KEYED_BY_ID;
// The full index of stores made before records_shard_other: dropped when such a store opens.
constexpr const char* kDropFullShardIndex = "DROP INDEX IF EXISTS records_shard_id";

// The ingest epoch (store.h, JobStart): one row, the epoch ingests stamp records with; a job's
// start closes it. Records made by other tools (or before this existed) have a NULL epoch.
constexpr const char* kEpochTable = R"sql(
CREATE TABLE IF NOT EXISTS signer_epoch (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  epoch INTEGER NOT NULL
);
INSERT OR IGNORE INTO signer_epoch (id, epoch) VALUES (1, 1);
)sql";
constexpr const char* kEpochColumn = "ALTER TABLE records ADD COLUMN epoch INTEGER";

// The counts /stats reports, kept in the transaction of every insert and delete, so they are
// exact at every commit whoever writes (another tool, an older signer, the original service) and
// survive any crash with the data they count. One row. Other writers' rows are counted by
// triggers, one UPDATE of the row per row written. The store's own writer connection turns
// triggers off (SQLITE_DBCONFIG_ENABLE_TRIGGER, a per-connection setting) and adds what each
// move or ingest changed with one UPDATE in the same transaction (add_counts): the triggers cost
// a move 15.3k instructions a record against 24.0k for the move itself (bench/
// sqlite_move_costs.sh). kCountTriggers are the four that must all exist for the row to be
// trusted (see open_counts).
constexpr const char* kCountTable = R"sql(
CREATE TABLE IF NOT EXISTS signer_counts (
  id               INTEGER PRIMARY KEY CHECK (id = 1),
  unsigned_records INTEGER NOT NULL,
  signed_records   INTEGER NOT NULL
);
)sql";
constexpr const char* kCountTriggers = R"sql(
CREATE TRIGGER IF NOT EXISTS signer_count_records_insert AFTER INSERT ON records
BEGIN UPDATE signer_counts SET unsigned_records = unsigned_records + 1; END;
CREATE TRIGGER IF NOT EXISTS signer_count_records_delete AFTER DELETE ON records
BEGIN UPDATE signer_counts SET unsigned_records = unsigned_records - 1; END;
CREATE TRIGGER IF NOT EXISTS signer_count_signedrecords_insert AFTER INSERT ON signedrecords
BEGIN UPDATE signer_counts SET signed_records = signed_records + 1; END;
CREATE TRIGGER IF NOT EXISTS signer_count_signedrecords_delete AFTER DELETE ON signedrecords
BEGIN UPDATE signer_counts SET signed_records = signed_records - 1; END;
)sql";
constexpr int kCountTriggerCount = 4;
// Adds to the counts what a write of the store's own (triggers off) changed; run inside that
// write's transaction.
constexpr const char* kAddCounts =
    "UPDATE signer_counts SET unsigned_records = unsigned_records + ?1, "
    "signed_records = signed_records + ?2 WHERE id = 1";
// Sets the row to an exact count of both tables; run inside a write transaction.
constexpr const char* kRecount =
    "INSERT OR REPLACE INTO signer_counts (id, unsigned_records, signed_records) "
    "VALUES (1, (SELECT count(*) FROM records) + (SELECT count(*) FROM records_inbox), "
    "(SELECT count(*) FROM signedrecords))";

// Provenance column, added to databases made before it existed (and by the original layout).
// Runs after kSchema in the same write transaction, so two processes opening one file at once
// cannot both try to add it.
constexpr const char* kJobIdColumn =
    "ALTER TABLE signedrecords ADD COLUMN job_id TEXT NOT NULL DEFAULT ''";
constexpr const char* kJobIdIndex =
    "CREATE INDEX IF NOT EXISTS signedrecords_job_id ON signedrecords (job_id, id)";

// How a record was signed (records::SignedRecord::scheme, digest), added like job_id. NULL for a
// raw record, so the original layout's readers see what they always saw.
constexpr const char* kSchemeColumn = "ALTER TABLE signedrecords ADD COLUMN scheme TEXT";
constexpr const char* kDigestColumn = "ALTER TABLE signedrecords ADD COLUMN digest TEXT";

// The columns every read of signed records selects, in signed_from_row's order.
#define SIGNED_COLUMNS "id, msg, salt, sign, key, job_id, scheme, digest"

records::SignedRecord signed_from_row(sqlite3_stmt* stmt) {
  return records::SignedRecord{column_text(stmt, 0), column_text(stmt, 1), column_text(stmt, 2),
                               column_text(stmt, 3), column_text(stmt, 4), column_text(stmt, 5),
                               column_text(stmt, 6), column_text(stmt, 7)};
}

}  // namespace

namespace {

bool has_column(SqliteConnection& conn, const char* table, const char* column) {
  StatementUse use(
      conn.statement("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2 COLLATE NOCASE"));
  conn.bind_text(use.get(), 1, table);
  conn.bind_text(use.get(), 2, column);
  return conn.step(use.get());
}

// Whether `table` has a unique index on exactly (id), as its primary key or otherwise. A table
// another tool made first may have none; INSERT OR IGNORE would then store an id twice.
bool has_unique_id(SqliteConnection& conn, const char* table) {
  StatementUse use(conn.statement(
      "SELECT 1 FROM pragma_index_list(?1) AS l WHERE l.\"unique\" = 1 AND l.partial = 0 "
      "AND (SELECT count(*) FROM pragma_index_info(l.name)) = 1 "
      "AND (SELECT name FROM pragma_index_info(l.name)) = 'id' COLLATE NOCASE"));
  conn.bind_text(use.get(), 1, table);
  return conn.step(use.get());
}

// Makes the count triggers and the counts row, inside the opening write transaction. A database
// written before them (by an older signer, or by the original service), or whose row or one of
// whose triggers was removed, is counted exactly once here; the write lock the transaction holds
// keeps every other writer out meanwhile.
void open_counts(SqliteConnection& conn) {
  conn.exec(kCountTable);
  bool trusted = false;
  {
    StatementUse use(conn.statement(
        "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ("
        "'signer_count_records_insert', 'signer_count_records_delete', "
        "'signer_count_signedrecords_insert', 'signer_count_signedrecords_delete')), "
        "(SELECT count(*) FROM signer_counts WHERE id = 1)"));
    conn.step(use.get());
    trusted = sqlite3_column_int(use.get(), 0) == kCountTriggerCount &&
              sqlite3_column_int(use.get(), 1) == 1;
  }
  if (trusted) return;
  conn.exec(kCountTriggers);
  conn.exec(kRecount);
}

// Gives `table` the unique index on id the move and ingest rely on, when it lacks one. Throws
// StoreError(kConflict) when the table already holds an id twice, naming it.
void ensure_unique_id(SqliteConnection& conn, const char* table) {
  if (has_unique_id(conn, table)) return;
  const std::string create =
      std::string("CREATE UNIQUE INDEX ") + table + "_id_unique ON " + table + " (id)";
  try {
    conn.exec(create.c_str());
  } catch (const StoreError& e) {
    throw StoreError(e.kind(),
                     std::string("sqlite: table ") + table +
                         " has no unique index on id, and one cannot be made: " + e.what());
  }
}

}  // namespace

SqliteStore::SqliteStore(const std::filesystem::path& path, bool synchronous_full,
                         std::uint64_t inbox_merge_rows)
    : path_(path),
      writer_(std::make_unique<SqliteConnection>(path, synchronous_full)),
      reader_(std::make_unique<SqliteConnection>(path, synchronous_full)),
      counter_(std::make_unique<SqliteConnection>(path, synchronous_full)),
      inbox_merge_rows_(inbox_merge_rows) {
  Transaction tx(*writer_);
  writer_->exec(kSchema);
  if (!has_column(*writer_, "signedrecords", "job_id")) writer_->exec(kJobIdColumn);
  writer_->exec(kJobIdIndex);
  if (!has_column(*writer_, "signedrecords", "scheme")) writer_->exec(kSchemeColumn);
  if (!has_column(*writer_, "signedrecords", "digest")) writer_->exec(kDigestColumn);
  if (!has_column(*writer_, "records", "epoch")) writer_->exec(kEpochColumn);
  writer_->exec(kEpochTable);
  writer_->exec(kDropFullShardIndex);
  writer_->exec(kShardIndex);
  ensure_unique_id(*writer_, "records");
  ensure_unique_id(*writer_, "signedrecords");
  open_counts(*writer_);
  tx.commit();
  // From here the writer counts its own rows (add_counts); every other connection keeps the
  // triggers. The reader and the counter never write.
  int triggers = -1;
  if (sqlite3_db_config(writer_->get(), SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, &triggers) !=
          SQLITE_OK ||
      triggers != 0) {
    throw StoreError(ErrorKind::kInvalid, "sqlite: cannot turn triggers off on the writer");
  }
  std::int64_t unsigned_records = 0;
  {
    StatementUse use(
        writer_->statement("SELECT (SELECT count(*) FROM records_inbox), "
                           "(SELECT unsigned_records FROM signer_counts WHERE id = 1)"));
    writer_->step(use.get());
    inbox_rows_ = sqlite3_column_int64(use.get(), 0);
    unsigned_records = sqlite3_column_int64(use.get(), 1);
  }
  merger_ = std::jthread([this](std::stop_token stop) { merge_loop(std::move(stop)); });
  // An inbox a process left full (it stopped before its merge was done) is merged now.
  if (inbox_due(inbox_rows_, unsigned_records)) request_merge();
}

bool SqliteStore::inbox_due(std::int64_t inbox, std::int64_t unsigned_records) const {
  // An eighth of the store, and at least inbox_merge_rows_: each merge then rewrites at most
  // about eight times the inbox's records of `records`' pages, once.
  return inbox > 0 &&
         static_cast<std::uint64_t>(inbox) >=
             std::max(inbox_merge_rows_,
                      static_cast<std::uint64_t>(std::max<std::int64_t>(unsigned_records, 0)) / 8);
}

void SqliteStore::add_counts(std::int64_t unsigned_delta, std::int64_t signed_delta) {
  if (unsigned_delta == 0 && signed_delta == 0) return;
  StatementUse use(writer_->statement(kAddCounts));
  writer_->bind_int(use.get(), 1, unsigned_delta);
  writer_->bind_int(use.get(), 2, signed_delta);
  writer_->step(use.get());
}

SqliteStore::~SqliteStore() = default;

std::string SqliteStore::describe() const { return "sqlite:" + path_.string(); }

int SqliteStore::synchronous_level() {
  std::lock_guard lock(write_mutex_);
  StatementUse use(writer_->statement("PRAGMA synchronous"));
  writer_->step(use.get());
  return sqlite3_column_int(use.get(), 0);
}

void SqliteStore::ping() {
  std::lock_guard lock(read_mutex_);
  StatementUse use(reader_->statement("SELECT 1"));
  reader_->step(use.get());
}

Counts SqliteStore::count() {
  {
    // One row the store keeps (open_counts): O(1) at any size, on a connection of its own, so no
    // long read on the reader (a job's closing count of its records scans them all) delays it.
    std::lock_guard lock(counter_mutex_);
    StatementUse use(counter_->statement(
        "SELECT unsigned_records, signed_records FROM signer_counts WHERE id = 1"));
    if (counter_->step(use.get())) {
      return {static_cast<std::uint64_t>(sqlite3_column_int64(use.get(), 0)),
              static_cast<std::uint64_t>(sqlite3_column_int64(use.get(), 1))};
    }
  }
  // The row was deleted since the store opened (by hand): count, and put it back exactly.
  std::lock_guard lock(write_mutex_);
  Transaction tx(*writer_);
  writer_->exec(kRecount);
  Counts counts;
  {
    StatementUse use(
        writer_->statement("SELECT unsigned_records, signed_records FROM signer_counts"));
    writer_->step(use.get());
    counts = {static_cast<std::uint64_t>(sqlite3_column_int64(use.get(), 0)),
              static_cast<std::uint64_t>(sqlite3_column_int64(use.get(), 1))};
  }
  tx.commit();
  return counts;
}

JobStart SqliteStore::start_job() {
  std::lock_guard lock(write_mutex_);
  // A write transaction: ingests wait for it, so none lands between the counts and the epoch.
  Transaction tx(*writer_);
  JobStart start;
  {
    StatementUse use(writer_->statement(
        "SELECT (SELECT count(*) FROM records) + (SELECT count(*) FROM records_inbox)"));
    writer_->step(use.get());
    start.counts.unsigned_records = static_cast<std::uint64_t>(sqlite3_column_int64(use.get(), 0));
  }
  {
    StatementUse use(writer_->statement("SELECT count(*) FROM signedrecords"));
    writer_->step(use.get());
    start.counts.signed_records = static_cast<std::uint64_t>(sqlite3_column_int64(use.get(), 0));
  }
  {
    StatementUse use(writer_->statement(
        "UPDATE signer_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch - 1"));
    if (!writer_->step(use.get())) {
      throw StoreError(ErrorKind::kInvalid, "sqlite: table signer_epoch has lost its row");
    }
    start.epoch = static_cast<std::uint64_t>(sqlite3_column_int64(use.get(), 0));
  }
  // Exact counts in hand and the write lock held: the counts row is set to them, which also
  // mends a drift only a foreign writer can cause (an INSERT OR REPLACE over a stored id on a
  // connection without recursive_triggers deletes a row without firing its delete trigger).
  {
    StatementUse use(writer_->statement(
        "INSERT OR REPLACE INTO signer_counts (id, unsigned_records, signed_records) "
        "VALUES (1, ?1, ?2)"));
    writer_->bind_int(use.get(), 1, static_cast<std::int64_t>(start.counts.unsigned_records));
    writer_->bind_int(use.get(), 2, static_cast<std::int64_t>(start.counts.signed_records));
    writer_->step(use.get());
  }
  tx.commit();
  return start;
}

std::uint64_t SqliteStore::count_unsigned_through_epoch(std::uint64_t epoch) {
  std::lock_guard lock(read_mutex_);
  StatementUse use(reader_->statement(
      "SELECT (SELECT count(*) FROM records WHERE epoch IS NULL OR epoch <= ?1) + "
      "(SELECT count(*) FROM records_inbox WHERE epoch IS NULL OR epoch <= ?1)"));
  reader_->bind_int(use.get(), 1, static_cast<std::int64_t>(epoch));
  reader_->step(use.get());
  return static_cast<std::uint64_t>(sqlite3_column_int64(use.get(), 0));
}

std::uint64_t SqliteStore::count_signed_of_job(std::string_view job_id) {
  std::lock_guard lock(read_mutex_);
  StatementUse use(reader_->statement("SELECT count(*) FROM signedrecords WHERE job_id = ?1"));
  reader_->bind_text(use.get(), 1, job_id);
  reader_->step(use.get());
  return static_cast<std::uint64_t>(sqlite3_column_int64(use.get(), 0));
}

std::uint64_t SqliteStore::backfill_shards() {
  std::lock_guard lock(write_mutex_);
  std::uint64_t updated = 0;
  for (;;) {
    std::vector<std::string> ids;
    {
      // Missing, below 0 or at/above 2^32 (text and blobs sort above every number): no batch's
      // range holds these. Three ranges of records_shard_other, not a scan. Records keyed by id
      // are read by their id whatever their shard column holds, so they need no backfill.
      StatementUse use(writer_->statement(
          "SELECT id FROM records WHERE shard IS NULL AND " SIGNER_NOT_KEYED_BY_ID
          " UNION ALL SELECT id FROM records WHERE shard < 0 AND " SIGNER_NOT_KEYED_BY_ID
          " UNION ALL SELECT id FROM records WHERE shard >= 4294967296 AND " SIGNER_NOT_KEYED_BY_ID
          " LIMIT 10000"));
      while (writer_->step(use.get())) ids.push_back(column_text(use.get(), 0));
    }
    if (ids.empty()) {
      // Not whole numbers: an INTEGER column keeps 12.5 as a REAL (12.0 becomes 12). A cursor
      // holds whole shards, so a read would meet such a record again after passing it, and
      // sign it twice. A scan of records_shard_other, which holds the shard.
      StatementUse use(writer_->statement(
          "SELECT id FROM records WHERE typeof(shard) = 'real' AND " SIGNER_NOT_KEYED_BY_ID
          " LIMIT 10000"));
      while (writer_->step(use.get())) ids.push_back(column_text(use.get(), 0));
    }
    if (ids.empty()) return updated;
    Transaction tx(*writer_);
    sqlite3_stmt* update = writer_->statement("UPDATE records SET shard = ?1 WHERE id = ?2");
    std::uint64_t page_updated = 0;
    for (const std::string& id : ids) {
      StatementUse use(update);
      writer_->bind_int(update, 1, records::shard_of(id));
      writer_->bind_text(update, 2, id);
      writer_->step(update);
      page_updated += static_cast<std::uint64_t>(sqlite3_changes(writer_->get()));
    }
    tx.commit();
    updated += page_updated;
    if (page_updated == 0) return updated;  // ids that match no text id (BLOB ids): give up
  }
}

namespace {

constexpr std::uint64_t kShardSpace = std::uint64_t{1} << 32;

// A shard's first id among the ids keyed by id: its 8 lowercase hex digits.
std::string hex8(std::uint64_t shard) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", static_cast<unsigned>(shard));
  return text;
}

// Where the ids keyed by id (SIGNER_KEYED_BY_ID) that come after a cursor at (shard, id) begin,
// in id order: {first id, whether that id itself is after the cursor}, or nothing when none can
// be. The cursor's id need not be keyed by id itself (it may be a record of records_shard_other
// in the same shard).
std::optional<std::pair<std::string, bool>> keyed_after(std::uint64_t shard,
                                                        const std::string& id) {
  if (shard >= kShardSpace) return std::nullopt;
  std::string first = hex8(shard);
  // The ids of this shard all begin with `first`: after the cursor's id when it has that prefix
  // too, all of them when it sorts before them, none when it sorts after them.
  if (id.size() >= first.size() && id.compare(0, first.size(), first) == 0) {
    return std::pair{id, false};
  }
  if (id < first) return std::pair{std::move(first), true};
  if (shard + 1 >= kShardSpace) return std::nullopt;
  return std::pair{hex8(shard + 1), true};
}

// SIGNER_KEYED_BY_ID for a text id, in C++: the id's shard when its first 8 characters are
// lowercase hex digits. A batch's read of the keyed records tests each row of its primary-key
// range with this, not with the GLOB: SQLite parses the GLOB's 8 character classes for every row,
// about 0.2 us a row (docs/PERFORMANCE.md, "The sixth session").
std::optional<std::uint32_t> keyed_shard(std::string_view id) {
  const std::string_view prefix = id.substr(0, 8);
  if (std::any_of(prefix.begin(), prefix.end(), [](char c) { return c >= 'A' && c <= 'F'; })) {
    return std::nullopt;
  }
  return records::hex_prefix_of(id);
}

}  // namespace

std::vector<records::UnsignedRecord> SqliteStore::read_unsigned(const records::ShardRange& range,
                                                                ReadCursor& cursor,
                                                                std::size_t limit,
                                                                std::size_t byte_limit) {
  std::lock_guard lock(write_mutex_);
  cursor.begin_read(range);
  std::vector<records::UnsignedRecord> out;
  out.reserve(std::min<std::size_t>(limit, 4096));
  std::size_t bytes = 0;
  // Three streams in (shard, id) order, merged: the records keyed by id, a range of the primary
  // key (`keyed`); the others, a range of records_shard_other (`other`); and the inbox's, a range
  // of its primary key. The two by shard are limited to `limit` rows, as many as the merge can
  // take; the keyed one is stepped only as far as the merge takes it. Cursor values are bound
  // without a copy (SQLITE_STATIC), so they must outlive the stepping, which moves cursor.id.
  const std::string after_id = cursor.id;
  const auto keyed_from = keyed_after(cursor.shard, after_id);
  const std::string keyed_end = range.end >= kShardSpace ? "g" : hex8(range.end);  // 'g' > 'f'
  struct Stream {
    sqlite3_stmt* stmt = nullptr;
    bool keyed = false;  // its shard is its id's, not a column
    std::optional<StatementUse> use;
    bool row = false;
    std::uint64_t shard = 0;  // the current row's
  };
  Stream streams[3];
  if (keyed_from && keyed_from->first < keyed_end) {
    Stream& keyed = streams[0];
    keyed.keyed = true;
    // Every row of the range: the ones not keyed by id (other tools' ids in upper or mixed case
    // sort among the lowercase ones) are skipped by `advance`, and read by the `other` stream.
    // Only text ids lie between two text bounds.
    keyed.stmt = writer_->statement(keyed_from->second
                                        ? "SELECT id, msg FROM records WHERE id >= ?1 AND id < ?2 "
                                          "ORDER BY id"
                                        : "SELECT id, msg FROM records WHERE id > ?1 AND id < ?2 "
                                          "ORDER BY id");
    keyed.use.emplace(keyed.stmt);
    writer_->bind_text(keyed.stmt, 1, keyed_from->first);
    writer_->bind_text(keyed.stmt, 2, keyed_end);
  }
  streams[1].stmt = writer_->statement(
      "SELECT id, msg, shard FROM records WHERE (shard, id) > (?1, ?2) AND shard < ?3 "
      "AND " SIGNER_NOT_KEYED_BY_ID " ORDER BY shard, id LIMIT ?4");
  streams[2].stmt = writer_->statement(
      "SELECT id, msg, shard FROM records_inbox WHERE (shard, id) > (?1, ?2) AND shard < ?3 "
      "ORDER BY shard, id LIMIT ?4");
  for (Stream* by_shard : {&streams[1], &streams[2]}) {
    by_shard->use.emplace(by_shard->stmt);
    writer_->bind_int(by_shard->stmt, 1, static_cast<std::int64_t>(cursor.shard));
    writer_->bind_text(by_shard->stmt, 2, after_id);
    writer_->bind_int(by_shard->stmt, 3, static_cast<std::int64_t>(range.end));
    writer_->bind_int(by_shard->stmt, 4, static_cast<std::int64_t>(limit));
  }
  // Steps a stream to its next row (the keyed one past ids not keyed by id) and reads that row's
  // shard, once.
  const auto advance = [&](Stream& s) {
    for (;;) {
      s.row = s.stmt != nullptr && writer_->step(s.stmt);
      if (!s.row) return;
      if (!s.keyed) {
        s.shard = static_cast<std::uint64_t>(sqlite3_column_int64(s.stmt, 2));
        return;
      }
      if (const auto shard = keyed_shard(column_view(s.stmt, 0))) {
        s.shard = *shard;
        return;
      }
    }
  };
  for (Stream& stream : streams) advance(stream);
  // SQLite orders a NULL, then numbers, then text (bytewise: the id column's BINARY collation),
  // then BLOBs. Only records_shard_other's ids can be other than text.
  const auto type_rank = [](int type) {
    switch (type) {
      case SQLITE_NULL: return 0;
      case SQLITE_TEXT: return 2;
      case SQLITE_BLOB: return 3;
      default: return 1;
    }
  };
  // Whether `a`'s row comes before `b`'s in (shard, id) order.
  const auto before = [&](const Stream& a, const Stream& b) {
    if (a.shard != b.shard) return a.shard < b.shard;
    const int a_rank = type_rank(sqlite3_column_type(a.stmt, 0));
    const int b_rank = type_rank(sqlite3_column_type(b.stmt, 0));
    if (a_rank != b_rank) return a_rank < b_rank;
    return a_rank == 2 && column_view(a.stmt, 0) < column_view(b.stmt, 0);
  };
  // Rows are taken one at a time, so stopping at the byte budget takes no further. Every stream
  // ending before the limit is what says the range is exhausted.
  while (bytes < byte_limit && cursor.visited < limit) {
    Stream* next = nullptr;
    for (Stream& stream : streams) {
      if (stream.row && (next == nullptr || before(stream, *next))) next = &stream;
    }
    if (next == nullptr) break;
    sqlite3_stmt* stmt = next->stmt;
    ++cursor.visited;
    cursor.id = column_text(stmt, 0);
    cursor.shard = next->shard;
    // Another tool may have written a BLOB (or, with a NULL-less schema of its own, anything);
    // signing its bytes as text would sign something other than what was stored.
    if (sqlite3_column_type(stmt, 0) != SQLITE_TEXT ||
        sqlite3_column_type(stmt, 1) != SQLITE_TEXT) {
      cursor.invalid.push_back({cursor.id, sqlite3_column_type(stmt, 0) != SQLITE_TEXT
                                               ? "id is not text"
                                               : "msg is not text"});
    } else {
      out.push_back({cursor.id, column_text(stmt, 1)});
      bytes += out.back().id.size() + out.back().msg.size();
    }
    advance(*next);
  }
  cursor.exhausted =
      std::none_of(std::begin(streams), std::end(streams), [](const Stream& s) { return s.row; }) &&
      cursor.visited < limit;
  return out;
}

MoveResult SqliteStore::move_to_signed(std::span<const records::SignedRecord> signed_records) {
  // A chunk of raw records (the original's scheme) binds the original's six columns, exactly as
  // before the schemes existed; only a chunk with a scheme binds scheme and digest too.
  static const std::string insert_group_sql[2] = {
      with_parameter_groups(
          "INSERT OR IGNORE INTO signedrecords (id, msg, salt, sign, key, job_id) VALUES ",
          kMoveGroup, 6),
      with_parameter_groups("INSERT OR IGNORE INTO signedrecords (" SIGNED_COLUMNS ") VALUES ",
                            kMoveGroup, 8)};
  static const std::string delete_group_sql =
      with_parameter_groups("DELETE FROM records WHERE id IN ", 1, kMoveGroup);
  // "(shard = ? AND id = ?) OR …": SQLite looks each term up in the primary key (a MULTI-INDEX OR),
  // where a row-value IN (VALUES …) would scan the inbox.
  static const std::string delete_inbox_group_sql = [] {
    std::string sql = "DELETE FROM records_inbox WHERE ";
    for (std::size_t r = 0; r < kMoveGroup; ++r)
      sql += r == 0 ? "(shard = ? AND id = ?)" : " OR (shard = ? AND id = ?)";
    return sql;
  }();
  static const char* const insert_sql[2] = {
      "INSERT OR IGNORE INTO signedrecords (id, msg, salt, sign, key, job_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
      "INSERT OR IGNORE INTO signedrecords (" SIGNED_COLUMNS
      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"};
  const bool with_scheme =
      std::any_of(signed_records.begin(), signed_records.end(),
                  [](const records::SignedRecord& r) { return !r.scheme.empty(); });
  const auto bind_row = [&](sqlite3_stmt* stmt, int p, const records::SignedRecord& r) {
    writer_->bind_text(stmt, ++p, r.id);
    writer_->bind_text(stmt, ++p, r.msg);
    writer_->bind_text(stmt, ++p, r.salt);
    writer_->bind_text(stmt, ++p, r.sign);
    writer_->bind_text(stmt, ++p, r.key);
    writer_->bind_text(stmt, ++p, r.job_id);
    if (with_scheme) {
      writer_->bind_text_or_null(stmt, ++p, r.scheme);
      writer_->bind_text_or_null(stmt, ++p, r.digest);
    }
    return p;
  };
  std::lock_guard lock(write_mutex_);
  MoveResult result;
  std::int64_t deleted = 0;  // rows of records (another process may have deleted some first)
  std::int64_t deleted_from_inbox = 0;
  Transaction tx(*writer_);
  // A record not found in `records` may be in the inbox, when it has any records at all; the
  // common case, an empty inbox, costs one look at its root page a move.
  bool inbox = false;
  {
    StatementUse use(writer_->statement("SELECT EXISTS (SELECT 1 FROM records_inbox)"));
    writer_->step(use.get());
    inbox = sqlite3_column_int(use.get(), 0) != 0;
  }
  // Whole groups first. INSERT OR IGNORE skips a record already in signedrecords (or earlier in
  // the group), exactly as row by row: sqlite3_changes says how many rows it inserted.
  std::size_t done = 0;
  if (signed_records.size() >= kMoveGroup) {
    sqlite3_stmt* insert_group = writer_->statement(insert_group_sql[with_scheme].c_str());
    sqlite3_stmt* delete_group = writer_->statement(delete_group_sql.c_str());
    for (; done + kMoveGroup <= signed_records.size(); done += kMoveGroup) {
      const auto group = signed_records.subspan(done, kMoveGroup);
      {
        StatementUse use(insert_group);
        int p = 0;
        for (const records::SignedRecord& r : group) p = bind_row(insert_group, p, r);
        writer_->step(insert_group);
        const auto inserted = static_cast<std::uint64_t>(sqlite3_changes(writer_->get()));
        result.inserted += inserted;
        result.already_signed += kMoveGroup - inserted;
      }
      {
        StatementUse use(delete_group);
        int p = 0;
        for (const records::SignedRecord& r : group) writer_->bind_text(delete_group, ++p, r.id);
        writer_->step(delete_group);
        const int from_records = sqlite3_changes(writer_->get());
        deleted += from_records;
        if (!inbox || from_records == static_cast<int>(kMoveGroup)) continue;
      }
      sqlite3_stmt* delete_inbox = writer_->statement(delete_inbox_group_sql.c_str());
      StatementUse use(delete_inbox);
      int p = 0;
      for (const records::SignedRecord& r : group) {
        writer_->bind_int(delete_inbox, ++p, static_cast<std::int64_t>(records::shard_of(r.id)));
        writer_->bind_text(delete_inbox, ++p, r.id);
      }
      writer_->step(delete_inbox);
      deleted_from_inbox += sqlite3_changes(writer_->get());
    }
  }
  sqlite3_stmt* insert = writer_->statement(insert_sql[with_scheme]);
  sqlite3_stmt* remove = writer_->statement("DELETE FROM records WHERE id = ?1");
  for (const records::SignedRecord& r : signed_records.subspan(done)) {
    {
      StatementUse use(insert);
      bind_row(insert, 0, r);
      writer_->step(insert);
      if (sqlite3_changes(writer_->get()) == 1) {
        ++result.inserted;
      } else {
        ++result.already_signed;
      }
    }
    {
      StatementUse use(remove);
      writer_->bind_text(remove, 1, r.id);
      writer_->step(remove);
      const int from_records = sqlite3_changes(writer_->get());
      deleted += from_records;
      if (!inbox || from_records == 1) continue;
    }
    sqlite3_stmt* remove_inbox =
        writer_->statement("DELETE FROM records_inbox WHERE shard = ?1 AND id = ?2");
    StatementUse use(remove_inbox);
    writer_->bind_int(remove_inbox, 1, static_cast<std::int64_t>(records::shard_of(r.id)));
    writer_->bind_text(remove_inbox, 2, r.id);
    writer_->step(remove_inbox);
    deleted_from_inbox += sqlite3_changes(writer_->get());
  }
  add_counts(-(deleted + deleted_from_inbox), static_cast<std::int64_t>(result.inserted));
  tx.commit();
  inbox_rows_ -= deleted_from_inbox;
  return result;
}

IngestResult SqliteStore::ingest(std::span<const records::UnsignedRecord> unsigned_records) {
  std::vector<std::uint64_t> shards;
  shards.reserve(unsigned_records.size());
  std::uint64_t low = kShardSpace;
  std::uint64_t high = 0;
  for (const records::UnsignedRecord& r : unsigned_records) {
    shards.push_back(records::shard_of(r.id));
    low = std::min(low, shards.back());
    high = std::max(high, shards.back());
  }
  std::unique_lock lock(write_mutex_);
  IngestResult result;
  // BEGIN IMMEDIATE serialises this with every move and with a job's start: no move can commit
  // between the checks below and the inserts, and the epoch read here is the one the records
  // land in.
  Transaction tx(*writer_);
  std::int64_t epoch = 0;
  {
    StatementUse use(writer_->statement("SELECT epoch FROM signer_epoch WHERE id = 1"));
    if (writer_->step(use.get())) epoch = sqlite3_column_int64(use.get(), 0);
  }
  std::int64_t stored = 0;  // unsigned records, the inbox's included
  {
    StatementUse use(writer_->statement("SELECT unsigned_records FROM signer_counts WHERE id = 1"));
    if (writer_->step(use.get())) stored = sqlite3_column_int64(use.get(), 0);
  }
  // The stored records among which the new ones land: the store's share of their shard span.
  const double among = unsigned_records.empty()
                           ? 0.0
                           : static_cast<double>(stored) * static_cast<double>(high - low + 1) /
                                 static_cast<double>(kShardSpace);
  // A store smaller than an inbox's merge takes every ingest: its B-tree is a few thousand pages,
  // which an ingest's records share, and an inbox would be merged into it as soon as filled.
  const bool to_inbox = static_cast<std::uint64_t>(stored) >= inbox_merge_rows_ &&
                        among > kDenseRows * static_cast<double>(unsigned_records.size());
  // Either way an id is stored once across records, records_inbox and signedrecords.
  sqlite3_stmt* insert = writer_->statement(
      to_inbox
          ? "INSERT OR IGNORE INTO records_inbox (shard, id, msg, epoch) "
            "SELECT ?3, ?1, ?2, ?4 WHERE NOT EXISTS (SELECT 1 FROM signedrecords WHERE id = ?1) "
            "AND NOT EXISTS (SELECT 1 FROM records WHERE id = ?1)"
          : "INSERT OR IGNORE INTO records (id, msg, shard, epoch) SELECT ?1, ?2, ?3, ?4 "
            "WHERE NOT EXISTS (SELECT 1 FROM signedrecords WHERE id = ?1) "
            "AND NOT EXISTS (SELECT 1 FROM records_inbox WHERE shard = ?3 AND id = ?1)");
  // Records are inserted in call order inside one transaction, so an id repeated in the call
  // finds its first occurrence already stored and is compared with it.
  sqlite3_stmt* stored_msg = writer_->statement(
      "SELECT msg, 1 FROM signedrecords WHERE id = ?1 "
      "UNION ALL SELECT msg, 0 FROM records WHERE id = ?1 "
      "UNION ALL SELECT msg, 0 FROM records_inbox WHERE shard = ?2 AND id = ?1 LIMIT 1");
  std::unordered_set<std::string_view> not_stored_before;  // ids this call inserted
  for (std::size_t i = 0; i < unsigned_records.size(); ++i) {
    const records::UnsignedRecord& r = unsigned_records[i];
    const auto shard = static_cast<std::int64_t>(shards[i]);
    {
      StatementUse use(insert);
      writer_->bind_text(insert, 1, r.id);
      writer_->bind_text(insert, 2, r.msg);
      writer_->bind_int(insert, 3, shard);
      writer_->bind_int(insert, 4, epoch);
      writer_->step(insert);
      if (sqlite3_changes(writer_->get()) == 1) {
        ++result.accepted;
        not_stored_before.insert(r.id);
        continue;
      }
    }
    StatementUse use(stored_msg);
    writer_->bind_text(stored_msg, 1, r.id);
    writer_->bind_int(stored_msg, 2, shard);
    // A stored msg that is not text (written by another tool) reads as "" and so conflicts.
    if (writer_->step(stored_msg) && sqlite3_column_type(stored_msg, 0) == SQLITE_TEXT &&
        column_text(stored_msg, 0) == r.msg) {
      ++result.duplicates;
    } else {
      add_conflict(result, i, r.id, not_stored_before.contains(r.id));
    }
  }
  add_counts(static_cast<std::int64_t>(result.accepted), 0);
  tx.commit();
  if (!to_inbox) return result;
  const std::int64_t inbox = inbox_rows_ += static_cast<std::int64_t>(result.accepted);
  lock.unlock();
  if (inbox_due(inbox, stored)) request_merge();
  return result;
}

void SqliteStore::request_merge() {
  {
    std::lock_guard lock(merge_mutex_);
    merge_wanted_ = true;
  }
  merge_cv_.notify_one();
}

void SqliteStore::merge_loop(std::stop_token stop) {
  std::unique_lock lock(merge_mutex_);
  while (merge_cv_.wait(lock, stop, [this] { return merge_wanted_; })) {
    merge_wanted_ = false;
    lock.unlock();
    const auto began = std::chrono::steady_clock::now();
    const std::int64_t before = inbox_rows_.load();
    try {
      while (!stop.stop_requested() && merge_inbox_chunk()) {
        // Lets a move waiting on the write lock take it between chunks.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      spdlog::info("sqlite: merged the inbox ({} records) into records in {} ms", before,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - began)
                       .count());
      lock.lock();
    } catch (const std::exception& e) {
      spdlog::warn("sqlite: merging records_inbox into records failed, trying again in {} s: {}",
                   kMergeRetry.count(), e.what());
      lock.lock();
      merge_cv_.wait_for(lock, stop, kMergeRetry, [] { return false; });
      if (stop.stop_requested()) return;
      merge_wanted_ = true;
    }
  }
}

bool SqliteStore::merge_inbox_chunk() {
  std::lock_guard lock(write_mutex_);
  Transaction tx(*writer_);
  // The chunk's last key, or none when the rest of the inbox is one chunk or less.
  std::optional<std::pair<std::int64_t, std::string>> last;
  {
    StatementUse use(writer_->statement(
        "SELECT shard, id FROM records_inbox ORDER BY shard, id LIMIT 1 OFFSET ?1"));
    writer_->bind_int(use.get(), 1, kMergeChunk - 1);
    if (writer_->step(use.get())) {
      last.emplace(sqlite3_column_int64(use.get(), 0), column_text(use.get(), 1));
    }
  }
  const auto bind_last = [&](sqlite3_stmt* stmt) {
    if (!last) return;
    writer_->bind_int(stmt, 1, last->first);
    writer_->bind_text(stmt, 2, last->second);
  };
  std::int64_t inserted = 0;
  {
    // In (shard, id) order, which for ids keyed by id is `records`' own: each of its leaf pages is
    // written once a chunk. OR IGNORE: an id another tool has since put into `records` keeps that
    // row, and the inbox's copy is dropped (and uncounted, below).
    StatementUse use(writer_->statement(
        last ? "INSERT OR IGNORE INTO records (id, msg, shard, epoch) SELECT id, msg, shard, epoch "
               "FROM records_inbox WHERE (shard, id) <= (?1, ?2) ORDER BY shard, id"
             : "INSERT OR IGNORE INTO records (id, msg, shard, epoch) SELECT id, msg, shard, epoch "
               "FROM records_inbox ORDER BY shard, id"));
    bind_last(use.get());
    writer_->step(use.get());
    inserted = sqlite3_changes(writer_->get());
  }
  std::int64_t removed = 0;
  {
    StatementUse use(
        writer_->statement(last ? "DELETE FROM records_inbox WHERE (shard, id) <= (?1, ?2)"
                                : "DELETE FROM records_inbox"));
    bind_last(use.get());
    writer_->step(use.get());
    removed = sqlite3_changes(writer_->get());
  }
  add_counts(inserted - removed, 0);
  tx.commit();
  inbox_rows_ -= removed;
  if (!last) inbox_rows_ = 0;
  return last.has_value();
}

std::optional<records::SignedRecord> SqliteStore::find_signed(std::string_view id) {
  std::lock_guard lock(read_mutex_);
  sqlite3_stmt* stmt =
      reader_->statement("SELECT " SIGNED_COLUMNS " FROM signedrecords WHERE id = ?1");
  StatementUse use(stmt);
  reader_->bind_text(stmt, 1, id);
  if (!reader_->step(stmt)) return std::nullopt;
  return signed_from_row(stmt);
}

void SqliteStore::for_each_signed(const std::function<void(const records::SignedRecord&)>& sink) {
  std::lock_guard lock(read_mutex_);
  sqlite3_stmt* stmt =
      reader_->statement("SELECT " SIGNED_COLUMNS " FROM signedrecords ORDER BY id");
  StatementUse use(stmt);
  while (reader_->step(stmt)) sink(signed_from_row(stmt));
}

void SqliteStore::for_each_signed_of_job(
    std::string_view job_id, const std::function<void(const records::SignedRecord&)>& sink) {
  std::lock_guard lock(read_mutex_);
  sqlite3_stmt* stmt = reader_->statement("SELECT " SIGNED_COLUMNS
                                          " FROM signedrecords WHERE job_id = ?1 ORDER BY id");
  StatementUse use(stmt);
  reader_->bind_text(stmt, 1, job_id);
  while (reader_->step(stmt)) sink(signed_from_row(stmt));
}

void SqliteStore::save_job(const audit::JobRecord& job, std::uint64_t first_outcome) {
  const std::string body = audit::job_fields_text(job);
  std::vector<std::string> outcomes;
  outcomes.reserve(job.results.size());
  for (const audit::BatchOutcome& b : job.results) {
    outcomes.push_back(audit::dump_line(audit::to_json(b)));
  }
  std::lock_guard lock(write_mutex_);
  Transaction tx(*writer_);
  {
    sqlite3_stmt* stmt = writer_->statement(
        "INSERT INTO jobs (id, started_unix_ms, state, body) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (id) DO UPDATE SET started_unix_ms = excluded.started_unix_ms, "
        "state = excluded.state, body = excluded.body");
    StatementUse use(stmt);
    writer_->bind_text(stmt, 1, job.id);
    writer_->bind_int(stmt, 2, job.started_unix_ms);
    writer_->bind_text(stmt, 3, audit::to_string(job.state));
    writer_->bind_text(stmt, 4, body);
    writer_->step(stmt);
  }
  sqlite3_stmt* stmt = writer_->statement(
      "INSERT INTO job_results (job_id, seq, body) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (job_id, seq) DO UPDATE SET body = excluded.body");
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    StatementUse use(stmt);
    writer_->bind_text(stmt, 1, job.id);
    writer_->bind_int(stmt, 2, static_cast<std::int64_t>(first_outcome + i));
    writer_->bind_text(stmt, 3, outcomes[i]);
    writer_->step(stmt);
  }
  tx.commit();
}

std::vector<std::string> SqliteStore::outcome_bodies(std::string_view job_id) {
  sqlite3_stmt* stmt =
      reader_->statement("SELECT body FROM job_results WHERE job_id = ?1 ORDER BY seq");
  StatementUse use(stmt);
  reader_->bind_text(stmt, 1, job_id);
  std::vector<std::string> bodies;
  while (reader_->step(stmt)) bodies.push_back(column_text(stmt, 0));
  return bodies;
}

namespace {

// A job's row and its outcomes' rows, read in one snapshot and parsed once the reader is free.
struct StoredJob {
  std::string id;
  std::string body;
  std::vector<std::string> outcomes;
};

audit::JobRecord job_of(const StoredJob& stored) {
  audit::JobRecord job = job_from_stored_body(stored.body, "sqlite table jobs");
  for (const std::string& outcome : stored.outcomes) {
    job.results.push_back(outcome_from_stored_body(outcome, "sqlite table job_results"));
  }
  return job;
}

}  // namespace

std::optional<audit::JobRecord> SqliteStore::find_job(std::string_view id, bool with_outcomes) {
  StoredJob stored;
  {
    std::lock_guard lock(read_mutex_);
    ReadTransaction snapshot(*reader_);
    {
      sqlite3_stmt* stmt = reader_->statement("SELECT body FROM jobs WHERE id = ?1");
      StatementUse use(stmt);
      reader_->bind_text(stmt, 1, id);
      if (!reader_->step(stmt)) return std::nullopt;
      stored = {std::string(id), column_text(stmt, 0), {}};
    }
    if (with_outcomes) stored.outcomes = outcome_bodies(id);
  }
  audit::JobRecord job = job_of(stored);
  // A job saved before its outcomes had rows holds them in its body.
  if (!with_outcomes) job.results.clear();
  return job;
}

std::vector<audit::JobRecord> SqliteStore::list_jobs(std::size_t limit) {
  std::vector<StoredJob> stored;
  {
    std::lock_guard lock(read_mutex_);
    ReadTransaction snapshot(*reader_);
    {
      sqlite3_stmt* stmt = reader_->statement(
          "SELECT id, body FROM jobs ORDER BY started_unix_ms DESC, id DESC LIMIT ?1");
      StatementUse use(stmt);
      reader_->bind_int(stmt, 1, static_cast<std::int64_t>(limit));
      while (reader_->step(stmt)) {
        stored.push_back({column_text(stmt, 0), column_text(stmt, 1), {}});
      }
    }
    for (StoredJob& job : stored) job.outcomes = outcome_bodies(job.id);
  }
  std::vector<audit::JobRecord> jobs;
  jobs.reserve(stored.size());
  for (const StoredJob& s : stored) jobs.push_back(job_of(s));
  return jobs;
}

void SqliteStore::append_audit(const audit::AuditEvent& event) {
  const std::string body = audit::dump_line(audit::to_json(event));
  std::lock_guard lock(write_mutex_);
  sqlite3_stmt* stmt = writer_->statement(
      "INSERT INTO audit (time_unix_ms, job_id, route, body) VALUES (?1, ?2, ?3, ?4)");
  StatementUse use(stmt);
  writer_->bind_int(stmt, 1, event.time_unix_ms);
  writer_->bind_text(stmt, 2, event.job_id);
  writer_->bind_text(stmt, 3, event.route);
  writer_->bind_text(stmt, 4, body);
  writer_->step(stmt);
}

std::uint64_t SqliteStore::prune_audit(std::int64_t before_unix_ms) {
  std::lock_guard lock(write_mutex_);
  sqlite3_stmt* stmt = writer_->statement("DELETE FROM audit WHERE time_unix_ms < ?1");
  StatementUse use(stmt);
  writer_->bind_int(stmt, 1, before_unix_ms);
  writer_->step(stmt);
  return static_cast<std::uint64_t>(sqlite3_changes(writer_->get()));
}

std::vector<audit::AuditEvent> SqliteStore::list_audit(const std::optional<std::string>& job_id,
                                                       std::size_t limit) {
  std::vector<std::string> bodies;
  {
    std::lock_guard lock(read_mutex_);
    sqlite3_stmt* stmt =
        job_id ? reader_->statement(
                     "SELECT body FROM audit WHERE job_id = ?2 ORDER BY seq DESC LIMIT ?1")
               : reader_->statement("SELECT body FROM audit ORDER BY seq DESC LIMIT ?1");
    StatementUse use(stmt);
    reader_->bind_int(stmt, 1, static_cast<std::int64_t>(limit));
    if (job_id) reader_->bind_text(stmt, 2, *job_id);
    while (reader_->step(stmt)) bodies.push_back(column_text(stmt, 0));
  }
  return audit_events_from_stored_bodies(bodies, "sqlite table audit");
}

}  // namespace signer::store
