// What an embedded job's SQLite work costs per record, and what each part of it costs: reads of
// 2,000 unsigned records in (shard, id) order, each chunk moved (insert signed, delete unsigned)
// in one BEGIN IMMEDIATE transaction, on a WAL database with synchronous=FULL and the schema of
// src/store/sqlite (records with its (shard, id) index; signedrecords with its (job_id, id)
// index). Raw SQL, so the variants can differ from the store in one thing at a time:
//   sqlite_move_bench N row     one INSERT OR IGNORE and one DELETE per record (the store before
//                               issue 21)
//   sqlite_move_bench N group   100 records per multi-row INSERT and per DELETE ... IN (the store
//                               since issue 21)
// Options after the mode: --memstatus-off (SQLITE_CONFIG_MEMSTATUS 0, as the store sets it),
// --no-job-index (without signedrecords' (job_id, id) index), --page-size BYTES,
// --rowid-signed (signedrecords as a rowid table with a UNIQUE id instead of WITHOUT ROWID),
// --count-triggers (the store's kept counts: a signer_counts row that four AFTER INSERT/DELETE
// triggers update for every row), --chunk-counts (the same triggers, disabled on this connection
// with SQLITE_DBCONFIG_ENABLE_TRIGGER, and the counts updated once a chunk by the rows each
// statement changed), --keyed-read (the store since the shard index became partial: only ids
// whose order is not their shard order in it, none here, and every chunk read by a range of the
// primary key).
// Prints CPU microseconds per record of the reads and of the moves; bench/sqlite_move_costs.sh
// counts instructions under callgrind (load-independent) in run_moves() alone.
#include <sqlite3.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr int kChunk = 2000;
constexpr int kGroup = 100;

sqlite3* db = nullptr;

void exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(sql + ": " + message);
  }
}

sqlite3_stmt* prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
      SQLITE_OK) {
    throw std::runtime_error(sql + ": " + sqlite3_errmsg(db));
  }
  return stmt;
}

void step(sqlite3_stmt* stmt) {
  const int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) throw std::runtime_error(sqlite3_errmsg(db));
}

// Not named bind: with a non-const std::string argument, ADL would pick std::bind.
void bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string groups_sql(std::string sql, int rows, int columns) {
  for (int r = 0; r < rows; ++r) {
    sql += r == 0 ? "(" : ",(";
    for (int c = 0; c < columns; ++c) sql += c == 0 ? "?" : ",?";
    sql += ")";
  }
  return sql;
}

struct Signed {
  std::string id, msg;
};

// The measured part: every chunk read and moved, then a final checkpoint (so a larger WAL
// cannot hide work). Named so callgrind can count it alone (--toggle-collect=*run_moves*).
__attribute__((noinline)) void run_moves(const std::function<void()>& body) { body(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: %s N row|group [--memstatus-off] [--no-job-index] [--page-size B] "
                 "[--rowid-signed] [--count-triggers | --chunk-counts] [--keyed-read]\n",
                 argv[0]);
    return 2;
  }
  const int n = std::atoi(argv[1]);
  const std::string mode = argv[2];
  bool job_index = true;
  bool rowid_signed = false;
  bool count_triggers = false;
  bool chunk_counts = false;
  bool keyed_read = false;
  std::string page_size;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--memstatus-off") {
      sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    } else if (a == "--no-job-index") {
      job_index = false;
    } else if (a == "--rowid-signed") {
      rowid_signed = true;
    } else if (a == "--count-triggers") {
      count_triggers = true;
    } else if (a == "--chunk-counts") {
      count_triggers = chunk_counts = true;
    } else if (a == "--keyed-read") {
      keyed_read = true;
    } else if (a == "--page-size" && i + 1 < argc) {
      page_size = argv[++i];
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (mode != "row" && mode != "group") {
    std::fprintf(stderr, "mode must be row or group\n");
    return 2;
  }
  char dir_template[] = "/tmp/sqlite-move-bench-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string path = dir + "/bench.db";
  sqlite3_open(path.c_str(), &db);
  if (!page_size.empty()) exec("PRAGMA page_size=" + page_size);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=FULL");
  // The store's predicate for ids read by their primary key (src/store/sqlite, SIGNER_KEYED_BY_ID).
  const std::string keyed =
      "(typeof(id) = 'text' AND id GLOB "
      "'[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*')";
  exec(
      "CREATE TABLE records (id TEXT PRIMARY KEY NOT NULL, msg TEXT NOT NULL, shard INTEGER, "
      "sign TEXT NOT NULL DEFAULT '', key TEXT NOT NULL DEFAULT '') WITHOUT ROWID");
  exec(keyed_read ? "CREATE INDEX records_shard_other ON records (shard, id) WHERE NOT " + keyed
                  : std::string("CREATE INDEX records_shard_id ON records (shard, id)"));
  exec(rowid_signed
           ? "CREATE TABLE signedrecords (id TEXT NOT NULL UNIQUE, msg TEXT NOT NULL, salt TEXT "
             "NOT NULL, sign TEXT NOT NULL, key TEXT NOT NULL, job_id TEXT NOT NULL DEFAULT '')"
           : "CREATE TABLE signedrecords (id TEXT PRIMARY KEY NOT NULL, msg TEXT NOT NULL, salt "
             "TEXT NOT NULL, sign TEXT NOT NULL, key TEXT NOT NULL, job_id TEXT NOT NULL DEFAULT "
             "'') WITHOUT ROWID");
  if (job_index) exec("CREATE INDEX signedrecords_job_id ON signedrecords (job_id, id)");
  if (count_triggers) {
    exec(
        "CREATE TABLE signer_counts (id INTEGER PRIMARY KEY CHECK (id = 1), unsigned_records "
        "INTEGER NOT NULL, signed_records INTEGER NOT NULL);"
        "INSERT INTO signer_counts VALUES (1, 0, 0);"
        "CREATE TRIGGER c1 AFTER INSERT ON records BEGIN UPDATE signer_counts SET "
        "unsigned_records = unsigned_records + 1; END;"
        "CREATE TRIGGER c2 AFTER DELETE ON records BEGIN UPDATE signer_counts SET "
        "unsigned_records = unsigned_records - 1; END;"
        "CREATE TRIGGER c3 AFTER INSERT ON signedrecords BEGIN UPDATE signer_counts SET "
        "signed_records = signed_records + 1; END;"
        "CREATE TRIGGER c4 AFTER DELETE ON signedrecords BEGIN UPDATE signer_counts SET "
        "signed_records = signed_records - 1; END;");
  }

  // N records whose ids are 32 hex digits, as `signer load` makes them, loaded in id order.
  std::mt19937_64 rng(1);
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    char id[33];
    std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng()));
    ids.emplace_back(id);
  }
  std::sort(ids.begin(), ids.end());
  exec("BEGIN");
  sqlite3_stmt* load = prepare("INSERT INTO records (id, msg, shard) VALUES (?1, ?2, ?3)");
  for (const std::string& id : ids) {
    bind_text(load, 1, id);
    bind_text(load, 2, id);
    sqlite3_bind_int64(load, 3, std::stoll(id.substr(0, 8), nullptr, 16));
    step(load);
    sqlite3_reset(load);
  }
  exec("COMMIT");
  exec("PRAGMA wal_checkpoint(TRUNCATE)");
  if (chunk_counts) {
    int enabled = -1;
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, &enabled);
    if (enabled != 0) throw std::runtime_error("triggers stayed enabled");
  }
  sqlite3_stmt* add_counts =
      chunk_counts ? prepare(
                         "UPDATE signer_counts SET unsigned_records = unsigned_records - ?1, "
                         "signed_records = signed_records + ?2")
                   : nullptr;

  const std::string salt = "b001ebc1-f2f7-44de-b5ff-1da0b16af05b";
  const std::string sign = "0x" + std::string(130, 'b');
  const std::string key = "0x04" + std::string(128, 'a');
  const std::string job = "j-0123456789ab-0123456789abcdef";
  // Both read the same rows in the same order here: every id is 32 lowercase hex digits.
  sqlite3_stmt* read = prepare(
      keyed_read ? "SELECT id, msg, ?1 FROM records WHERE id > ?2 AND id < ?3 AND " + keyed +
                       " ORDER BY id LIMIT ?4"
                 : std::string("SELECT id, msg, shard FROM records WHERE (shard, id) > (?1, ?2) "
                               "AND shard < ?3 ORDER BY shard, id LIMIT ?4"));
  sqlite3_stmt* insert_one = prepare(
      "INSERT OR IGNORE INTO signedrecords (id, msg, salt, sign, key, job_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  sqlite3_stmt* delete_one = prepare("DELETE FROM records WHERE id = ?1");
  sqlite3_stmt* insert_group = prepare(groups_sql(
      "INSERT OR IGNORE INTO signedrecords (id, msg, salt, sign, key, job_id) VALUES ", kGroup, 6));
  sqlite3_stmt* delete_group = prepare(groups_sql("DELETE FROM records WHERE id IN ", 1, kGroup));

  double read_cpu = 0;
  double move_cpu = 0;
  long long moved = 0;
  run_moves([&] {
    std::int64_t shard = -1;
    std::string after;
    for (;;) {
      const double t0 = cpu_seconds();
      sqlite3_bind_int64(read, 1, shard);
      bind_text(read, 2, after);
      if (keyed_read) {
        sqlite3_bind_text(read, 3, "g", 1, SQLITE_STATIC);  // after every lowercase hex id
      } else {
        sqlite3_bind_int64(read, 3, std::int64_t{1} << 32);
      }
      sqlite3_bind_int(read, 4, kChunk);
      std::vector<Signed> chunk;
      while (sqlite3_step(read) == SQLITE_ROW) {
        chunk.push_back({reinterpret_cast<const char*>(sqlite3_column_text(read, 0)),
                         reinterpret_cast<const char*>(sqlite3_column_text(read, 1))});
        shard = sqlite3_column_int64(read, 2);
      }
      sqlite3_reset(read);
      if (chunk.empty()) break;
      after = chunk.back().id;
      const double t1 = cpu_seconds();
      read_cpu += t1 - t0;

      exec("BEGIN IMMEDIATE");
      std::int64_t inserted = 0;
      std::int64_t deleted = 0;
      std::size_t done = 0;
      if (mode == "group") {
        for (; done + kGroup <= chunk.size(); done += kGroup) {
          for (int j = 0; j < kGroup; ++j) {
            const Signed& r = chunk[done + static_cast<std::size_t>(j)];
            bind_text(insert_group, 6 * j + 1, r.id);
            bind_text(insert_group, 6 * j + 2, r.msg);
            bind_text(insert_group, 6 * j + 3, salt);
            bind_text(insert_group, 6 * j + 4, sign);
            bind_text(insert_group, 6 * j + 5, key);
            bind_text(insert_group, 6 * j + 6, job);
            bind_text(delete_group, j + 1, r.id);
          }
          step(insert_group);
          inserted += sqlite3_changes(db);
          sqlite3_reset(insert_group);
          step(delete_group);
          deleted += sqlite3_changes(db);
          sqlite3_reset(delete_group);
        }
      }
      for (; done < chunk.size(); ++done) {
        const Signed& r = chunk[done];
        bind_text(insert_one, 1, r.id);
        bind_text(insert_one, 2, r.msg);
        bind_text(insert_one, 3, salt);
        bind_text(insert_one, 4, sign);
        bind_text(insert_one, 5, key);
        bind_text(insert_one, 6, job);
        step(insert_one);
        inserted += sqlite3_changes(db);
        sqlite3_reset(insert_one);
        bind_text(delete_one, 1, r.id);
        step(delete_one);
        deleted += sqlite3_changes(db);
        sqlite3_reset(delete_one);
      }
      if (chunk_counts) {
        sqlite3_bind_int64(add_counts, 1, deleted);
        sqlite3_bind_int64(add_counts, 2, inserted);
        step(add_counts);
        sqlite3_reset(add_counts);
      }
      exec("COMMIT");
      move_cpu += cpu_seconds() - t1;
      moved += static_cast<long long>(chunk.size());
    }
    const double t = cpu_seconds();
    exec("PRAGMA wal_checkpoint(TRUNCATE)");
    move_cpu += cpu_seconds() - t;
  });
  if (count_triggers) {  // the counts must come out exact either way
    sqlite3_stmt* counts = prepare("SELECT unsigned_records, signed_records FROM signer_counts");
    if (sqlite3_step(counts) != SQLITE_ROW || sqlite3_column_int64(counts, 0) != 0 ||
        sqlite3_column_int64(counts, 1) != moved) {
      std::fprintf(stderr, "signer_counts is wrong after the moves\n");
      return 1;
    }
    sqlite3_finalize(counts);
  }
  std::printf("%lld records, mode %s: read %.2f CPU-us a record, move %.2f CPU-us a record\n",
              moved, mode.c_str(), 1e6 * read_cpu / static_cast<double>(moved),
              1e6 * move_cpu / static_cast<double>(moved));
  sqlite3_close(db);
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  std::remove(path.c_str());
  std::remove(dir.c_str());
  return moved == n ? 0 : 1;
}
