// The MongoDB store's connection: libmongoc's client pool and handles (RAII), the errors of the
// driver and the server as StoreError kinds, and the reads and writes its queries share (cursors
// drained, unordered bulk inserts whose duplicate keys are counted, id-set lookups and deletes).
// Messages never carry the URL's password or BS_MONGO_PWD.
#pragma once

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "store/mongo/mongo_bson.h"
#include "store/store.h"
#include "store/store_factory.h"

namespace signer::store::mongo {

constexpr const char* kDatabase = "msg-signer";
constexpr std::int64_t kDuplicateKey = 11000;

struct UriDeleter {
  void operator()(mongoc_uri_t* uri) const { mongoc_uri_destroy(uri); }
};
struct PoolDeleter {
  void operator()(mongoc_client_pool_t* pool) const { mongoc_client_pool_destroy(pool); }
};
struct CollectionDeleter {
  void operator()(mongoc_collection_t* collection) const { mongoc_collection_destroy(collection); }
};
struct CursorDeleter {
  void operator()(mongoc_cursor_t* cursor) const { mongoc_cursor_destroy(cursor); }
};
struct BulkDeleter {
  void operator()(mongoc_bulk_operation_t* bulk) const { mongoc_bulk_operation_destroy(bulk); }
};
using UriPtr = std::unique_ptr<mongoc_uri_t, UriDeleter>;
using PoolPtr = std::unique_ptr<mongoc_client_pool_t, PoolDeleter>;
using CollectionPtr = std::unique_ptr<mongoc_collection_t, CollectionDeleter>;
using CursorPtr = std::unique_ptr<mongoc_cursor_t, CursorDeleter>;
using BulkPtr = std::unique_ptr<mongoc_bulk_operation_t, BulkDeleter>;
struct FindAndModifyOptsDeleter {
  void operator()(mongoc_find_and_modify_opts_t* opts) const {
    mongoc_find_and_modify_opts_destroy(opts);
  }
};

// The kind of a driver or server error: whether retrying may help.
ErrorKind kind_of(const bson_error_t& error);
ErrorKind kind_of_server_code(std::uint32_t code);

// A client borrowed from the pool for one operation on one thread, returned however it ends.
class PooledClient {
 public:
  explicit PooledClient(mongoc_client_pool_t* pool)
      : pool_(pool), client_(mongoc_client_pool_pop(pool)) {
    if (!client_) throw StoreError(ErrorKind::kUnavailable, "mongodb: client pool is unusable");
  }
  ~PooledClient() { mongoc_client_pool_push(pool_, client_); }
  PooledClient(const PooledClient&) = delete;
  PooledClient& operator=(const PooledClient&) = delete;

  mongoc_client_t* get() const { return client_; }

  // The collection handle must not outlive this guard: declare it after the guard.
  CollectionPtr collection(const char* name) const {
    return CollectionPtr(mongoc_client_get_collection(client_, kDatabase, name));
  }

 private:
  mongoc_client_pool_t* pool_;
  mongoc_client_t* client_;
};

struct InsertOutcome {
  std::uint64_t inserted = 0;
  std::uint64_t duplicates = 0;
  std::vector<std::size_t> duplicate_indexes;  // positions in the inserted docs
};

// The pool and what is needed to report its errors without leaking credentials.
class Connection {
 public:
  Connection(const StoreOptions& options, const std::string& description);

  PooledClient client() const { return PooledClient(pool_.get()); }

  [[noreturn]] void fail(const bson_error_t& error, std::string_view operation) const;
  [[noreturn]] void fail(ErrorKind kind, std::string_view operation,
                         std::string_view message) const;

  // Runs `cursor` to its end, calling `visit` for every document; throws on a cursor error.
  template <typename Visit>
  void drain(mongoc_cursor_t* cursor, std::string_view operation, Visit&& visit) const {
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor, &doc)) visit(doc);
    bson_error_t error;
    if (mongoc_cursor_error(cursor, &error)) fail(error, operation);
  }

  // Like drain, but stops after the first document for which `visit` returns false.
  template <typename Visit>
  void drain_while(mongoc_cursor_t* cursor, std::string_view operation, Visit&& visit) const {
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor, &doc)) {
      if (!visit(doc)) return;
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor, &error)) fail(error, operation);
  }

  BulkPtr unordered_bulk(mongoc_collection_t* collection) const;

  // Executes an unordered bulk of `expected` inserts. Duplicate-key write errors are counted, not
  // thrown; any other write error, a write concern error, or a bulk that stopped before every
  // insert was answered throws StoreError.
  InsertOutcome execute_inserts(mongoc_bulk_operation_t* bulk, std::size_t expected,
                                std::string_view operation) const;

  // Inserts `docs` with one unordered bulk write; duplicate keys are counted, not thrown.
  InsertOutcome insert_all(mongoc_collection_t* collection,
                           const std::vector<std::unique_ptr<Bson>>& docs,
                           std::string_view operation) const;

  // Calls `visit(id, doc)` for each document of `collection` whose string id is in
  // `sorted_ids`, reading `id` and the `fields` only, in id-set slices of bounded size.
  template <typename Visit>
  void for_each_with_id(mongoc_collection_t* collection,
                        std::span<const std::string_view> sorted_ids,
                        std::initializer_list<const char*> fields, std::string_view operation,
                        Visit&& visit) const {
    Bson opts;
    Bson projection;
    projection.int32("_id", 0).int32("id", 1);
    for (const char* field : fields) projection.int32(field, 1);
    opts.document("projection", projection);
    for_each_slice(sorted_ids, [&](std::span<const std::string_view> slice) {
      Bson filter;
      append_id_set(filter, slice);
      const CursorPtr cursor(
          mongoc_collection_find_with_opts(collection, filter.get(), opts.get(), nullptr));
      drain(cursor.get(), operation, [&](const bson_t* doc) {
        if (std::optional<std::string> id = utf8_field(doc, "id")) visit(std::move(*id), doc);
      });
    });
  }

  // The ones of `sorted_ids` that `collection` holds.
  std::unordered_set<std::string> existing_ids(mongoc_collection_t* collection,
                                               std::span<const std::string_view> sorted_ids,
                                               std::string_view operation) const;

  // id -> msg of the documents of `collection` whose id is in `sorted_ids` (nullopt: msg is not
  // a string).
  std::unordered_map<std::string, std::optional<std::string>> stored_msgs(
      mongoc_collection_t* collection, std::span<const std::string_view> sorted_ids,
      std::string_view operation) const;

  // Deletes the documents whose id is in `sorted_ids` and, when `only_without_shard`, whose
  // shard needs repair (append_shard_needs_repair). Returns how many it deleted.
  std::uint64_t delete_ids(mongoc_collection_t* collection,
                           std::span<const std::string_view> sorted_ids, bool only_without_shard,
                           std::string_view operation) const;

 private:
  void remember_secret(std::string secret);
  std::string scrub(std::string message) const;

  std::vector<std::string> secrets_;
  PoolPtr pool_;
};

}  // namespace signer::store::mongo
