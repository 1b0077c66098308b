// The behavioural contract of store::Store, run unchanged against every implementation:
// SqliteStore (a temp file) always, MongoStore when SIGNER_TEST_MONGO_URL names a server, and
// PostgresStore when SIGNER_TEST_PG_URL does (SIGNER_REQUIRE_PG=1 makes that one required too;
// see pg_test_support.h).
// That server must be a dedicated one (FerretDB in the tests): every MongoDB test drops the
// `msg-signer` database first. With SIGNER_REQUIRE_MONGO=1 a missing URL fails the MongoDB tests
// instead of leaving them out, so CI cannot pass without having run them.
// States the Store API cannot create (records written by the original's generator, a move that
// crashed between its two steps) are made through each backend's raw client.
#include <bson/bson.h>
#include <gtest/gtest.h>
#include <mongoc/mongoc.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "audit/audit_json.h"
#include "pg_test_support.h"
#include "records/shard.h"
#include "store/mongo/mongo_store.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"
#include "store/store_factory.h"
#include "test_support.h"

namespace signer::store {

// For EXPECT_EQ on counts; found by argument-dependent lookup, so not in the unnamed namespace.
bool operator==(const Counts& a, const Counts& b) {
  return a.unsigned_records == b.unsigned_records && a.signed_records == b.signed_records;
}
void PrintTo(const Counts& c, std::ostream* os) {
  *os << "{unsigned " << c.unsigned_records << ", signed " << c.signed_records << "}";
}

namespace {

using records::ShardRange;
using records::SignedRecord;
using records::UnsignedRecord;

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}
std::string mongo_url() { return env("SIGNER_TEST_MONGO_URL"); }
bool mongo_required() { return env("SIGNER_REQUIRE_MONGO") == "1"; }
constexpr const char* kMongoMissing =
    "SIGNER_REQUIRE_MONGO=1 but SIGNER_TEST_MONGO_URL is not set: the MongoDB store was not tested";

// ---- test data ---------------------------------------------------------------------------------

// A 32-hex-character id (the original generator's shape) whose shard is `shard`.
std::string id_in_shard(std::uint32_t shard, std::uint64_t suffix) {
  char text[40];
  std::snprintf(text, sizeof text, "%08x%024llx", shard, static_cast<unsigned long long>(suffix));
  return text;
}

std::vector<UnsignedRecord> random_records(std::size_t n, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<UnsignedRecord> out;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string id = id_in_shard(static_cast<std::uint32_t>(rng()), rng());
    out.push_back({id, "msg-" + id});
  }
  return out;
}

// The same shape in uppercase hex, as another tool may write ids: the same shards, but beside
// lowercase ids of those shards their id order is not their shard order ('A' < 'a'), so SQLite
// reads them through its (shard, id) index where it reads lowercase ids by their primary key.
std::vector<UnsignedRecord> uppercase_records(std::size_t n, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<UnsignedRecord> out;
  while (out.size() < n) {
    std::string id = id_in_shard(static_cast<std::uint32_t>(rng()), rng());
    // A shard of digits only reads the same in either case: not what this is for.
    if (std::all_of(id.begin(), id.begin() + 8, [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    std::transform(id.begin(), id.end(), id.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    out.push_back({id, "msg-" + id});
  }
  return out;
}

SignedRecord signed_version(const UnsignedRecord& r, const std::string& tag = "a") {
  return {r.id, r.msg, "salt-" + tag + "-" + r.id, "0xsign-" + tag + "-" + r.id, "0x04key-" + tag,
          ""};
}

std::vector<SignedRecord> signed_versions(const std::vector<UnsignedRecord>& records,
                                          const std::string& tag = "a") {
  std::vector<SignedRecord> out;
  for (const UnsignedRecord& r : records) out.push_back(signed_version(r, tag));
  return out;
}

// `records` restricted to `range`, in the (shard, id) order read_unsigned promises.
std::vector<std::string> expected_order(const std::vector<UnsignedRecord>& records,
                                        const ShardRange& range) {
  std::vector<std::pair<std::uint32_t, std::string>> keyed;
  for (const UnsignedRecord& r : records) {
    const std::uint32_t shard = records::shard_of(r.id);
    if (range.contains(shard)) keyed.emplace_back(shard, r.id);
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::string> ids;
  for (auto& [shard, id] : keyed) ids.push_back(std::move(id));
  return ids;
}

Counts counts(std::uint64_t unsigned_records, std::uint64_t signed_records) {
  return {unsigned_records, signed_records};
}

// ---- raw access to each backend
// ------------------------------------------------------------------

struct RawShard {
  enum Kind { kMissing, kNull, kDouble, kText } kind = kMissing;
  double value = 0;
};

// A store under test plus direct access to its storage.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual Store& store() = 0;
  // Adds unsigned records as the original's generator does: {id, msg, sign: "", key: ""} with no
  // shard (or one other tools might write).
  void insert_foreign_unsigned(const std::vector<UnsignedRecord>& records, RawShard shard = {}) {
    insert_raw_unsigned(records, shard);
  }
  // Writes a signed copy straight into signedrecords, leaving records untouched: the state a
  // MongoDB move leaves when it crashes between its insert and its delete.
  virtual void insert_raw_signed(const SignedRecord& record) = 0;
  // Writes an unsigned record with shard `shard` whose msg is not a string (a BLOB in SQLite, an
  // int32 in MongoDB), as another tool might.
  virtual void insert_raw_non_string_msg(const std::string& id, std::uint32_t shard) = 0;
  // Deletes records by id from `table` ("records" or "signedrecords"), as another tool would.
  virtual void delete_raw(const char* table, const std::vector<std::string>& ids) = 0;
  // Both tables counted exactly (count(*), countDocuments), behind the store's back.
  virtual Counts exact_counts() = 0;
  // The fields (columns) of the signed record `id` that hold a value, not NULL or absent, as
  // another tool reading signedrecords sees them (MongoDB's _id left out).
  virtual std::set<std::string> stored_signed_fields(const std::string& id) = 0;

 protected:
  virtual void insert_raw_unsigned(const std::vector<UnsignedRecord>& records, RawShard shard) = 0;
};

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};

class SqliteBackend final : public Backend {
 public:
  SqliteBackend() : store_(dir_ / "store.db") {}

  Store& store() override { return store_; }

  void insert_raw_unsigned(const std::vector<UnsignedRecord>& records, RawShard shard) override {
    // SQLite has no "missing" column value; a record without a shard is NULL either way.
    if (shard.kind == RawShard::kDouble) {
      execute_each("INSERT INTO records (id, msg, shard, sign, key) VALUES (?1, ?2, ?3, '', '')",
                   records, shard.value);
    } else if (shard.kind == RawShard::kText) {
      execute_each("INSERT INTO records (id, msg, shard, sign, key) VALUES (?1, ?2, 'x', '', '')",
                   records, std::nullopt);
    } else {
      execute_each("INSERT INTO records (id, msg, sign, key) VALUES (?1, ?2, '', '')", records,
                   std::nullopt);
    }
  }

  void insert_raw_non_string_msg(const std::string& id, std::uint32_t shard) override {
    auto db = open();
    auto stmt = prepare(db.get(), "INSERT INTO records (id, msg, shard) VALUES (?1, x'00ff', ?2)");
    sqlite3_bind_text(stmt.get(), 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt.get(), 2, shard);
    ASSERT_EQ(sqlite3_step(stmt.get()), SQLITE_DONE) << sqlite3_errmsg(db.get());
  }

  void delete_raw(const char* table, const std::vector<std::string>& ids) override {
    auto db = open();
    auto stmt = prepare(db.get(), (std::string("DELETE FROM ") + table + " WHERE id = ?1").c_str());
    for (const std::string& id : ids) {
      sqlite3_bind_text(stmt.get(), 1, id.c_str(), -1, SQLITE_TRANSIENT);
      ASSERT_EQ(sqlite3_step(stmt.get()), SQLITE_DONE) << sqlite3_errmsg(db.get());
      sqlite3_reset(stmt.get());
    }
  }

  Counts exact_counts() override {
    auto db = open();
    auto stmt = prepare(
        db.get(), "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM signedrecords)");
    EXPECT_EQ(sqlite3_step(stmt.get()), SQLITE_ROW) << sqlite3_errmsg(db.get());
    return {static_cast<std::uint64_t>(sqlite3_column_int64(stmt.get(), 0)),
            static_cast<std::uint64_t>(sqlite3_column_int64(stmt.get(), 1))};
  }

  std::set<std::string> stored_signed_fields(const std::string& id) override {
    auto db = open();
    auto stmt = prepare(db.get(), "SELECT * FROM signedrecords WHERE id = ?1");
    sqlite3_bind_text(stmt.get(), 1, id.c_str(), -1, SQLITE_TRANSIENT);
    std::set<std::string> fields;
    if (sqlite3_step(stmt.get()) != SQLITE_ROW) return fields;
    for (int i = 0; i < sqlite3_column_count(stmt.get()); ++i) {
      if (sqlite3_column_type(stmt.get(), i) != SQLITE_NULL) {
        fields.insert(sqlite3_column_name(stmt.get(), i));
      }
    }
    return fields;
  }

  void insert_raw_signed(const SignedRecord& r) override {
    auto db = open();
    auto stmt = prepare(db.get(),
                        "INSERT INTO signedrecords (id, msg, salt, sign, key) "
                        "VALUES (?1, ?2, ?3, ?4, ?5)");
    int column = 1;
    for (const std::string* field : {&r.id, &r.msg, &r.salt, &r.sign, &r.key}) {
      sqlite3_bind_text(stmt.get(), column++, field->c_str(), -1, SQLITE_TRANSIENT);
    }
    ASSERT_EQ(sqlite3_step(stmt.get()), SQLITE_DONE) << sqlite3_errmsg(db.get());
  }

 private:
  std::unique_ptr<sqlite3, SqliteCloser> open() const {
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open((dir_ / "store.db").c_str(), &raw), SQLITE_OK);
    sqlite3_busy_timeout(raw, 5000);
    return std::unique_ptr<sqlite3, SqliteCloser>(raw);
  }
  static std::unique_ptr<sqlite3_stmt, StatementFinalizer> prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* raw = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &raw, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    return std::unique_ptr<sqlite3_stmt, StatementFinalizer>(raw);
  }
  void execute_each(const char* sql, const std::vector<UnsignedRecord>& records,
                    std::optional<double> shard) const {
    auto db = open();
    ASSERT_EQ(sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr), SQLITE_OK);
    auto stmt = prepare(db.get(), sql);
    for (const UnsignedRecord& r : records) {
      sqlite3_bind_text(stmt.get(), 1, r.id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(stmt.get(), 2, r.msg.c_str(), -1, SQLITE_TRANSIENT);
      if (shard) sqlite3_bind_double(stmt.get(), 3, *shard);
      ASSERT_EQ(sqlite3_step(stmt.get()), SQLITE_DONE) << sqlite3_errmsg(db.get());
      sqlite3_reset(stmt.get());
    }
    ASSERT_EQ(sqlite3_exec(db.get(), "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  }

  testing::TempDir dir_;
  SqliteStore store_;
};

// An owned bson_t for the raw client.
class Doc {
 public:
  Doc() { bson_init(&doc_); }
  ~Doc() { bson_destroy(&doc_); }
  Doc(const Doc&) = delete;
  Doc& operator=(const Doc&) = delete;
  bson_t* get() { return &doc_; }
  Doc& utf8(const char* key, const std::string& value) {
    bson_append_utf8(&doc_, key, -1, value.c_str(), static_cast<int>(value.size()));
    return *this;
  }

 private:
  bson_t doc_;
};

struct MongoClientDeleter {
  void operator()(mongoc_client_t* client) const { mongoc_client_destroy(client); }
};
struct MongoUriDeleter {
  void operator()(mongoc_uri_t* uri) const { mongoc_uri_destroy(uri); }
};
struct MongoCollectionDeleter {
  void operator()(mongoc_collection_t* c) const { mongoc_collection_destroy(c); }
};
struct MongoCursorDeleter {
  void operator()(mongoc_cursor_t* c) const { mongoc_cursor_destroy(c); }
};
struct MongoBulkDeleter {
  void operator()(mongoc_bulk_operation_t* b) const { mongoc_bulk_operation_destroy(b); }
};
using CollectionPtr = std::unique_ptr<mongoc_collection_t, MongoCollectionDeleter>;

// A plain single-threaded libmongoc client, playing "another tool" that writes the database.
class RawMongo {
 public:
  explicit RawMongo(const std::string& url) {
    mongoc_init();  // idempotent
    bson_error_t error;
    std::unique_ptr<mongoc_uri_t, MongoUriDeleter> uri(
        mongoc_uri_new_with_error(url.c_str(), &error));
    if (!uri) throw std::runtime_error(std::string("bad SIGNER_TEST_MONGO_URL: ") + error.message);
    mongoc_uri_set_option_as_int32(uri.get(), MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    client_.reset(mongoc_client_new_from_uri_with_error(uri.get(), &error));
    if (!client_) throw std::runtime_error(std::string("mongo client: ") + error.message);
    mongoc_client_set_error_api(client_.get(), MONGOC_ERROR_API_VERSION_2);
  }

  void drop_database() {
    Doc command;
    bson_append_int32(command.get(), "dropDatabase", -1, 1);
    bson_error_t error;
    if (!mongoc_client_command_simple(client_.get(), "msg-signer", command.get(), nullptr, nullptr,
                                      &error)) {
      throw std::runtime_error(std::string("dropDatabase: ") + error.message);
    }
  }

  CollectionPtr collection(const char* name) {
    return CollectionPtr(mongoc_client_get_collection(client_.get(), "msg-signer", name));
  }

  // Inserts one document per element of `items`, each filled by `fill`, in one bulk write.
  template <typename Item, typename Fill>
  void insert(const char* collection_name, const std::vector<Item>& items, Fill fill) {
    if (items.empty()) return;
    const CollectionPtr c = collection(collection_name);
    std::unique_ptr<mongoc_bulk_operation_t, MongoBulkDeleter> bulk(
        mongoc_collection_create_bulk_operation_with_opts(c.get(), nullptr));
    for (const Item& item : items) {
      Doc doc;
      fill(doc, item);
      bson_error_t error;
      ASSERT_TRUE(mongoc_bulk_operation_insert_with_opts(bulk.get(), doc.get(), nullptr, &error))
          << error.message;
    }
    Doc reply;
    bson_error_t error;
    ASSERT_NE(mongoc_bulk_operation_execute(bulk.get(), reply.get(), &error), 0u) << error.message;
  }

  // Every document of a collection, each as field -> value: strings as they are, int64 as
  // "int64:N", null as "null", anything else as "type:T".
  std::vector<std::map<std::string, std::string>> documents(const char* name) {
    std::vector<std::map<std::string, std::string>> out;
    const CollectionPtr c = collection(name);
    Doc everything;
    std::unique_ptr<mongoc_cursor_t, MongoCursorDeleter> cursor(
        mongoc_collection_find_with_opts(c.get(), everything.get(), nullptr, nullptr));
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor.get(), &doc)) {
      std::map<std::string, std::string>& fields = out.emplace_back();
      bson_iter_t it;
      if (!bson_iter_init(&it, doc)) continue;
      while (bson_iter_next(&it)) {
        std::string& value = fields[bson_iter_key(&it)];
        switch (bson_iter_type(&it)) {
          case BSON_TYPE_UTF8: value = bson_iter_utf8(&it, nullptr); break;
          case BSON_TYPE_INT64: value = "int64:" + std::to_string(bson_iter_int64(&it)); break;
          case BSON_TYPE_NULL: value = "null"; break;
          default: value = "type:" + std::to_string(static_cast<int>(bson_iter_type(&it)));
        }
      }
    }
    bson_error_t error;
    EXPECT_FALSE(mongoc_cursor_error(cursor.get(), &error)) << error.message;
    return out;
  }

  // Deletes the documents of `name` whose id is one of `ids`.
  void delete_ids(const char* name, const std::vector<std::string>& ids) {
    const CollectionPtr c = collection(name);
    for (const std::string& id : ids) {
      Doc filter;
      filter.utf8("id", id);
      bson_error_t error;
      ASSERT_TRUE(mongoc_collection_delete_one(c.get(), filter.get(), nullptr, nullptr, &error))
          << error.message;
    }
  }

  std::uint64_t count_documents(const char* name) {
    const CollectionPtr c = collection(name);
    Doc everything;
    bson_error_t error;
    const std::int64_t n = mongoc_collection_count_documents(c.get(), everything.get(), nullptr,
                                                             nullptr, nullptr, &error);
    EXPECT_GE(n, 0) << error.message;
    return static_cast<std::uint64_t>(n);
  }

  // name -> (key fields in order, unique)
  std::map<std::string, std::pair<std::vector<std::string>, bool>> indexes(const char* name) {
    std::map<std::string, std::pair<std::vector<std::string>, bool>> out;
    const CollectionPtr c = collection(name);
    std::unique_ptr<mongoc_cursor_t, MongoCursorDeleter> cursor(
        mongoc_collection_find_indexes_with_opts(c.get(), nullptr));
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor.get(), &doc)) {
      bson_iter_t it;
      std::string index_name;
      std::vector<std::string> keys;
      bool unique = false;
      if (bson_iter_init_find(&it, doc, "name")) index_name = bson_iter_utf8(&it, nullptr);
      if (bson_iter_init_find(&it, doc, "unique")) unique = bson_iter_as_bool(&it);
      bson_iter_t key;
      if (bson_iter_init_find(&it, doc, "key") && bson_iter_recurse(&it, &key)) {
        while (bson_iter_next(&key)) keys.emplace_back(bson_iter_key(&key));
      }
      out[index_name] = {keys, unique};
    }
    bson_error_t error;
    EXPECT_FALSE(mongoc_cursor_error(cursor.get(), &error)) << error.message;
    return out;
  }

 private:
  std::unique_ptr<mongoc_client_t, MongoClientDeleter> client_;
};

class MongoBackend final : public Backend {
 public:
  explicit MongoBackend(const std::string& url) : raw_(url) {
    raw_.drop_database();
    // Through the factory, so the "mongodb://" wiring is under test too.
    store_ = open_store({.url = url, .timeout_ms = 5000});
  }

  Store& store() override { return *store_; }
  RawMongo& raw() { return raw_; }

  void insert_raw_unsigned(const std::vector<UnsignedRecord>& records, RawShard shard) override {
    raw_.insert("records", records, [&](Doc& doc, const UnsignedRecord& r) {
      doc.utf8("id", r.id).utf8("msg", r.msg).utf8("sign", "").utf8("key", "");
      if (shard.kind == RawShard::kNull) bson_append_null(doc.get(), "shard", -1);
      if (shard.kind == RawShard::kDouble) bson_append_double(doc.get(), "shard", -1, shard.value);
      if (shard.kind == RawShard::kText) doc.utf8("shard", "x");
    });
  }

  void insert_raw_non_string_msg(const std::string& id, std::uint32_t shard) override {
    raw_.insert("records", std::vector<std::string>{id}, [&](Doc& doc, const std::string& i) {
      doc.utf8("id", i);
      bson_append_int32(doc.get(), "msg", -1, 42);
      bson_append_int64(doc.get(), "shard", -1, shard);
    });
  }

  void delete_raw(const char* table, const std::vector<std::string>& ids) override {
    raw_.delete_ids(table, ids);
  }

  Counts exact_counts() override {
    return {raw_.count_documents("records"), raw_.count_documents("signedrecords")};
  }

  std::set<std::string> stored_signed_fields(const std::string& id) override {
    std::set<std::string> fields;
    for (const auto& doc : raw_.documents("signedrecords")) {
      if (doc.count("id") == 0 || doc.at("id") != id) continue;
      for (const auto& [name, value] : doc) {
        if (name != "_id" && value != "null") fields.insert(name);
      }
    }
    return fields;
  }

  void insert_raw_signed(const SignedRecord& record) override {
    raw_.insert("signedrecords", std::vector<SignedRecord>{record},
                [](Doc& doc, const SignedRecord& r) {
                  doc.utf8("id", r.id)
                      .utf8("msg", r.msg)
                      .utf8("salt", r.salt)
                      .utf8("sign", r.sign)
                      .utf8("key", r.key);
                });
  }

 private:
  RawMongo raw_;
  std::unique_ptr<Store> store_;
};

// PostgreSQL's columns are typed: a shard that is not a number, and a msg that is not a string,
// can only be NULL there.
class PgBackend final : public Backend {
 public:
  explicit PgBackend(const std::string& url) : raw_(url) {
    raw_.drop_store_tables();
    store_ = open_store({.url = url, .timeout_ms = 5000});
  }

  Store& store() override { return *store_; }
  testing::RawPg& raw() { return raw_; }

  void insert_raw_unsigned(const std::vector<UnsignedRecord>& records, RawShard shard) override {
    std::optional<std::string> shard_text;
    if (shard.kind == RawShard::kDouble) shard_text = std::to_string(shard.value);
    raw_.query("BEGIN");
    for (const UnsignedRecord& r : records) {
      raw_.query("INSERT INTO records (id, msg, shard) VALUES ($1, $2, $3::double precision)",
                 {r.id, r.msg, shard_text});
    }
    raw_.query("COMMIT");
  }

  void insert_raw_non_string_msg(const std::string& id, std::uint32_t shard) override {
    raw_.query("INSERT INTO records (id, msg, shard) VALUES ($1, NULL, $2)",
               {id, std::to_string(shard)});
  }

  void delete_raw(const char* table, const std::vector<std::string>& ids) override {
    for (const std::string& id : ids) {
      raw_.query(std::string("DELETE FROM ") + table + " WHERE id = $1", {id});
    }
  }

  Counts exact_counts() override {
    const auto rows =
        raw_.query("SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM signedrecords)");
    if (rows.size() != 1) return {};
    return {std::stoull(rows[0][0]), std::stoull(rows[0][1])};
  }

  std::set<std::string> stored_signed_fields(const std::string& id) override {
    std::set<std::string> fields;
    for (const auto& row :
         raw_.query("SELECT j.key FROM signedrecords s, json_each(row_to_json(s)) AS j "
                    "WHERE s.id = $1 AND json_typeof(j.value) <> 'null'",
                    {id})) {
      fields.insert(row[0]);
    }
    return fields;
  }

  void insert_raw_signed(const SignedRecord& r) override {
    raw_.query("INSERT INTO signedrecords (id, msg, salt, sign, key) VALUES ($1, $2, $3, $4, $5)",
               {r.id, r.msg, r.salt, r.sign, r.key});
  }

 private:
  testing::RawPg raw_;
  std::unique_ptr<Store> store_;
};

// ---- the contract
// --------------------------------------------------------------------------------

std::vector<std::string> backends_under_test() {
  std::vector<std::string> names{"Sqlite"};
  if (!mongo_url().empty() || mongo_required()) names.emplace_back("Mongo");
  if (!testing::pg_url().empty() || testing::pg_required()) names.emplace_back("Postgres");
  return names;
}

class StoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "Sqlite") {
      backend_ = std::make_unique<SqliteBackend>();
      return;
    }
    if (GetParam() == "Postgres") {
      if (testing::pg_url().empty()) FAIL() << testing::kPgMissing;
      backend_ = std::make_unique<PgBackend>(testing::pg_url());
      return;
    }
    if (mongo_url().empty()) FAIL() << kMongoMissing;
    backend_ = std::make_unique<MongoBackend>(mongo_url());
  }

  Store& store() { return backend_->store(); }
  Backend& backend() { return *backend_; }

  // Reads `range` to its end, `limit` records at a time, with one cursor.
  std::vector<UnsignedRecord> read_all(const ShardRange& range, std::size_t limit) {
    ReadCursor cursor;
    std::vector<UnsignedRecord> all;
    // Until the store says the range is exhausted, as the batch worker does.
    for (int pages = 0;; ++pages) {
      std::vector<UnsignedRecord> page = store().read_unsigned(range, cursor, limit);
      EXPECT_LE(page.size(), limit);
      for (UnsignedRecord& r : page) all.push_back(std::move(r));
      if (cursor.exhausted) break;
      if (cursor.visited == 0) {
        ADD_FAILURE() << "a read neither went through a record nor reached the end";
        break;
      }
      if (pages > 2000) {
        ADD_FAILURE() << "read_unsigned never ends";
        break;
      }
    }
    return all;
  }

  static std::vector<std::string> ids_of(const std::vector<UnsignedRecord>& records) {
    std::vector<std::string> ids;
    for (const UnsignedRecord& r : records) ids.push_back(r.id);
    return ids;
  }

  static ShardRange everything() { return records::shard_range_for_batch(0, 1); }

  std::unique_ptr<Backend> backend_;
};

TEST_P(StoreContract, NewStoreIsEmptyAndAnswers) {
  EXPECT_EQ(store().count(), counts(0, 0));
  EXPECT_NO_THROW(store().ping());
  const std::string prefix = GetParam() == "Mongo"      ? "mongodb"
                             : GetParam() == "Postgres" ? "postgresql://"
                                                        : "sqlite:";
  EXPECT_EQ(store().describe().rfind(prefix, 0), 0u) << store().describe();
  EXPECT_TRUE(read_all(everything(), 10).empty());
  EXPECT_EQ(store().find_signed("nothing"), std::nullopt);
}

TEST_P(StoreContract, EmptyInputsChangeNothing) {
  EXPECT_EQ(store().ingest({}).accepted, 0u);
  const MoveResult moved = store().move_to_signed({});
  EXPECT_EQ(moved.inserted + moved.already_signed, 0u);
  store().ingest(random_records(3, 1));
  ReadCursor cursor;
  EXPECT_TRUE(store().read_unsigned(everything(), cursor, 0).empty());
  EXPECT_EQ(store().count(), counts(3, 0));
}

TEST_P(StoreContract, IngestAcceptsNewRecordsAndCountsDuplicates) {
  const auto records = random_records(3, 2);
  IngestResult r = store().ingest(records);
  EXPECT_EQ(r.accepted, 3u);
  EXPECT_EQ(r.duplicates, 0u);

  // An id already unsigned, a new id, and that new id again within the same call.
  const UnsignedRecord again{records[0].id, "a different message"};
  const UnsignedRecord fresh{id_in_shard(7, 7), "fresh"};
  r = store().ingest(std::vector<UnsignedRecord>{again, fresh, fresh});
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_EQ(r.duplicates, 1u);  // `fresh` the second time
  EXPECT_EQ(r.conflicts, 1u);   // `again`: same id, another msg
  EXPECT_EQ(store().count(), counts(4, 0));

  // The first message stays.
  for (const UnsignedRecord& u : read_all(everything(), 100)) {
    if (u.id == records[0].id) {
      EXPECT_EQ(u.msg, records[0].msg);
    }
  }
}

TEST_P(StoreContract, IngestTreatsAnAlreadySignedIdAsDuplicate) {
  const auto records = random_records(2, 3);
  store().ingest(records);
  store().move_to_signed(signed_versions({records[0]}));

  const IngestResult r = store().ingest(records);
  EXPECT_EQ(r.accepted, 0u);
  EXPECT_EQ(r.duplicates, 2u);  // one signed, one still unsigned
  EXPECT_EQ(store().count(), counts(1, 1));
  EXPECT_EQ(ids_of(read_all(everything(), 10)), std::vector<std::string>{records[1].id});
}

std::map<std::string, std::string> msgs_by_id(const std::vector<UnsignedRecord>& records) {
  std::map<std::string, std::string> out;
  for (const UnsignedRecord& r : records) out[r.id] = r.msg;
  return out;
}

TEST_P(StoreContract, IngestReportsASameIdWithAnotherMsgAsAConflictAndKeepsTheStoredRecord) {
  const auto records = random_records(3, 31);
  store().ingest(records);
  store().move_to_signed(signed_versions({records[0]}));  // one signed, two unsigned

  const std::vector<UnsignedRecord> input{
      {records[0].id, "other msg for a signed id"},     // conflict with the signed record
      {records[1].id, records[1].msg},                  // true duplicate
      {records[2].id, "other msg for an unsigned id"},  // conflict with the unsigned record
  };
  const IngestResult r = store().ingest(input);
  EXPECT_EQ(r.accepted, 0u);
  EXPECT_EQ(r.duplicates, 1u);
  EXPECT_EQ(r.conflicts, 2u);
  ASSERT_EQ(r.conflict_list.size(), 2u);
  EXPECT_EQ(r.conflict_list[0].position, 0u);
  EXPECT_EQ(r.conflict_list[0].id, records[0].id);
  EXPECT_FALSE(r.conflict_list[0].within_call);
  EXPECT_EQ(r.conflict_list[1].position, 2u);
  EXPECT_EQ(r.conflict_list[1].id, records[2].id);

  EXPECT_EQ(store().count(), counts(2, 1));
  EXPECT_EQ(store().find_signed(records[0].id)->msg, records[0].msg);
  const auto unsigned_msgs = msgs_by_id(read_all(everything(), 10));
  EXPECT_EQ(unsigned_msgs.at(records[1].id), records[1].msg);
  EXPECT_EQ(unsigned_msgs.at(records[2].id), records[2].msg);
}

TEST_P(StoreContract, IngestKeepsTheFirstOccurrenceOfAnIdWithinOneCall) {
  // Several ids, each sent three times: first, a conflicting msg, then the first msg again.
  std::vector<UnsignedRecord> input;
  const auto records = random_records(20, 32);
  for (const UnsignedRecord& r : records) {
    input.push_back(r);
    input.push_back({r.id, "second msg of " + r.id});
    input.push_back(r);
  }
  const IngestResult result = store().ingest(input);
  EXPECT_EQ(result.accepted, 20u);
  EXPECT_EQ(result.duplicates, 20u);
  EXPECT_EQ(result.conflicts, 20u);
  ASSERT_EQ(result.conflict_list.size(), 20u);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(result.conflict_list[i].position, 3 * i + 1);
    EXPECT_TRUE(result.conflict_list[i].within_call);
  }
  EXPECT_EQ(msgs_by_id(read_all(everything(), 100)), msgs_by_id(records));
}

TEST_P(StoreContract, IngestListsAtMostAHundredConflictsAndCountsThemAll) {
  const auto records = random_records(150, 33);
  store().ingest(records);
  std::vector<UnsignedRecord> changed;
  for (const UnsignedRecord& r : records) changed.push_back({r.id, r.msg + "!"});
  const IngestResult result = store().ingest(changed);
  EXPECT_EQ(result.conflicts, 150u);
  EXPECT_EQ(result.conflict_list.size(), kMaxListedConflicts);
  EXPECT_EQ(result.conflict_list.back().position, kMaxListedConflicts - 1);
}

TEST_P(StoreContract, ChunkedReadReturnsEachRecordOfTheRangeOnceInShardIdOrder) {
  const ShardRange range = records::shard_range_for_batch(1, 4);  // [0x40000000, 0x80000000)
  ASSERT_EQ(range.begin, 0x40000000u);
  ASSERT_EQ(range.end, 0x80000000u);
  auto records = random_records(300, 4);
  // Edges: the first and last shard of the range and its neighbours outside, and several ids
  // in one shard so that pages end in the middle of a shard.
  for (std::uint64_t i = 0; i < 5; ++i) {
    for (std::uint32_t shard : {0x3fffffffu, 0x40000000u, 0x40000001u, 0x7fffffffu, 0x80000000u}) {
      const std::string id = id_in_shard(shard, 1000 + i);
      records.push_back({id, "edge " + id});
    }
  }
  // Ids that are not hex get their shard from Keccak; they follow the same rules.
  for (int i = 0; i < 20; ++i) {
    const std::string id = "record-" + std::to_string(i);
    records.push_back({id, "named " + id});
  }
  ASSERT_EQ(store().ingest(records).accepted, records.size());

  const std::vector<std::string> expected = expected_order(records, range);
  ASSERT_GT(expected.size(), 60u);
  for (std::size_t limit : {std::size_t{3}, std::size_t{7}, std::size_t{1000}}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    const std::vector<UnsignedRecord> read = read_all(range, limit);
    // Same sequence: nothing twice, nothing missing, nothing outside, (shard, id) order.
    EXPECT_EQ(ids_of(read), expected);
    for (const UnsignedRecord& r : read) EXPECT_EQ(r.msg.substr(r.msg.size() - r.id.size()), r.id);
  }

  // The four batches of 4 partition everything.
  std::size_t total = 0;
  for (std::uint64_t b = 0; b < 4; ++b) {
    const auto part = read_all(records::shard_range_for_batch(b, 4), 50);
    EXPECT_EQ(ids_of(part), expected_order(records, records::shard_range_for_batch(b, 4)));
    total += part.size();
  }
  EXPECT_EQ(total, records.size());
}

// Every shape of id in the same shards: lowercase hex, uppercase and mixed-case hex with the same
// 8 digits, ids whose shard comes from Keccak placed in those very shards, ids that sort between
// hex digits ("0000000:" lies between "00000009" and "0000000a"), ids of exactly 8 digits and
// the edges of the shard space. Read in pages of every size, by one range and by batches, each
// comes once, in (shard, id) order, whichever id a page ends on.
TEST_P(StoreContract, ChunkedReadOfEveryShapeOfIdInOneShardIsExactAndOrdered) {
  std::vector<UnsignedRecord> records;
  const auto add = [&](const std::string& id) { records.push_back({id, "m " + id}); };
  std::vector<std::uint32_t> shards;
  // Ids not in hex, and the shards Keccak gives them: hex ids go into those same shards.
  for (int i = 0; i < 12; ++i) {
    const std::string named = "named-" + std::to_string(i);
    add(named);
    shards.push_back(records::shard_of(named));
  }
  for (std::uint32_t shard : {0x00000000u, 0x00000009u, 0x0000000au, 0x7fffffffu, 0xffffffffu}) {
    shards.push_back(shard);
  }
  for (std::uint32_t shard : shards) {
    char lower[9];
    char upper[9];
    std::snprintf(lower, sizeof lower, "%08x", shard);
    std::snprintf(upper, sizeof upper, "%08X", shard);
    std::string mixed = lower;
    for (std::size_t i = 0; i < mixed.size(); i += 2) mixed[i] = upper[i];
    for (const std::string& prefix : {std::string(lower), std::string(upper), mixed}) {
      add(prefix + "-0001");
      add(prefix + "-0002");
      add(prefix + "Z");
    }
    add(lower);  // exactly 8 digits
  }
  add("0000000:");
  add("0000000:x");
  add("g0000000");
  add("ffffffff~");
  // A set removes the ids two shapes share (an all-digit shard's mixed case is its lowercase).
  std::sort(records.begin(), records.end(),
            [](const UnsignedRecord& a, const UnsignedRecord& b) { return a.id < b.id; });
  records.erase(
      std::unique(records.begin(), records.end(),
                  [](const UnsignedRecord& a, const UnsignedRecord& b) { return a.id == b.id; }),
      records.end());
  ASSERT_EQ(store().ingest(records).accepted, records.size());

  const std::vector<std::string> expected = expected_order(records, everything());
  ASSERT_EQ(expected.size(), records.size());
  for (std::size_t limit = 1; limit <= 9; ++limit) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    EXPECT_EQ(ids_of(read_all(everything(), limit)), expected);
  }
  for (std::uint64_t batches : {2u, 3u, 7u, 16u}) {
    SCOPED_TRACE("batches " + std::to_string(batches));
    std::size_t total = 0;
    for (std::uint64_t b = 0; b < batches; ++b) {
      const ShardRange range = records::shard_range_for_batch(b, batches);
      const auto part = read_all(range, 4);
      EXPECT_EQ(ids_of(part), expected_order(records, range));
      total += part.size();
    }
    EXPECT_EQ(total, records.size());
  }
  // Moved page by page while the cursor goes on, as a batch does: every record once.
  ReadCursor cursor;
  std::size_t moved = 0;
  for (;;) {
    const auto page = store().read_unsigned(everything(), cursor, 5);
    if (page.empty()) break;
    moved += store().move_to_signed(signed_versions(page)).inserted;
  }
  EXPECT_EQ(moved, records.size());
  EXPECT_EQ(store().count(), counts(0, records.size()));
}

TEST_P(StoreContract, ChunkedReadCoversTheWholeShardSpace) {
  auto records = random_records(100, 5);
  records.push_back({id_in_shard(0, 1), "first shard"});
  records.push_back({id_in_shard(0xffffffffu, 1), "last shard"});
  store().ingest(records);
  EXPECT_EQ(ids_of(read_all(everything(), 9)), expected_order(records, everything()));
}

TEST_P(StoreContract, CursorIsNotDisturbedByMovesBehindIt) {
  // The batch worker reads the next chunk before the previous one is moved, and moves chunks
  // while its cursor is open.
  const auto records = random_records(60, 6);
  store().ingest(records);
  ReadCursor cursor;
  std::vector<std::string> seen;
  for (;;) {
    const auto page = store().read_unsigned(everything(), cursor, 8);
    if (page.empty()) break;
    std::vector<SignedRecord> moved;
    for (const UnsignedRecord& r : page) {
      seen.push_back(r.id);
      moved.push_back(signed_version(r));
    }
    EXPECT_EQ(store().move_to_signed(moved).inserted, page.size());
  }
  EXPECT_EQ(seen, expected_order(records, everything()));
  EXPECT_EQ(store().count(), counts(0, 60));
}

TEST_P(StoreContract, MoveTakesRecordsOutOfRecordsAndIntoSignedRecords) {
  const auto records = random_records(10, 7);
  store().ingest(records);
  const MoveResult moved = store().move_to_signed(signed_versions(records));
  EXPECT_EQ(moved.inserted, 10u);
  EXPECT_EQ(moved.already_signed, 0u);
  EXPECT_EQ(store().count(), counts(0, 10));
  EXPECT_TRUE(read_all(everything(), 100).empty());
  for (const UnsignedRecord& r : records) {
    const auto found = store().find_signed(r.id);
    ASSERT_TRUE(found.has_value()) << r.id;
    const SignedRecord want = signed_version(r);
    EXPECT_EQ(found->id, want.id);
    EXPECT_EQ(found->msg, want.msg);
    EXPECT_EQ(found->salt, want.salt);
    EXPECT_EQ(found->sign, want.sign);
    EXPECT_EQ(found->key, want.key);
  }
}

TEST_P(StoreContract, MovingTheSameRecordsAgainCountsThemAlreadySigned) {
  const auto records = random_records(10, 8);
  store().ingest(records);
  ASSERT_EQ(store().move_to_signed(signed_versions(records, "first")).inserted, 10u);

  const MoveResult again = store().move_to_signed(signed_versions(records, "second"));
  EXPECT_EQ(again.inserted, 0u);
  EXPECT_EQ(again.already_signed, 10u);
  EXPECT_EQ(store().count(), counts(0, 10));
  // Signed once: the first signature stays.
  EXPECT_EQ(store().find_signed(records[3].id)->sign, signed_version(records[3], "first").sign);

  // A mix: one already signed, one new.
  const UnsignedRecord fresh{id_in_shard(9, 9), "fresh"};
  store().ingest(std::vector<UnsignedRecord>{fresh});
  const MoveResult mixed = store().move_to_signed(
      std::vector<SignedRecord>{signed_version(records[0]), signed_version(fresh)});
  EXPECT_EQ(mixed.inserted, 1u);
  EXPECT_EQ(mixed.already_signed, 1u);
  EXPECT_EQ(store().count(), counts(0, 11));
}

TEST_P(StoreContract, MoveFinishesARecordLeftInBothCollectionsByACrash) {
  const auto records = random_records(3, 9);
  store().ingest(records);
  // records[0] was inserted into signedrecords, then the process died before the delete.
  backend().insert_raw_signed(signed_version(records[0], "before-crash"));
  ASSERT_EQ(store().count(), counts(3, 1));

  const MoveResult moved = store().move_to_signed(signed_versions(records, "rerun"));
  EXPECT_EQ(moved.already_signed, 1u);
  EXPECT_EQ(moved.inserted, 2u);
  EXPECT_EQ(store().count(), counts(0, 3));
  EXPECT_TRUE(read_all(everything(), 10).empty());
  EXPECT_EQ(store().find_signed(records[0].id)->sign,
            signed_version(records[0], "before-crash").sign);
}

// 250 records: SQLite moves whole groups of 100 with multi-row statements and the rest row by row;
// crash leftovers and an id given twice fall in both parts.
TEST_P(StoreContract, MoveOfALargeChunkCountsEveryRecordOnceWhereverItFalls) {
  const auto records = random_records(250, 11);
  store().ingest(records);
  for (std::size_t i : {3u, 99u, 100u, 180u, 249u}) {
    backend().insert_raw_signed(signed_version(records[i], "before-crash"));
  }
  std::vector<SignedRecord> chunk = signed_versions(records, "rerun");
  for (SignedRecord& r : chunk) r.job_id = "j-0123456789ab-0123456789abcdef";
  chunk.insert(chunk.begin() + 50, chunk[10]);    // id given twice in the first group
  chunk.insert(chunk.begin() + 230, chunk[205]);  // and in the row-by-row rest

  const MoveResult moved = store().move_to_signed(chunk);
  EXPECT_EQ(moved.inserted, 245u);
  EXPECT_EQ(moved.already_signed, 7u);
  EXPECT_EQ(store().count(), counts(0, 250));
  EXPECT_TRUE(read_all(everything(), 1000).empty());
  for (std::size_t i : {0u, 3u, 10u, 99u, 100u, 101u, 180u, 205u, 248u, 249u}) {
    const auto found = store().find_signed(records[i].id);
    ASSERT_TRUE(found.has_value()) << i;
    const bool leftover = i == 3 || i == 99 || i == 100 || i == 180 || i == 249;
    EXPECT_EQ(found->sign, signed_version(records[i], leftover ? "before-crash" : "rerun").sign)
        << i;
    EXPECT_EQ(found->msg, records[i].msg) << i;
    if (!leftover) {
      EXPECT_EQ(found->job_id, "j-0123456789ab-0123456789abcdef") << i;
    }
  }
}

TEST_P(StoreContract, ConcurrentMovesOfTheSameRecordsSignEachExactlyOnce) {
  const auto records = random_records(200, 10);
  store().ingest(records);
  constexpr int kThreads = 4;
  std::vector<MoveResult> results(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const auto all = signed_versions(records, "thread" + std::to_string(t));
        for (std::size_t begin = 0; begin < all.size(); begin += 25) {
          const MoveResult r = store().move_to_signed(
              std::span(all).subspan(begin, std::min<std::size_t>(25, all.size() - begin)));
          results[static_cast<std::size_t>(t)].inserted += r.inserted;
          results[static_cast<std::size_t>(t)].already_signed += r.already_signed;
        }
      });
    }
  }
  std::uint64_t inserted = 0;
  std::uint64_t already = 0;
  for (const MoveResult& r : results) {
    inserted += r.inserted;
    already += r.already_signed;
  }
  EXPECT_EQ(inserted, 200u);
  EXPECT_EQ(already, 200u * (kThreads - 1));
  EXPECT_EQ(store().count(), counts(0, 200));
}

// Records another tool wrote without a shard. Uppercase ids: SQLite reads lowercase-hex ids by
// their primary key whatever their shard column holds (ForeignLowercaseIdsNeedNoShard below).
TEST_P(StoreContract, BackfillGivesForeignRecordsTheirShard) {
  const auto foreign = uppercase_records(40, 11);
  const auto foreign_null = uppercase_records(10, 12);
  const auto ours = random_records(5, 13);
  backend().insert_foreign_unsigned(foreign);
  backend().insert_foreign_unsigned(foreign_null, {RawShard::kNull});
  store().ingest(ours);
  EXPECT_EQ(store().count(), counts(55, 0));
  // Without a shard they belong to no range yet.
  EXPECT_EQ(read_all(everything(), 100).size(), 5u);

  EXPECT_EQ(store().backfill_shards(), 50u);
  EXPECT_EQ(store().backfill_shards(), 0u);

  std::vector<UnsignedRecord> all = foreign;
  all.insert(all.end(), foreign_null.begin(), foreign_null.end());
  all.insert(all.end(), ours.begin(), ours.end());
  EXPECT_EQ(ids_of(read_all(everything(), 7)), expected_order(all, everything()));
  EXPECT_EQ(ids_of(read_all(records::shard_range_for_batch(2, 3), 7)),
            expected_order(all, records::shard_range_for_batch(2, 3)));
}

TEST_P(StoreContract, BackfillWorksThroughMoreThanOnePage) {
  const auto foreign = uppercase_records(10050, 14);
  backend().insert_foreign_unsigned(foreign);
  EXPECT_EQ(store().backfill_shards(), 10050u);
  EXPECT_EQ(store().backfill_shards(), 0u);
  EXPECT_EQ(read_all(everything(), 5000).size(), 10050u);
}

TEST_P(StoreContract, BackfillRepairsShardsOutsideTheShardSpaceOrOfAnotherType) {
  const auto negative = uppercase_records(3, 41);
  const auto too_large = uppercase_records(3, 42);
  const auto text = uppercase_records(3, 43);
  backend().insert_foreign_unsigned(negative, {RawShard::kDouble, -1});
  backend().insert_foreign_unsigned(too_large, {RawShard::kDouble, 1099511627776.0});  // 2^40
  backend().insert_foreign_unsigned(text, {RawShard::kText});
  EXPECT_TRUE(read_all(everything(), 100).empty());  // no batch reads them yet
  EXPECT_EQ(store().backfill_shards(), 9u);
  std::vector<UnsignedRecord> all = negative;
  all.insert(all.end(), too_large.begin(), too_large.end());
  all.insert(all.end(), text.begin(), text.end());
  EXPECT_EQ(ids_of(read_all(everything(), 4)), expected_order(all, everything()));
  EXPECT_EQ(store().backfill_shards(), 0u);
}

TEST_P(StoreContract, ReadSkipsARecordWhoseMsgIsNotAStringAndReportsIt) {
  const std::vector<UnsignedRecord> good{{id_in_shard(10, 1), "a"}, {id_in_shard(10, 3), "c"}};
  store().ingest(good);
  const std::string bad = id_in_shard(10, 2);
  backend().insert_raw_non_string_msg(bad, 10);
  ReadCursor cursor;
  const auto page = store().read_unsigned(everything(), cursor, 10);
  EXPECT_EQ(ids_of(page), (std::vector<std::string>{good[0].id, good[1].id}));
  ASSERT_EQ(cursor.invalid.size(), 1u);
  EXPECT_EQ(cursor.invalid[0].id, bad);
  EXPECT_EQ(cursor.visited, 3u);
  EXPECT_EQ(store().count(), counts(3, 0));  // it stays
}

TEST_P(StoreContract, ChunkedReadStopsAtTheByteBudget) {
  std::vector<UnsignedRecord> big;
  for (std::uint64_t i = 0; i < 10; ++i) big.push_back({id_in_shard(5, i), std::string(1000, 'x')});
  store().ingest(big);
  const std::size_t each = big[0].id.size() + 1000;
  ReadCursor cursor;
  // The budget is met by the third record: the read stops there, far below its record limit.
  auto page = store().read_unsigned(everything(), cursor, 100, 2 * each + 1);
  EXPECT_EQ(page.size(), 3u);
  // A record larger than the whole budget still comes, alone.
  page = store().read_unsigned(everything(), cursor, 100, 10);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, big[3].id);
  // Read to the end with a budget, each record comes exactly once.
  ReadCursor again;
  std::vector<std::string> ids;
  for (;;) {
    auto chunk = store().read_unsigned(everything(), again, 100, 3 * each);
    if (chunk.empty()) break;
    EXPECT_LE(chunk.size(), 3u);
    for (auto& r : chunk) ids.push_back(r.id);
  }
  EXPECT_EQ(ids, ids_of(big));
}

TEST_P(StoreContract, OnlyTheStoreSaysWhenARangeIsExhausted) {
  const auto records = random_records(10, 30);
  store().ingest(records);
  ReadCursor cursor;
  // Exactly the limit: the store cannot know yet that nothing follows.
  auto page = store().read_unsigned(everything(), cursor, 10);
  EXPECT_EQ(page.size(), 10u);
  EXPECT_FALSE(cursor.exhausted);
  page = store().read_unsigned(everything(), cursor, 10);
  EXPECT_TRUE(page.empty());
  EXPECT_TRUE(cursor.exhausted);
  // Cut by the byte budget: not the end, however few records came back.
  ReadCursor budgeted;
  page = store().read_unsigned(everything(), budgeted, 100, 1);
  EXPECT_EQ(page.size(), 1u);
  EXPECT_FALSE(budgeted.exhausted);
  // Fewer than the limit, not cut: the end.
  ReadCursor whole;
  page = store().read_unsigned(everything(), whole, 100);
  EXPECT_EQ(page.size(), 10u);
  EXPECT_TRUE(whole.exhausted);
}

TEST_P(StoreContract, AReadCutAtTheBudgetByARecordItCouldNotReturnIsNotTheEnd) {
  // A valid record of 600 bytes, then one the read passes over (its msg is not a string: NULL on
  // PostgreSQL, whose server-side budget still counts its id), then 50 valid ones.
  store().ingest(std::vector<UnsignedRecord>{{id_in_shard(20, 1), std::string(600, 'a')}});
  backend().insert_raw_non_string_msg(id_in_shard(20, 2) + std::string(470, 'b'), 20);
  std::vector<UnsignedRecord> rest;
  for (std::uint64_t i = 3; i < 53; ++i) rest.push_back({id_in_shard(20, i), "m"});
  store().ingest(rest);
  ReadCursor cursor;
  std::size_t read = 0;
  std::size_t invalid = 0;
  for (int pages = 0; pages < 100 && !cursor.exhausted; ++pages) {
    read += store().read_unsigned(everything(), cursor, 1000, 1024).size();
    invalid += cursor.invalid.size();
  }
  EXPECT_TRUE(cursor.exhausted);
  EXPECT_EQ(read, 51u);
  EXPECT_EQ(invalid, 1u);
}

TEST_P(StoreContract, TheStartOfAJobClosesTheIngestEpoch) {
  const auto before = random_records(6, 31);
  store().ingest(before);
  const auto foreign = random_records(2, 32);
  backend().insert_foreign_unsigned(foreign);
  store().backfill_shards();
  store().move_to_signed(signed_versions({before[0]}));

  const JobStart start = store().start_job();
  EXPECT_EQ(start.counts, counts(7, 1));
  EXPECT_EQ(store().count_unsigned_through_epoch(start.epoch), 7u);
  // Ingested after the start: in a later epoch, so not counted as the start's.
  store().ingest(random_records(5, 33));
  EXPECT_EQ(store().count_unsigned_through_epoch(start.epoch), 7u);
  EXPECT_EQ(store().count().unsigned_records, 12u);
  // Signing records of the start takes them off; the next job's epoch holds everything.
  store().move_to_signed(signed_versions({before[1], before[2]}));
  EXPECT_EQ(store().count_unsigned_through_epoch(start.epoch), 5u);
  const JobStart next = store().start_job();
  EXPECT_GT(next.epoch, start.epoch);
  EXPECT_EQ(store().count_unsigned_through_epoch(next.epoch), 10u);
}

TEST_P(StoreContract, CountsTheSignedRecordsOfAJob) {
  const auto records = random_records(9, 34);
  store().ingest(records);
  std::vector<SignedRecord> moved = signed_versions(records);
  for (std::size_t i = 0; i < moved.size(); ++i) {
    moved[i].job_id = i < 4 ? "j-000000000001-0000000000000001" : "j-000000000002-0000000000000002";
  }
  store().move_to_signed(moved);
  EXPECT_EQ(store().count_signed_of_job("j-000000000001-0000000000000001"), 4u);
  EXPECT_EQ(store().count_signed_of_job("j-000000000002-0000000000000002"), 5u);
  EXPECT_EQ(store().count_signed_of_job("j-000000000003-0000000000000003"), 0u);
}

TEST_P(StoreContract, AFractionalShardIsRepairedAndItsRecordReadOnce) {
  // 12.5 as another tool may write it: a cursor holding whole shards would meet it again after
  // passing it (PostgreSQL's bigint column rounds it on the way in).
  const UnsignedRecord odd{uppercase_records(1, 16)[0].id, "fractional shard"};
  backend().insert_foreign_unsigned({odd}, {RawShard::kDouble, 12.5});
  std::vector<UnsignedRecord> others;
  for (std::uint64_t i = 0; i < 6; ++i) others.push_back({id_in_shard(12, 10 + i), "m"});
  for (std::uint64_t i = 0; i < 6; ++i) others.push_back({id_in_shard(13, 10 + i), "m"});
  store().ingest(others);
  store().backfill_shards();
  std::vector<std::string> expected = ids_of(others);
  expected.push_back(odd.id);
  std::sort(expected.begin(), expected.end());
  // Each once (PostgreSQL's rounded shard puts it elsewhere in the order), whichever record a
  // page ends on.
  for (const std::size_t limit : {1, 2, 3, 4, 5, 6, 7, 8}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    std::vector<std::string> read = ids_of(read_all(everything(), limit));
    std::sort(read.begin(), read.end());
    EXPECT_EQ(read, expected);
  }
}

TEST_P(StoreContract, ShardWrittenAsAnotherNumberTypeIsRead) {
  const UnsignedRecord r{id_in_shard(0x12345678u, 1), "written by another tool"};
  backend().insert_foreign_unsigned({r}, {RawShard::kDouble, double{0x12345678u}});
  EXPECT_EQ(ids_of(read_all(everything(), 10)), std::vector<std::string>{r.id});
  // SQLite and PostgreSQL store a whole double as an integer; MongoDB keeps the double, which
  // the backfill rewrites as an int64 (a double may not be whole: see the next test).
  EXPECT_EQ(store().backfill_shards(), GetParam() == "Mongo" ? 1u : 0u);
  EXPECT_EQ(ids_of(read_all(everything(), 10)), std::vector<std::string>{r.id});
}

TEST_P(StoreContract, RecordsOfTheOriginalGeneratorAreSignedLikeAnyOther) {
  const auto generated = random_records(20, 15);
  backend().insert_foreign_unsigned(generated);
  store().backfill_shards();
  const auto read = read_all(everything(), 6);
  ASSERT_EQ(read.size(), 20u);
  std::vector<SignedRecord> signed_records;
  for (const UnsignedRecord& r : read) {
    EXPECT_EQ(r.msg, "msg-" + r.id);
    signed_records.push_back(signed_version(r));
  }
  EXPECT_EQ(store().move_to_signed(signed_records).inserted, 20u);
  EXPECT_EQ(store().count(), counts(0, 20));
  EXPECT_EQ(store().find_signed(generated[5].id)->msg, generated[5].msg);
}

// /stats reads count(), which the stores keep instead of counting every time: whoever writes (the
// signer's ingest and move, another tool inserting and deleting), it must equal an exact count.
TEST_P(StoreContract, CountsEqualAnExactCountAfterIngestMoveAndDeletesOutsideAJob) {
  const auto records = random_records(40, 31);
  store().ingest(records);
  store().ingest(std::vector<UnsignedRecord>(records.begin(), records.begin() + 5));  // duplicates
  const std::vector<UnsignedRecord> first(records.begin(), records.begin() + 15);
  ASSERT_EQ(store().move_to_signed(signed_versions(first)).inserted, 15u);
  ASSERT_EQ(store().move_to_signed(signed_versions(first, "again")).already_signed, 15u);
  EXPECT_EQ(store().count(), counts(25, 15));

  backend().insert_foreign_unsigned(random_records(7, 32));
  backend().insert_raw_signed(signed_version(records[20], "crash"));  // left in both
  backend().delete_raw("records", {records[30].id, records[31].id, records[32].id});
  backend().delete_raw("signedrecords", {records[0].id, records[1].id});
  EXPECT_EQ(store().count(), backend().exact_counts());
  EXPECT_EQ(store().count(), counts(25 + 7 - 3, 15 + 1 - 2));

  // A move over what other tools left: the record in both collections, a deleted one.
  const MoveResult moved = store().move_to_signed(
      signed_versions(std::vector<UnsignedRecord>{records[20], records[30], records[0]}, "b"));
  EXPECT_EQ(moved.inserted, 2u);
  EXPECT_EQ(store().count(), backend().exact_counts());
  EXPECT_EQ(store().count(), counts(25 + 7 - 3 - 1, 15 + 1 - 2 + 2));
}

TEST_P(StoreContract, FindSignedReturnsTheRecordOrNothing) {
  const auto records = random_records(2, 16);
  store().ingest(records);
  EXPECT_EQ(store().find_signed(records[0].id), std::nullopt);  // unsigned is not signed
  store().move_to_signed(signed_versions({records[0]}));
  const auto found = store().find_signed(records[0].id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->salt, signed_version(records[0]).salt);
  EXPECT_EQ(store().find_signed(records[1].id), std::nullopt);
  EXPECT_EQ(store().find_signed(""), std::nullopt);
}

TEST_P(StoreContract, ForEachSignedVisitsEverySignedRecordInIdOrder) {
  const auto records = random_records(250, 17);
  store().ingest(records);
  const auto all = signed_versions(records);
  for (std::size_t begin = 0; begin < all.size(); begin += 60) {
    store().move_to_signed(
        std::span(all).subspan(begin, std::min<std::size_t>(60, all.size() - begin)));
  }
  std::vector<SignedRecord> visited;
  store().for_each_signed([&](const SignedRecord& r) { visited.push_back(r); });

  std::vector<std::string> want;
  for (const UnsignedRecord& r : records) want.push_back(r.id);
  std::sort(want.begin(), want.end());
  std::vector<std::string> got;
  for (const SignedRecord& r : visited) {
    got.push_back(r.id);
    const auto it = std::find_if(records.begin(), records.end(),
                                 [&](const UnsignedRecord& u) { return u.id == r.id; });
    ASSERT_NE(it, records.end());
    EXPECT_EQ(r.sign, signed_version(*it).sign);
  }
  EXPECT_EQ(got, want);
}

TEST_P(StoreContract, ForEachSignedStopsWhenTheSinkThrows) {
  const auto records = random_records(30, 18);
  store().ingest(records);
  store().move_to_signed(signed_versions(records));
  int calls = 0;
  EXPECT_THROW(store().for_each_signed([&](const SignedRecord&) {
    if (++calls == 5) throw std::runtime_error("sink gave up");
  }),
               std::runtime_error);
  EXPECT_EQ(calls, 5);
  // The store is still usable (its connection or pooled client was given back).
  EXPECT_EQ(store().count(), counts(0, 30));
}

// ---- jobs, audit events and provenance ---------------------------------------------------------

audit::JobRecord job_record(const std::string& id, std::int64_t started_unix_ms) {
  audit::JobRecord job;
  job.id = id;
  job.started_by = "alice";
  job.remote_addr = "10.0.0.7";
  job.batch_size = 100;
  job.keys = {{2, "0xAbC0000000000000000000000000000000000002", "0x04key-2"},
              {0, "0xAbC0000000000000000000000000000000000000", "0x04key-0"}};
  job.unsigned_at_start = 250;
  job.batches = 3;
  job.started_unix_ms = started_unix_ms;
  return job;
}

TEST_P(StoreContract, SavedJobIsFoundAndSavingAgainReplacesIt) {
  audit::JobRecord job = job_record("j-000000000001-00000000000000aa", 1000);
  store().save_job(job);
  auto found = store().find_job(job.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(audit::to_json(*found), audit::to_json(job));

  job.state = audit::JobState::kSucceeded;
  job.results = {{0, "pod-a", 2, job.keys[0].address, 90, 1, 1, ""},
                 {1, "pod-b", 0, job.keys[1].address, 0, 0, 4, "store unavailable: busy"}};
  job.records_signed = 90;
  job.ended_unix_ms = 2000;
  store().save_job(job);
  found = store().find_job(job.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(audit::to_json(*found), audit::to_json(job));
  EXPECT_EQ(found->results.at(1).error, "store unavailable: busy");
  EXPECT_EQ(store().list_jobs(10).size(), 1u);
}

// A job's outcomes are saved in parts, each numbered from where the stored ones end, and read
// back whole in their numbers' order; saving a number again replaces that outcome; a job found
// without its outcomes has none; listed jobs each carry their own.
TEST_P(StoreContract, AJobsOutcomesAreSavedInPartsAndReadBackWholeInOrder) {
  audit::JobRecord job = job_record("j-000000000001-00000000000000aa", 1000);
  job.batches = 6;
  auto outcome = [&](std::uint64_t batch, std::uint64_t signed_count, std::string error = "") {
    return audit::BatchOutcome{batch,
                               "pod-" + std::to_string(batch % 2),
                               batch % 2,
                               job.keys[batch % 2].address,
                               signed_count,
                               0,
                               1,
                               std::move(error)};
  };
  std::vector<audit::BatchOutcome> all = {
      outcome(4, 40), outcome(0, 10), outcome(2, 20), outcome(5, 0, "store unavailable: \"busy\""),
      outcome(1, 11), outcome(3, 33)};
  job.results = {all[0], all[1], all[2]};
  store().save_job(job, 0);
  job.results = {all[3]};
  job.records_signed = 70;
  store().save_job(job, 3);
  // A save whose answer was lost is sent again with the same numbers.
  store().save_job(job, 3);
  job.results = {};
  store().save_job(job, 4);
  // The other job's outcomes stay its own.
  audit::JobRecord other = job_record("j-000000000002-00000000000000bb", 2000);
  other.results = {outcome(0, 99)};
  store().save_job(other);
  job.results = {all[4], all[5]};
  job.state = audit::JobState::kSucceeded;
  job.records_signed = 114;
  store().save_job(job, 4);

  audit::JobRecord whole = job;
  whole.results = all;
  auto found = store().find_job(job.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(audit::to_json(*found), audit::to_json(whole));
  EXPECT_EQ(found->results.at(3).error, "store unavailable: \"busy\"");

  auto bare = store().find_job(job.id, /*with_outcomes=*/false);
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->results.empty());
  EXPECT_EQ(bare->state, audit::JobState::kSucceeded);
  EXPECT_EQ(bare->records_signed, 114u);

  const auto listed = store().list_jobs(10);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id, other.id);
  EXPECT_EQ(audit::to_json(listed[0]), audit::to_json(other));
  EXPECT_EQ(audit::to_json(listed[1]), audit::to_json(whole));

  // An outcome saved again under its number replaces the stored one.
  job.results = {outcome(1, 12)};
  store().save_job(job, 4);
  found = store().find_job(job.id);
  ASSERT_EQ(found->results.size(), 6u);
  EXPECT_EQ(found->results[4].signed_count, 12u);
  EXPECT_EQ(found->results[5].batch, 3u);
}

// A job of many batches outgrows any one row or document: 4,500 outcomes with 4 KB errors are
// 18 MB, past MongoDB's 16 MB document. Saved in parts as a job saves them, it is found whole.
TEST_P(StoreContract, AJobOfManyLargeOutcomesIsSavedInPartsAndFoundWhole) {
  audit::JobRecord job = job_record("j-000000000001-00000000000000aa", 1000);
  constexpr std::uint64_t kBatches = 4500;
  constexpr std::uint64_t kPerSave = 1500;
  job.batches = kBatches;
  const std::string error(4096, 'e');
  for (std::uint64_t first = 0; first < kBatches; first += kPerSave) {
    job.results.clear();
    for (std::uint64_t b = first; b < first + kPerSave; ++b) {
      job.results.push_back(
          {b, "pod", 0, job.keys[0].address, 0, 0, 5, std::to_string(b) + ": " + error});
    }
    store().save_job(job, first);
  }
  job.results.clear();
  job.state = audit::JobState::kFailed;
  store().save_job(job, kBatches);
  const auto found = store().find_job(job.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->state, audit::JobState::kFailed);
  ASSERT_EQ(found->results.size(), kBatches);
  for (std::uint64_t b = 0; b < kBatches; ++b) {
    ASSERT_EQ(found->results[b].batch, b);
    ASSERT_EQ(found->results[b].error, std::to_string(b) + ": " + error);
  }
}

TEST_P(StoreContract, FindJobOfAnUnknownIdIsNothing) {
  store().save_job(job_record("j-000000000001-00000000000000aa", 1000));
  EXPECT_FALSE(store().find_job("j-000000000001-00000000000000ab"));
}

TEST_P(StoreContract, ListJobsReturnsTheMostRecentFirstUpToTheLimit) {
  store().save_job(job_record("j-000000000002-0000000000000002", 2000));
  store().save_job(job_record("j-000000000003-0000000000000003", 3000));
  store().save_job(job_record("j-000000000001-0000000000000001", 1000));
  std::vector<std::string> ids;
  for (const auto& job : store().list_jobs(2)) ids.push_back(job.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"j-000000000003-0000000000000003",
                                           "j-000000000002-0000000000000002"}));
  EXPECT_EQ(store().list_jobs(200).size(), 3u);
}

TEST_P(StoreContract, PruneAuditDeletesOnlyEventsOlderThanTheCutOff) {
  for (std::int64_t t : {1000, 2000, 2999, 3000, 4000}) {
    store().append_audit({.time_unix_ms = t,
                          .route = "/records",
                          .outcome = "ok",
                          .detail = "at " + std::to_string(t)});
  }
  EXPECT_EQ(store().prune_audit(3000), 3u);
  const auto left = store().list_audit(std::nullopt, 10);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].time_unix_ms, 4000);
  EXPECT_EQ(left[1].time_unix_ms, 3000);
  EXPECT_EQ(store().prune_audit(3000), 0u);
}

TEST_P(StoreContract, AuditEventsAreKeptMostRecentFirstAndFilteredByJob) {
  const std::string job = "j-000000000001-00000000000000aa";
  store().append_audit({100,
                        "alice",
                        "10.0.0.7",
                        "/sign",
                        "started",
                        250,
                        job,
                        std::nullopt,
                        {"0xA", "0xB"},
                        "batch size 100"});
  store().append_audit(
      {101, "anonymous", "10.0.0.8", "/records", "ok", 5, "", std::nullopt, {}, "0 duplicates"});
  store().append_audit({102, "alice", "10.0.0.7", "/batch", "ok", 90, job, 0, {"0xA"}, "pod a"});
  const auto all = store().list_audit(std::nullopt, 10);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].route, "/batch");
  EXPECT_EQ(all[0].batch, std::optional<std::uint64_t>(0));
  EXPECT_EQ(all[0].key_addresses, std::vector<std::string>{"0xA"});
  EXPECT_EQ(all[1].route, "/records");
  EXPECT_EQ(all[1].batch, std::nullopt);
  EXPECT_EQ(all[2].route, "/sign");
  EXPECT_EQ(audit::to_json(all[2]), audit::to_json(audit::AuditEvent{100,
                                                                     "alice",
                                                                     "10.0.0.7",
                                                                     "/sign",
                                                                     "started",
                                                                     250,
                                                                     job,
                                                                     std::nullopt,
                                                                     {"0xA", "0xB"},
                                                                     "batch size 100"}));
  const auto of_job = store().list_audit(job, 10);
  ASSERT_EQ(of_job.size(), 2u);
  EXPECT_EQ(of_job[0].route, "/batch");
  EXPECT_EQ(of_job[1].route, "/sign");
  EXPECT_EQ(store().list_audit(std::nullopt, 1).size(), 1u);
}

TEST_P(StoreContract, SignedRecordsCarryTheirJobIdAndAreFoundByIt) {
  const auto records = random_records(6, 31);
  store().ingest(records);
  const std::string job_a = "j-000000000001-00000000000000aa";
  const std::string job_b = "j-000000000002-00000000000000bb";
  std::vector<SignedRecord> signed_records = signed_versions(records);
  for (std::size_t i = 0; i < signed_records.size(); ++i) {
    signed_records[i].job_id = i < 4 ? job_a : (i == 4 ? job_b : "");
  }
  store().move_to_signed(signed_records);
  EXPECT_EQ(store().find_signed(records[0].id)->job_id, job_a);
  EXPECT_EQ(store().find_signed(records[5].id)->job_id, "");

  auto ids_of_job = [&](const std::string& job) {
    std::vector<std::string> ids;
    store().for_each_signed_of_job(job, [&](const SignedRecord& r) {
      EXPECT_EQ(r.job_id, job);
      ids.push_back(r.id);
    });
    return ids;
  };
  std::vector<std::string> want_a;
  for (std::size_t i = 0; i < 4; ++i) want_a.push_back(records[i].id);
  std::sort(want_a.begin(), want_a.end());
  EXPECT_EQ(ids_of_job(job_a), want_a);
  EXPECT_EQ(ids_of_job(job_b), std::vector<std::string>{records[4].id});
  EXPECT_EQ(ids_of_job(""), std::vector<std::string>{records[5].id});
  EXPECT_TRUE(ids_of_job("j-000000000003-00000000000000cc").empty());
  std::size_t stamped = 0;
  store().for_each_signed([&](const SignedRecord& r) { stamped += !r.job_id.empty(); });
  EXPECT_EQ(stamped, 5u);
}

// The schemes (schemes/signing_scheme.h): an eip191 or eip712 record keeps its scheme (and an
// eip712 one its digest) through every way of reading it back, in a chunk big enough for the
// stores' grouped paths, while a raw record of the same move is stored exactly in the original's
// layout plus job_id: no scheme or digest field for its readers to trip over.
TEST_P(StoreContract, SignedRecordsKeepTheirSchemeAndDigestAndRawOnesHaveNeither) {
  const auto records = random_records(250, 47);
  store().ingest(records);
  std::vector<SignedRecord> signed_records = signed_versions(records);
  const std::string digest = "0x" + std::string(64, 'd');
  for (std::size_t i = 0; i < signed_records.size(); ++i) {
    signed_records[i].job_id = "j-000000000001-00000000000000aa";
    if (i % 3 == 1) signed_records[i].scheme = "eip191";
    if (i % 3 == 2) {
      signed_records[i].scheme = "eip712";
      signed_records[i].digest = digest;
    }
  }
  EXPECT_EQ(store().move_to_signed(signed_records).inserted, records.size());

  std::map<std::string, const SignedRecord*> want;
  for (const SignedRecord& r : signed_records) want[r.id] = &r;
  auto same = [&](const SignedRecord& got) {
    const SignedRecord& w = *want.at(got.id);
    EXPECT_EQ(got.scheme, w.scheme) << got.id;
    EXPECT_EQ(got.digest, w.digest) << got.id;
    EXPECT_EQ(got.sign, w.sign) << got.id;
  };
  for (std::size_t i = 0; i < 3; ++i) same(*store().find_signed(records[i].id));
  std::size_t visited = 0;
  store().for_each_signed([&](const SignedRecord& r) {
    same(r);
    ++visited;
  });
  store().for_each_signed_of_job("j-000000000001-00000000000000aa", [&](const SignedRecord& r) {
    same(r);
    ++visited;
  });
  EXPECT_EQ(visited, 2 * records.size());

  const std::set<std::string> original = {"id", "msg", "salt", "sign", "key", "job_id"};
  std::set<std::string> with_scheme = original;
  with_scheme.insert("scheme");
  std::set<std::string> with_digest = with_scheme;
  with_digest.insert("digest");
  EXPECT_EQ(backend().stored_signed_fields(signed_records[0].id), original);
  EXPECT_EQ(backend().stored_signed_fields(signed_records[1].id), with_scheme);
  EXPECT_EQ(backend().stored_signed_fields(signed_records[2].id), with_digest);

  // A chunk of raw records only, as a raw job moves them.
  const auto more = random_records(120, 48);
  store().ingest(more);
  std::vector<SignedRecord> raw_chunk = signed_versions(more);
  for (SignedRecord& r : raw_chunk) r.job_id = "j-000000000002-00000000000000bb";
  store().move_to_signed(raw_chunk);
  EXPECT_EQ(backend().stored_signed_fields(more[0].id), original);
  EXPECT_EQ(store().find_signed(more[0].id)->scheme, "");
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContract, ::testing::ValuesIn(backends_under_test()),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

// ---- SQLite-only behaviour
// -----------------------------------------------------------------------

// A database written before provenance existed: signedrecords without job_id.
TEST(SqliteStoreSchema, AddsTheJobIdColumnToAnOlderDatabaseOnceAndKeepsItsRows) {
  testing::TempDir dir;
  const auto path = dir / "old.db";
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, SqliteCloser> db(raw);
    ASSERT_EQ(sqlite3_exec(db.get(),
                           "CREATE TABLE signedrecords (id TEXT PRIMARY KEY NOT NULL, msg TEXT "
                           "NOT NULL, salt TEXT NOT NULL, sign TEXT NOT NULL, key TEXT NOT NULL) "
                           "WITHOUT ROWID;"
                           "INSERT INTO signedrecords VALUES ('old1', 'm', 's', '0xs', '0x04k');",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  for (int open = 0; open < 2; ++open) {  // the second open must not try to add it again
    SqliteStore store(path);
    const auto old = store.find_signed("old1");
    ASSERT_TRUE(old);
    EXPECT_EQ(old->msg, "m");
    EXPECT_EQ(old->job_id, "");
  }
}

// An OS crash must not undo a committed move (its records would be signed again): FULL fsyncs
// every commit in WAL mode; NORMAL (1) only at checkpoints.
TEST(SqliteStoreDurability, CommitsWithSynchronousFull) {
  testing::TempDir dir;
  SqliteStore store(dir / "durable.db");
  EXPECT_EQ(store.synchronous_level(), 2);  // FULL
  auto opened = open_store({.url = "sqlite:" + (dir / "factory.db").string(), .timeout_ms = 5000});
  EXPECT_EQ(dynamic_cast<SqliteStore&>(*opened).synchronous_level(), 2);
}

TEST(SqliteStoreDurability, NormalIsOnlyTakenWhenAskedFor) {
  testing::TempDir dir;
  StoreOptions options{.url = "sqlite:" + (dir / "fast.db").string(), .timeout_ms = 5000};
  options.sqlite_synchronous_full = false;
  auto opened = open_store(options);
  EXPECT_EQ(dynamic_cast<SqliteStore&>(*opened).synchronous_level(), 1);  // NORMAL
}

// ---- MongoDB-only behaviour
// ------------------------------------------------------------------------

TEST(MongoTestServer, IsConfiguredWhenRequired) {
  if (!mongo_url().empty()) return;
  if (mongo_required()) FAIL() << kMongoMissing;
  GTEST_SKIP() << "SIGNER_TEST_MONGO_URL is not set: MongoDB contract tests left out";
}

TEST(MongoStoreConfig, UnreachableServerFailsWithinTheTimeoutAndHidesThePassword) {
  const auto start = std::chrono::steady_clock::now();
  try {
    MongoStore store({.url = "mongodb://signer:UrlPassw0rd!@127.0.0.1:1/?directConnection=true",
                      .mongo_user = "envuser",
                      .mongo_password = "EnvPassw0rd!",
                      .timeout_ms = 300});
    FAIL() << "connected to port 1";
  } catch (const StoreError& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable) << message;
    EXPECT_EQ(message.find("UrlPassw0rd"), std::string::npos) << message;
    EXPECT_EQ(message.find("EnvPassw0rd"), std::string::npos) << message;
    EXPECT_NE(message.find("127.0.0.1:1"), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(MongoStoreConfig, UnparsableUrlIsInvalidAndHidesThePassword) {
  for (const std::string url :
       {"mongodb://signer:UrlPassw0rd!@", "mongodb://signer:UrlPassw0rd!@h:notaport",
        "http://signer:UrlPassw0rd!@host/"}) {
    SCOPED_TRACE(url);
    try {
      MongoStore store({.url = url, .timeout_ms = 300});
      FAIL() << "accepted " << url;
    } catch (const StoreError& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalid) << e.what();
      EXPECT_EQ(std::string(e.what()).find("UrlPassw0rd"), std::string::npos) << e.what();
    }
  }
}

TEST(MongoStoreConfig, NonPositiveTimeoutIsInvalid) {
  try {
    MongoStore store({.url = "mongodb://127.0.0.1:1/", .timeout_ms = 0});
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalid) << e.what();
  }
}

// Tests that need the server but are about MongoDB itself, not the Store contract.
class MongoServer : public ::testing::Test {
 protected:
  void SetUp() override {
    if (mongo_url().empty()) {
      if (mongo_required()) FAIL() << kMongoMissing;
      GTEST_SKIP() << "SIGNER_TEST_MONGO_URL is not set";
    }
    backend_ = std::make_unique<MongoBackend>(mongo_url());
  }
  std::unique_ptr<MongoBackend> backend_;
};

TEST_F(MongoServer, CreatesTheContractIndexes) {
  auto records = backend_->raw().indexes("records");
  auto signed_records = backend_->raw().indexes("signedrecords");
  ASSERT_TRUE(records.contains("id_1"));
  EXPECT_EQ(records["id_1"], std::make_pair(std::vector<std::string>{"id"}, true));
  ASSERT_TRUE(records.contains("shard_1_id_1"));
  EXPECT_EQ(records["shard_1_id_1"],
            std::make_pair(std::vector<std::string>{"shard", "id"}, false));
  ASSERT_TRUE(signed_records.contains("id_1"));
  EXPECT_EQ(signed_records["id_1"], std::make_pair(std::vector<std::string>{"id"}, true));
}

// A move or ingest acknowledged by a primary alone can be rolled back by a failover; the record
// would then be signed again. Every write must wait for a journaled majority.
TEST_F(MongoServer, WritesWaitForAJournaledMajority) {
  MongoStore store({.url = mongo_url(), .timeout_ms = 5000});
  const WriteConcernSettings concern = store.write_concern();
  EXPECT_TRUE(concern.majority);
  EXPECT_TRUE(concern.journal);
  EXPECT_GT(concern.wtimeout_ms, 0);  // a lost majority fails the write (retried), never hangs it
}

TEST(DurableWriteConcern, AsksForAJournaledMajorityWithTheGivenTimeout) {
  const DurableWriteConcern concern(60000);
  const WriteConcernSettings settings = settings_of(concern.get());
  EXPECT_TRUE(settings.majority);
  EXPECT_TRUE(settings.journal);
  EXPECT_EQ(settings.wtimeout_ms, 60000);
  EXPECT_FALSE(settings_of(nullptr).majority);
}

// Pods start together on a fresh database: every one of them prepares it (indexes, the epoch
// document) at once, and every one starts.
TEST_F(MongoServer, PodsOpeningAFreshDatabaseTogetherAllStart) {
  for (int round = 0; round < 3; ++round) {
    backend_->raw().drop_database();
    std::vector<std::thread> pods;
    std::atomic<int> failed{0};
    for (int i = 0; i < 6; ++i) {
      pods.emplace_back([&] {
        try {
          MongoStore store({.url = mongo_url(), .timeout_ms = 5000});
        } catch (const StoreError& e) {
          ++failed;
          ADD_FAILURE() << e.what();
        }
      });
    }
    for (std::thread& t : pods) t.join();
    EXPECT_EQ(failed.load(), 0);
  }
  MongoStore store({.url = mongo_url(), .timeout_ms = 5000});
  EXPECT_EQ(store.start_job().epoch, 1u);
}

TEST_F(MongoServer, OpeningAgainKeepsDataAndIndexes) {
  backend_->store().ingest(random_records(5, 19));
  auto again = open_store({.url = mongo_url(), .timeout_ms = 5000});
  EXPECT_EQ(again->count(), counts(5, 0));
}

TEST_F(MongoServer, SignedDocumentsCarryTheContractFieldsOnly) {
  const auto records = random_records(1, 20);
  backend_->store().ingest(records);
  backend_->store().move_to_signed(signed_versions(records));
  const auto docs = backend_->raw().documents("signedrecords");
  ASSERT_EQ(docs.size(), 1u);
  std::set<std::string> keys;
  for (const auto& [key, value] : docs[0]) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"_id", "id", "msg", "salt", "sign", "key"}));
  const SignedRecord want = signed_version(records[0]);
  EXPECT_EQ(docs[0].at("id"), want.id);
  EXPECT_EQ(docs[0].at("msg"), want.msg);
  EXPECT_EQ(docs[0].at("salt"), want.salt);
  EXPECT_EQ(docs[0].at("sign"), want.sign);
  EXPECT_EQ(docs[0].at("key"), want.key);
}

TEST_F(MongoServer, SignedDocumentsOfAJobAddOnlyJobId) {
  const auto records = random_records(1, 24);
  backend_->store().ingest(records);
  auto signed_records = signed_versions(records);
  signed_records[0].job_id = "j-000000000001-00000000000000aa";
  backend_->store().move_to_signed(signed_records);
  const auto docs = backend_->raw().documents("signedrecords");
  ASSERT_EQ(docs.size(), 1u);
  std::set<std::string> keys;
  for (const auto& [key, value] : docs[0]) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"_id", "id", "msg", "salt", "sign", "key", "job_id"}));
  EXPECT_EQ(docs[0].at("job_id"), "j-000000000001-00000000000000aa");
}

TEST_F(MongoServer, CreatesTheJobAndAuditIndexes) {
  auto jobs = backend_->raw().indexes("jobs");
  ASSERT_TRUE(jobs.contains("id_1"));
  EXPECT_EQ(jobs["id_1"], std::make_pair(std::vector<std::string>{"id"}, true));
  auto signed_records = backend_->raw().indexes("signedrecords");
  ASSERT_TRUE(signed_records.contains("job_id_1_id_1"));
  EXPECT_EQ(signed_records["job_id_1_id_1"],
            std::make_pair(std::vector<std::string>{"job_id", "id"}, false));
  EXPECT_TRUE(backend_->raw().indexes("audit").contains("job_id_1_time_1"));
}

TEST_F(MongoServer, IngestedRecordsCarryAnInt64Shard) {
  const UnsignedRecord r{id_in_shard(0xfedcba98u, 3), "m"};
  backend_->store().ingest(std::vector<UnsignedRecord>{r});
  const auto docs = backend_->raw().documents("records");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].at("shard"), "int64:" + std::to_string(0xfedcba98u));
}

TEST_F(MongoServer, BackfillKeepsEveryFieldOfAGeneratorDocumentAndAddsTheShard) {
  const auto generated = random_records(3, 21);
  backend_->insert_foreign_unsigned(generated);
  const auto before = backend_->raw().documents("records");
  ASSERT_EQ(backend_->store().backfill_shards(), 3u);
  auto after = backend_->raw().documents("records");
  ASSERT_EQ(after.size(), 3u);
  for (auto& doc : after) {
    const auto original = std::find_if(before.begin(), before.end(),
                                       [&](const auto& b) { return b.at("id") == doc.at("id"); });
    ASSERT_NE(original, before.end());
    EXPECT_EQ(doc.at("shard"), "int64:" + std::to_string(records::shard_of(doc.at("id"))));
    doc.erase("shard");
    EXPECT_EQ(doc, *original);  // same _id, id, msg, sign "", key ""
  }
  EXPECT_TRUE(backend_->raw().documents("records_backfill").empty());
}

// The three states a backfill that crashed mid-page can leave a staged copy in.
TEST_F(MongoServer, BackfillSettlesCopiesStagedByACrashedRun) {
  const auto records = random_records(4, 22);
  auto stage = [&](const UnsignedRecord& r) {
    backend_->raw().insert(
        "records_backfill", std::vector<UnsignedRecord>{r}, [](Doc& doc, const UnsignedRecord& u) {
          doc.utf8("id", u.id).utf8("msg", u.msg).utf8("sign", "").utf8("key", "");
          bson_append_int64(doc.get(), "shard", -1, records::shard_of(u.id));
        });
  };
  // [0]: staged, then its original deleted; the crash came before the re-insert.
  stage(records[0]);
  // [1]: staged, original still in records without a shard.
  stage(records[1]);
  backend_->insert_foreign_unsigned({records[1]});
  // The crashed run's re-insert of a staged copy (with its shard).
  auto reinsert = [&](const UnsignedRecord& r) {
    backend_->raw().insert(
        "records", std::vector<UnsignedRecord>{r}, [](Doc& doc, const UnsignedRecord& u) {
          doc.utf8("id", u.id).utf8("msg", u.msg).utf8("sign", "").utf8("key", "");
          bson_append_int64(doc.get(), "shard", -1, records::shard_of(u.id));
        });
  };
  // [2]: staged, re-inserted and then signed; the crash came before clearing the stage.
  stage(records[2]);
  reinsert(records[2]);
  backend_->store().move_to_signed(signed_versions({records[2]}));
  // [3]: staged, re-inserted, still unsigned.
  stage(records[3]);
  reinsert(records[3]);

  EXPECT_EQ(backend_->store().backfill_shards(), 2u);  // [0] restored, [1] backfilled
  EXPECT_TRUE(backend_->raw().documents("records_backfill").empty());
  EXPECT_EQ(backend_->store().count(), counts(3, 1));
  std::vector<UnsignedRecord> unsigned_records{records[0], records[1], records[3]};
  ReadCursor cursor;
  std::vector<std::string> read;
  for (const UnsignedRecord& r :
       backend_->store().read_unsigned(records::shard_range_for_batch(0, 1), cursor, 100)) {
    read.push_back(r.id);
  }
  EXPECT_EQ(read, expected_order(unsigned_records, records::shard_range_for_batch(0, 1)));
}

// ---- races forced through the store's fault hook (store.h, FaultHook) ----

// A MongoStore on the test server whose hook runs `at_point` at the named point.
std::unique_ptr<Store> hooked_store(std::string point, std::function<void()> at_point) {
  StoreOptions options{.url = mongo_url(), .timeout_ms = 5000};
  options.fault_hook = [point = std::move(point),
                        at_point = std::move(at_point)](std::string_view reached) {
    if (reached == point) at_point();
  };
  return open_store(options);
}

// The race of the issue, forced: between the ingest's look at signedrecords and its insert, a
// move of the same id completes (signed copy inserted, unsigned copy deleted). The unique index
// of records then lets the insert through, next to the signed copy. Before, that was "accepted",
// and the next job dropped the new msg as already signed.
TEST_F(MongoServer, AnIngestOvertakenByAMoveOfItsIdIsTakenBackAndAnsweredAsAConflict) {
  const UnsignedRecord first{id_in_shard(40, 1), "first"};
  backend_->store().ingest(std::vector<UnsignedRecord>{first});
  auto racing = hooked_store("ingest:checked",
                             [&] { backend_->store().move_to_signed(signed_versions({first})); });
  const IngestResult result = racing->ingest(std::vector<UnsignedRecord>{{first.id, "second"}});
  EXPECT_EQ(result.accepted, 0u);
  EXPECT_EQ(result.conflicts, 1u);
  EXPECT_TRUE(backend_->raw().documents("records").empty());
  EXPECT_EQ(backend_->store().find_signed(first.id)->msg, "first");
  // The same race with the same msg is a duplicate, and nothing is left behind either.
  const UnsignedRecord again{id_in_shard(40, 2), "same"};
  backend_->store().ingest(std::vector<UnsignedRecord>{again});
  auto racing_same = hooked_store(
      "ingest:checked", [&] { backend_->store().move_to_signed(signed_versions({again})); });
  const IngestResult same = racing_same->ingest(std::vector<UnsignedRecord>{again});
  EXPECT_EQ(same.accepted, 0u);
  EXPECT_EQ(same.duplicates, 1u);
  EXPECT_EQ(backend_->store().count(), counts(0, 2));
}

// The unique index refused the insert (the id was unsigned), and before the ingest could read the
// stored copy a move took it to signedrecords. Before, that counted as a duplicate whatever the
// msgs (674 conflicts reported as duplicates on FerretDB in the issue's run).
TEST_F(MongoServer, ARefusedIngestWhoseStoredCopyWasMovedMeanwhileIsComparedWithTheSignedCopy) {
  const UnsignedRecord first{id_in_shard(41, 1), "first"};
  backend_->store().ingest(std::vector<UnsignedRecord>{first});
  auto racing = hooked_store("ingest:inserted",
                             [&] { backend_->store().move_to_signed(signed_versions({first})); });
  const IngestResult result = racing->ingest(std::vector<UnsignedRecord>{{first.id, "second"}});
  EXPECT_EQ(result.duplicates, 0u);
  EXPECT_EQ(result.conflicts, 1u);
  EXPECT_EQ(backend_->store().count(), counts(0, 1));
  // With the same msg it is a duplicate of the signed copy.
  const UnsignedRecord same{id_in_shard(41, 2), "same"};
  backend_->store().ingest(std::vector<UnsignedRecord>{same});
  auto racing_same = hooked_store(
      "ingest:inserted", [&] { backend_->store().move_to_signed(signed_versions({same})); });
  const IngestResult duplicate = racing_same->ingest(std::vector<UnsignedRecord>{same});
  EXPECT_EQ(duplicate.duplicates, 1u);
  EXPECT_EQ(duplicate.conflicts, 0u);
}

// The backfill's window: a shardless original is staged, deleted from records, and re-inserted
// with its shard. An ingest of the same id inside that window found the id nowhere and was
// "accepted"; the re-insert then met it and took it for another pod's copy, and the original was
// lost. Now the ingest finds the staged copy, takes its insert back and answers "conflict", and
// the original is re-inserted once its place is free.
TEST_F(MongoServer, AnIngestInsideTheBackfillWindowIsAConflictAndTheOriginalStays) {
  const UnsignedRecord original{id_in_shard(42, 1), "original"};
  backend_->insert_foreign_unsigned({original});
  IngestResult during;
  auto backfilling = hooked_store("backfill:deleted", [&] {
    during = backend_->store().ingest(std::vector<UnsignedRecord>{{original.id, "intruder"}});
  });
  EXPECT_EQ(backfilling->backfill_shards(), 1u);
  EXPECT_EQ(during.accepted, 0u);
  EXPECT_EQ(during.conflicts, 1u);
  const auto docs = backend_->raw().documents("records");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].at("msg"), "original");
  EXPECT_EQ(docs[0].at("shard"), "int64:42");
  EXPECT_TRUE(backend_->raw().documents("records_backfill").empty());
}

// Ids that are not strings (another tool's numbers and ObjectIds) sort before and after the
// strings of their shard, where a string cursor cannot be placed. A chunk made only of them used
// to end the batch's range early; now they never enter a chunk and are listed once per range.
TEST_F(MongoServer, IdsThatAreNotStringsNeitherStallNorEndTheRange) {
  struct Odd {
    int kind;
    std::int64_t value;
  };
  std::vector<Odd> odd;
  for (std::int64_t i = 0; i < 4; ++i) odd.push_back({0, i});
  for (std::int64_t i = 0; i < 4; ++i) odd.push_back({1, i});
  backend_->raw().insert("records", odd, [](Doc& doc, const Odd& o) {
    if (o.kind == 0) {
      bson_append_int64(doc.get(), "id", -1, o.value);
    } else {
      bson_oid_t oid;
      bson_oid_init(&oid, nullptr);
      bson_append_oid(doc.get(), "id", -1, &oid);
    }
    doc.utf8("msg", "m");
    bson_append_int64(doc.get(), "shard", -1, 50);
  });
  std::vector<UnsignedRecord> strings;
  for (std::uint64_t i = 0; i < 5; ++i) strings.push_back({id_in_shard(50, i), "m"});
  for (std::uint64_t i = 0; i < 5; ++i) strings.push_back({id_in_shard(51, i), "m"});
  backend_->store().ingest(strings);
  for (const std::size_t limit : {1, 3, 4, 100}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    ReadCursor cursor;
    std::vector<std::string> read;
    std::size_t invalid = 0;
    for (int pages = 0; pages < 100 && !cursor.exhausted; ++pages) {
      for (const UnsignedRecord& r :
           backend_->store().read_unsigned(records::shard_range_for_batch(0, 1), cursor, limit)) {
        read.push_back(r.id);
      }
      invalid += cursor.invalid.size();
    }
    EXPECT_TRUE(cursor.exhausted);
    EXPECT_EQ(read, expected_order(strings, records::shard_range_for_batch(0, 1)));
    EXPECT_EQ(invalid, 8u);
  }
}

// A signature given to a caller must not be rolled back by a failover and signed again with
// another salt: signed records are read with read concern "majority" (as every write waits for a
// journaled majority), and a server that has no replica set (FerretDB) accepts it.
TEST_F(MongoServer, SignedRecordsAreReadWithMajorityReadConcern) {
  const auto options = nlohmann::json::parse(MongoStore::signed_read_options_json());
  EXPECT_EQ(options.at("readConcern").at("level"), "majority") << options.dump();
  const auto records = random_records(3, 43);
  backend_->store().ingest(records);
  backend_->store().move_to_signed(signed_versions(records));
  EXPECT_EQ(backend_->store().find_signed(records[1].id)->msg, records[1].msg);
  std::size_t streamed = 0;
  backend_->store().for_each_signed([&](const SignedRecord&) { ++streamed; });
  EXPECT_EQ(streamed, 3u);
}

TEST_F(MongoServer, BackfillDropsAShardlessCopyOfASignedRecord) {
  const auto records = random_records(2, 23);
  backend_->store().ingest(records);
  backend_->store().move_to_signed(signed_versions(records));
  // The original's generator writes an id that is signed already.
  backend_->insert_foreign_unsigned({records[0]});
  EXPECT_EQ(backend_->store().count(), counts(1, 2));
  EXPECT_EQ(backend_->store().backfill_shards(), 0u);
  EXPECT_EQ(backend_->store().count(), counts(0, 2));
}

}  // namespace
}  // namespace signer::store
