#include "store/mongo/mongo_store.h"

#include <bson/bson.h>
#include <mongoc/mongoc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "audit/audit_json.h"
#include "records/shard.h"
#include "store/mongo/durable_write_concern.h"

namespace signer::store {
namespace {

constexpr const char* kDatabase = "msg-signer";
constexpr const char* kRecords = "records";
constexpr const char* kSignedRecords = "signedrecords";
constexpr const char* kJobs = "jobs";
constexpr const char* kAudit = "audit";
// Copies of records whose shard backfill_shards() is adding; empty except during a backfill.
constexpr const char* kBackfillStaging = "records_backfill";
// One document, {_id: "ingest", epoch: N}: the epoch ingests stamp records with (store.h).
constexpr const char* kEpochs = "signer_epoch";
constexpr const char* kEpochId = "ingest";
constexpr const char* kAppName = "message-signer";
constexpr std::uint32_t kMaxPoolSize = 32;
constexpr std::int64_t kMinSocketTimeoutMs = 60000;
constexpr std::int64_t kBackfillPage = 10000;
// Id lists are cut to this many ids, so a command stays far below the 16 MiB BSON limit.
constexpr std::size_t kIdsPerCommand = 10000;
// Ids per $in group of an id-set filter (see append_id_set). Deleting a 10000-id page from 10000
// documents on FerretDB took 7.7 s with groups of 64, ~3 s with 256 or unsplit, 1.7 s with 1024.
constexpr std::size_t kIdsPerGroup = 1024;
constexpr std::int64_t kDuplicateKey = 11000;

// ---- libmongoc handles -------------------------------------------------------------------------

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
struct ReadConcernDeleter {
  void operator()(mongoc_read_concern_t* concern) const { mongoc_read_concern_destroy(concern); }
};
struct FindAndModifyOptsDeleter {
  void operator()(mongoc_find_and_modify_opts_t* opts) const {
    mongoc_find_and_modify_opts_destroy(opts);
  }
};

// An owned bson_t. Also serves as the "overwritable storage" libmongoc wants for replies: an empty
// initialized document holds no heap memory, so libmongoc re-initializing it leaks nothing.
class Bson {
 public:
  Bson() { bson_init(&doc_); }
  ~Bson() { bson_destroy(&doc_); }
  Bson(const Bson&) = delete;
  Bson& operator=(const Bson&) = delete;

  bson_t* get() { return &doc_; }
  const bson_t* get() const { return &doc_; }

  Bson& utf8(const char* key, std::string_view value) {
    if (value.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) too_large();
    // libbson appends null for a null pointer, so an empty view must still point at "".
    const char* data = value.empty() ? "" : value.data();
    return check(bson_append_utf8(&doc_, key, -1, data, static_cast<int>(value.size())));
  }
  Bson& int64(const char* key, std::int64_t value) {
    return check(bson_append_int64(&doc_, key, -1, value));
  }
  Bson& int32(const char* key, std::int32_t value) {
    return check(bson_append_int32(&doc_, key, -1, value));
  }
  Bson& boolean(const char* key, bool value) {
    return check(bson_append_bool(&doc_, key, -1, value));
  }
  Bson& null(const char* key) { return check(bson_append_null(&doc_, key, -1)); }
  Bson& oid(const char* key, const bson_oid_t& value) {
    return check(bson_append_oid(&doc_, key, -1, &value));
  }
  Bson& document(const char* key, const Bson& child) {
    return check(bson_append_document(&doc_, key, -1, child.get()));
  }
  Bson& array(const char* key, const Bson& child) {
    return check(bson_append_array(&doc_, key, -1, child.get()));
  }
  // Copies the value `iter` points at under `key`.
  Bson& value(const char* key, const bson_iter_t& iter) {
    return check(bson_append_iter(&doc_, key, -1, &iter));
  }

 private:
  [[noreturn]] static void too_large() {
    throw StoreError(ErrorKind::kInvalid, "mongodb: document exceeds the BSON size limit");
  }
  Bson& check(bool appended) {
    if (!appended) too_large();
    return *this;
  }

  bson_t doc_;
};

// Appends {shard: {$not: {$gte: 0, $lt: 2^32, $type: ["int", "long"]}}}: a shard no batch's
// range holds, because it is missing, null, not a number, negative or too large; or a double,
// which may not be a whole number (12.5: a cursor, which holds whole shards, would meet it again
// after passing it, and sign it twice; a whole double is rewritten as an int64 too). These are
// what backfill_shards() repairs. One condition on one field, so it combines with any other.
void append_shard_needs_repair(Bson& filter) {
  Bson integer_types;
  integer_types.utf8("0", "int").utf8("1", "long");
  Bson valid;
  valid.int64("$gte", 0).int64("$lt", std::int64_t{1} << 32).array("$type", integer_types);
  Bson invalid;
  invalid.document("$not", valid);
  filter.document("shard", invalid);
}

// Appends readConcern {level: "majority"} to the options of a find.
void append_majority_read(Bson& opts) {
  const std::unique_ptr<mongoc_read_concern_t, ReadConcernDeleter> concern(
      mongoc_read_concern_new());
  mongoc_read_concern_set_level(concern.get(), MONGOC_READ_CONCERN_LEVEL_MAJORITY);
  if (!mongoc_read_concern_append(concern.get(), opts.get())) {
    throw StoreError(ErrorKind::kInvalid, "mongodb: cannot set the read concern");
  }
}

// Whether `doc` has a shard some batch reads: a number in [0, 2^32).
bool has_valid_shard(const bson_t* doc);

// Array keys "0", "1", … as BSON arrays want them.
class ArrayKey {
 public:
  const char* operator()(std::size_t index) {
    const char* key = nullptr;
    bson_uint32_to_string(static_cast<std::uint32_t>(index), &key, buffer_.data(), buffer_.size());
    return key;
  }

 private:
  std::array<char, 16> buffer_{};
};

// Appends a filter on `id` matching exactly `sorted_ids` (sorted, byte-wise, like the server
// compares strings). Equivalent to {id: {$in: ids}}, shaped to be cheap on servers without usable
// indexes too: FerretDB's SQLite backend scans the collection for every query and tests $in
// linearly, so a bare $in of n ids costs n/2 comparisons per document. Here a document first meets
// the ids' overall range, and above kIdsPerGroup ids the $in is split into ranged groups:
//   {id: {$gte: first, $lte: last, $in: ids}}                                  (small sets)
//   {id: {$gte: first, $lte: last}, $or: [{id: {$gte: a, $lte: b, $in: group}}, …]}
// MongoDB answers both from the `id` index. Append other conditions after this one: FerretDB
// evaluates a filter's fields in order and stops at the first that fails.
// Precondition: `sorted_ids` is not empty (for_each_slice never passes an empty slice).
// The range bounds assume the collection's default (simple, binary) collation, which both MongoDB
// and FerretDB use unless a collection was created with another.
void append_id_set(Bson& filter, std::span<const std::string_view> sorted_ids) {
  auto ranged_in = [](std::span<const std::string_view> ids) {
    auto condition = std::make_unique<Bson>();
    condition->utf8("$gte", ids.front()).utf8("$lte", ids.back());
    Bson list;
    ArrayKey key;
    for (std::size_t i = 0; i < ids.size(); ++i) list.utf8(key(i), ids[i]);
    condition->array("$in", list);
    return condition;
  };
  if (sorted_ids.size() <= kIdsPerGroup) {
    filter.document("id", *ranged_in(sorted_ids));
    return;
  }
  Bson range;
  range.utf8("$gte", sorted_ids.front()).utf8("$lte", sorted_ids.back());
  filter.document("id", range);
  Bson groups;
  ArrayKey key;
  std::size_t index = 0;
  for (std::size_t begin = 0; begin < sorted_ids.size(); begin += kIdsPerGroup, ++index) {
    Bson group;
    group.document("id", *ranged_in(sorted_ids.subspan(
                             begin, std::min(kIdsPerGroup, sorted_ids.size() - begin))));
    groups.document(key(index), group);
  }
  filter.array("$or", groups);
}

// The ids of `items` (id_of(item) for each), sorted and without repeats, as views into `items`.
template <typename Range, typename Id>
std::vector<std::string_view> sorted_unique_ids(const Range& items, Id id_of) {
  std::vector<std::string_view> ids;
  ids.reserve(std::size(items));
  for (const auto& item : items) ids.push_back(id_of(item));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// Runs `apply` on consecutive slices of at most kIdsPerCommand ids.
template <typename Apply>
void for_each_slice(std::span<const std::string_view> ids, Apply apply) {
  for (std::size_t begin = 0; begin < ids.size(); begin += kIdsPerCommand) {
    apply(ids.subspan(begin, std::min(kIdsPerCommand, ids.size() - begin)));
  }
}

std::optional<std::string> utf8_field(const bson_t* doc, const char* key) {
  bson_iter_t iter;
  if (!bson_iter_init_find(&iter, doc, key) || bson_iter_type(&iter) != BSON_TYPE_UTF8) {
    return std::nullopt;
  }
  std::uint32_t length = 0;
  const char* text = bson_iter_utf8(&iter, &length);
  return std::string(text, length);
}

// A numeric field of any BSON number type (another tool may have written shard as a double).
std::optional<std::int64_t> number_field(const bson_t* doc, const char* key) {
  bson_iter_t iter;
  if (!bson_iter_init_find(&iter, doc, key)) return std::nullopt;
  switch (bson_iter_type(&iter)) {
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
    case BSON_TYPE_DOUBLE: return bson_iter_as_int64(&iter);
    default: return std::nullopt;
  }
}

bool has_valid_shard(const bson_t* doc) {
  bson_iter_t iter;
  if (bson_iter_init_find(&iter, doc, "shard") && bson_iter_type(&iter) == BSON_TYPE_DOUBLE) {
    return false;  // see append_shard_needs_repair
  }
  const std::optional<std::int64_t> shard = number_field(doc, "shard");
  return shard && *shard >= 0 && *shard < (std::int64_t{1} << 32);
}

records::SignedRecord signed_record_from(const bson_t* doc) {
  return {utf8_field(doc, "id").value_or(""),   utf8_field(doc, "msg").value_or(""),
          utf8_field(doc, "salt").value_or(""), utf8_field(doc, "sign").value_or(""),
          utf8_field(doc, "key").value_or(""),  utf8_field(doc, "job_id").value_or("")};
}

// The options of every read of signed records: their fields, and read concern "majority", so a
// record given to a caller has reached a majority and cannot be rolled back by a failover.
void signed_read_options(Bson& opts) {
  Bson projection;
  projection.int32("_id", 0).int32("id", 1).int32("msg", 1).int32("salt", 1).int32("sign", 1).int32(
      "key", 1);
  projection.int32("job_id", 1);
  opts.document("projection", projection);
  append_majority_read(opts);
}

// Job records and audit events are nested documents whose shape audit/audit_json.h owns; they
// cross into BSON through JSON (integers stay int32/int64, strings stay UTF-8).
std::unique_ptr<Bson> bson_from_json(const nlohmann::json& json) {
  const std::string text = audit::dump_line(json);
  auto doc = std::make_unique<Bson>();
  bson_error_t error;
  // The Bson holds an empty initialized document (no heap memory), so re-initializing is safe.
  if (!bson_init_from_json(doc->get(), text.data(), static_cast<ssize_t>(text.size()), &error)) {
    throw StoreError(ErrorKind::kInvalid, std::string("mongodb: cannot encode: ") + error.message);
  }
  return doc;
}

struct BsonTextDeleter {
  void operator()(char* text) const { bson_free(text); }
};

nlohmann::json json_from_bson(const bson_t* doc) {
  std::unique_ptr<char, BsonTextDeleter> text(bson_as_relaxed_extended_json(doc, nullptr));
  if (!text) throw StoreError(ErrorKind::kInvalid, "mongodb: document is not valid BSON");
  nlohmann::json json = nlohmann::json::parse(text.get(), nullptr, false);
  if (json.is_discarded()) throw StoreError(ErrorKind::kInvalid, "mongodb: unreadable document");
  return json;
}

template <typename Parse>
auto parse_document(const bson_t* doc, const char* collection, Parse parse) {
  try {
    return parse(json_from_bson(doc));
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    throw StoreError(ErrorKind::kInvalid, std::string("mongodb: unreadable document in ") +
                                              collection + ": " + e.what());
  }
}

// ---- errors ------------------------------------------------------------------------------------

// Server error codes that say the request itself is wrong, so a retry cannot help.
bool is_invalid_request_code(std::uint32_t code) {
  switch (code) {
    case 2:      // BadValue
    case 9:      // FailedToParse
    case 14:     // TypeMismatch
    case 20:     // IllegalOperation
    case 22:     // InvalidBSON
    case 40:     // ConflictingUpdateOperators
    case 52:     // DollarPrefixedFieldName
    case 56:     // EmptyFieldName
    case 57:     // DottedFieldName
    case 59:     // CommandNotFound
    case 66:     // ImmutableField
    case 67:     // CannotCreateIndex
    case 72:     // InvalidOptions
    case 73:     // InvalidNamespace
    case 85:     // IndexOptionsConflict
    case 86:     // IndexKeySpecsConflict
    case 115:    // CommandNotSupported
    case 121:    // DocumentValidationFailure
    case 238:    // NotImplemented
    case 10334:  // BSONObjectTooLarge
    case 17280:  // KeyTooLong
      return true;
    default: return false;
  }
}

ErrorKind kind_of_server_code(std::uint32_t code) {
  if (code == 11000 || code == 11001 || code == 12582) return ErrorKind::kConflict;
  if (is_invalid_request_code(code)) return ErrorKind::kInvalid;
  // Everything else (not primary, shutting down, interrupted, timeouts, …) may pass.
  return ErrorKind::kUnavailable;
}

ErrorKind kind_of(const bson_error_t& error) {
  switch (error.domain) {
    case MONGOC_ERROR_BSON:
    case MONGOC_ERROR_MATCHER:
    case MONGOC_ERROR_NAMESPACE:
    case MONGOC_ERROR_CURSOR: return ErrorKind::kInvalid;
    case MONGOC_ERROR_CLIENT:
      return error.code == MONGOC_ERROR_CLIENT_TOO_BIG ? ErrorKind::kInvalid
                                                       : ErrorKind::kUnavailable;
    case MONGOC_ERROR_COMMAND:
      if (error.code == MONGOC_ERROR_COMMAND_INVALID_ARG) return ErrorKind::kInvalid;
      return kind_of_server_code(error.code);
    case MONGOC_ERROR_SERVER:
    case MONGOC_ERROR_QUERY:
    case MONGOC_ERROR_INSERT:
    case MONGOC_ERROR_COLLECTION: return kind_of_server_code(error.code);
    default:
      // STREAM, PROTOCOL, SERVER_SELECTION, SASL, SCRAM, WRITE_CONCERN, POOL, …
      return ErrorKind::kUnavailable;
  }
}

// Routes libmongoc's own log lines (connection warnings and the like) into spdlog.
void forward_driver_log(mongoc_log_level_t level, const char* domain, const char* message, void*) {
  switch (level) {
    case MONGOC_LOG_LEVEL_ERROR:
    case MONGOC_LOG_LEVEL_CRITICAL: spdlog::error("mongoc {}: {}", domain, message); break;
    case MONGOC_LOG_LEVEL_WARNING:
      // FerretDB advertises sessions but has no endSessions; every pool teardown would warn.
      if (std::strstr(message, "endSessions")) {
        spdlog::debug("mongoc {}: {}", domain, message);
      } else {
        spdlog::warn("mongoc {}: {}", domain, message);
      }
      break;
    case MONGOC_LOG_LEVEL_MESSAGE:
    case MONGOC_LOG_LEVEL_INFO: spdlog::info("mongoc {}: {}", domain, message); break;
    case MONGOC_LOG_LEVEL_DEBUG: spdlog::debug("mongoc {}: {}", domain, message); break;
    case MONGOC_LOG_LEVEL_TRACE: spdlog::trace("mongoc {}: {}", domain, message); break;
  }
}

void init_driver_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    mongoc_log_set_handler(forward_driver_log, nullptr);
  });
}

// The password in a URL's user info ("scheme://user:PASSWORD@host"), as written (maybe %-encoded).
std::string url_password(const std::string& url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  const std::size_t at = url.find('@', scheme + 3);
  const std::size_t colon = url.find(':', scheme + 3);
  if (at == std::string::npos || colon == std::string::npos || colon > at) return {};
  return url.substr(colon + 1, at - colon - 1);
}

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

// What an executed bulk write reported.
struct BulkReply {
  std::int64_t inserted = 0;
  struct WriteError {
    std::uint32_t code = 0;
    std::string message;
    std::size_t index = 0;  // of the operation in the bulk
  };
  std::vector<WriteError> write_errors;
  std::string write_concern_error;  // empty when none
};

BulkReply parse_bulk_reply(const bson_t* reply) {
  BulkReply parsed;
  parsed.inserted = number_field(reply, "nInserted").value_or(0);
  bson_iter_t iter;
  bson_iter_t errors;
  if (bson_iter_init_find(&iter, reply, "writeErrors") &&
      bson_iter_type(&iter) == BSON_TYPE_ARRAY && bson_iter_recurse(&iter, &errors)) {
    while (bson_iter_next(&errors)) {
      bson_iter_t field;
      if (bson_iter_type(&errors) != BSON_TYPE_DOCUMENT || !bson_iter_recurse(&errors, &field)) {
        continue;
      }
      BulkReply::WriteError error;
      while (bson_iter_next(&field)) {
        if (std::strcmp(bson_iter_key(&field), "code") == 0) {
          error.code = static_cast<std::uint32_t>(bson_iter_as_int64(&field));
        } else if (std::strcmp(bson_iter_key(&field), "index") == 0) {
          error.index = static_cast<std::size_t>(bson_iter_as_int64(&field));
        } else if (std::strcmp(bson_iter_key(&field), "errmsg") == 0 &&
                   bson_iter_type(&field) == BSON_TYPE_UTF8) {
          error.message = bson_iter_utf8(&field, nullptr);
        }
      }
      parsed.write_errors.push_back(std::move(error));
    }
  }
  bson_iter_t concern;
  if (bson_iter_init_find(&iter, reply, "writeConcernErrors") &&
      bson_iter_type(&iter) == BSON_TYPE_ARRAY && bson_iter_recurse(&iter, &concern) &&
      bson_iter_next(&concern)) {
    parsed.write_concern_error = "write concern error";
  }
  return parsed;
}

struct InsertOutcome {
  std::uint64_t inserted = 0;
  std::uint64_t duplicates = 0;
  std::vector<std::size_t> duplicate_indexes;  // positions in the inserted docs
};

}  // namespace

// The pool and what is needed to report its errors without leaking credentials.
class MongoConnection {
 public:
  MongoConnection(const StoreOptions& options, const std::string& description) {
    init_driver_once();
    remember_secret(options.mongo_password);
    remember_secret(url_password(options.url));
    if (options.timeout_ms <= 0) {
      throw StoreError(ErrorKind::kInvalid, "mongodb: the store timeout must be positive");
    }

    bson_error_t error;
    UriPtr uri(mongoc_uri_new_with_error(options.url.c_str(), &error));
    if (!uri) {
      throw StoreError(ErrorKind::kInvalid,
                       scrub("invalid MongoDB URL " + description + ": " + error.message));
    }
    if (const char* parsed = mongoc_uri_get_password(uri.get())) remember_secret(parsed);
    if (!options.mongo_user.empty() &&
        !mongoc_uri_set_username(uri.get(), options.mongo_user.c_str())) {
      throw StoreError(ErrorKind::kInvalid, "mongodb: BS_MONGO_USER is not valid UTF-8");
    }
    if (!options.mongo_password.empty() &&
        !mongoc_uri_set_password(uri.get(), options.mongo_password.c_str())) {
      throw StoreError(ErrorKind::kInvalid, "mongodb: BS_MONGO_PWD is not valid UTF-8");
    }

    const std::int64_t socket_timeout = std::min<std::int64_t>(
        std::max<std::int64_t>(kMinSocketTimeoutMs, 4LL * options.timeout_ms),
        std::numeric_limits<std::int32_t>::max());
    mongoc_uri_set_option_as_int32(uri.get(), MONGOC_URI_CONNECTTIMEOUTMS, options.timeout_ms);
    mongoc_uri_set_option_as_int32(uri.get(), MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                   options.timeout_ms);
    if (!mongoc_uri_has_option(uri.get(), MONGOC_URI_SOCKETTIMEOUTMS)) {
      mongoc_uri_set_option_as_int32(uri.get(), MONGOC_URI_SOCKETTIMEOUTMS,
                                     static_cast<std::int32_t>(socket_timeout));
    }
    if (!mongoc_uri_get_appname(uri.get())) mongoc_uri_set_appname(uri.get(), kAppName);
    // Every write (move, ingest, backfill, jobs, audit) inherits it from the pool's clients.
    DurableWriteConcern(socket_timeout).apply_to(uri.get());

    pool_.reset(mongoc_client_pool_new_with_error(uri.get(), &error));
    if (!pool_) {
      throw StoreError(kind_of(error),
                       scrub("cannot use MongoDB URL " + description + ": " + error.message));
    }
    mongoc_client_pool_set_error_api(pool_.get(), MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_max_size(pool_.get(), kMaxPoolSize);
  }

  PooledClient client() const { return PooledClient(pool_.get()); }

  [[noreturn]] void fail(const bson_error_t& error, std::string_view operation) const {
    fail(kind_of(error), operation, error.message);
  }

  [[noreturn]] void fail(ErrorKind kind, std::string_view operation,
                         std::string_view message) const {
    throw StoreError(kind,
                     scrub("mongodb " + std::string(operation) + ": " + std::string(message)));
  }

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

  BulkPtr unordered_bulk(mongoc_collection_t* collection) const {
    Bson opts;
    opts.boolean("ordered", false);
    return BulkPtr(mongoc_collection_create_bulk_operation_with_opts(collection, opts.get()));
  }

  // Executes an unordered bulk of `expected` inserts. Duplicate-key write errors are counted, not
  // thrown; any other write error, a write concern error, or a bulk that stopped before every
  // insert was answered throws StoreError.
  InsertOutcome execute_inserts(mongoc_bulk_operation_t* bulk, std::size_t expected,
                                std::string_view operation) const {
    Bson reply;
    bson_error_t error;
    const bool ok = mongoc_bulk_operation_execute(bulk, reply.get(), &error) != 0;
    const BulkReply parsed = parse_bulk_reply(reply.get());
    InsertOutcome outcome{static_cast<std::uint64_t>(parsed.inserted), 0, {}};
    if (ok) return outcome;
    if (!parsed.write_concern_error.empty()) {
      fail(ErrorKind::kUnavailable, operation, parsed.write_concern_error);
    }
    // No write errors: the bulk failed as a whole (network, server selection, command error).
    if (parsed.write_errors.empty()) fail(error, operation);
    for (const BulkReply::WriteError& e : parsed.write_errors) {
      if (e.code != kDuplicateKey) fail(kind_of_server_code(e.code), operation, e.message);
      ++outcome.duplicates;
      outcome.duplicate_indexes.push_back(e.index);
    }
    // libmongoc reports the write errors even when a later batch of the bulk failed on the
    // network, so only a complete account of every insert means nothing else went wrong.
    if (outcome.inserted + outcome.duplicates != expected) {
      fail(ErrorKind::kUnavailable, operation,
           "bulk insert stopped after " + std::to_string(outcome.inserted + outcome.duplicates) +
               " of " + std::to_string(expected) + " documents: " + error.message);
    }
    return outcome;
  }

  // Inserts `docs` with one unordered bulk write; duplicate keys are counted, not thrown.
  InsertOutcome insert_all(mongoc_collection_t* collection,
                           const std::vector<std::unique_ptr<Bson>>& docs,
                           std::string_view operation) const {
    if (docs.empty()) return {};
    const BulkPtr bulk = unordered_bulk(collection);
    for (const auto& doc : docs) {
      bson_error_t error;
      if (!mongoc_bulk_operation_insert_with_opts(bulk.get(), doc->get(), nullptr, &error)) {
        fail(error, operation);
      }
    }
    return execute_inserts(bulk.get(), docs.size(), operation);
  }

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
                                               std::string_view operation) const {
    std::unordered_set<std::string> found;
    for_each_with_id(collection, sorted_ids, {}, operation,
                     [&](std::string id, const bson_t*) { found.insert(std::move(id)); });
    return found;
  }

  // id -> msg of the documents of `collection` whose id is in `sorted_ids` (nullopt: msg is not
  // a string).
  std::unordered_map<std::string, std::optional<std::string>> stored_msgs(
      mongoc_collection_t* collection, std::span<const std::string_view> sorted_ids,
      std::string_view operation) const {
    std::unordered_map<std::string, std::optional<std::string>> found;
    for_each_with_id(collection, sorted_ids, {"msg"}, operation,
                     [&](std::string id, const bson_t* doc) {
                       found.emplace(std::move(id), utf8_field(doc, "msg"));
                     });
    return found;
  }

  // Deletes the documents whose id is in `sorted_ids` and, when `only_without_shard`, whose
  // shard needs repair (append_shard_needs_repair). Returns how many it deleted.
  std::uint64_t delete_ids(mongoc_collection_t* collection,
                           std::span<const std::string_view> sorted_ids, bool only_without_shard,
                           std::string_view operation) const {
    std::uint64_t deleted = 0;
    for_each_slice(sorted_ids, [&](std::span<const std::string_view> slice) {
      Bson filter;
      append_id_set(filter, slice);
      if (only_without_shard) append_shard_needs_repair(filter);
      Bson reply;
      bson_error_t error;
      if (!mongoc_collection_delete_many(collection, filter.get(), nullptr, reply.get(), &error)) {
        fail(error, operation);
      }
      deleted += static_cast<std::uint64_t>(number_field(reply.get(), "deletedCount").value_or(0));
    });
    return deleted;
  }

 private:
  void remember_secret(std::string secret) {
    // Very short secrets would turn scrubbing into mangling every message; they protect little.
    if (secret.size() >= 3) secrets_.push_back(std::move(secret));
  }

  std::string scrub(std::string message) const {
    for (const std::string& secret : secrets_) {
      for (std::size_t at = message.find(secret); at != std::string::npos;
           at = message.find(secret, at + 3)) {
        message.replace(at, secret.size(), "***");
      }
    }
    return message;
  }

  std::vector<std::string> secrets_;
  PoolPtr pool_;
};

namespace {

// One createIndexes command per index: FerretDB 1.24 panics (and drops the connection) when one
// command lists several indexes of which more than one already exists.
void create_indexes(const MongoConnection& connection) {
  const PooledClient client = connection.client();
  auto create = [&](const char* collection, const char* name, bool unique,
                    std::initializer_list<const char*> fields) {
    Bson key;
    for (const char* field : fields) key.int32(field, 1);
    Bson spec;
    spec.document("key", key).utf8("name", name);
    if (unique) spec.boolean("unique", true);
    Bson indexes;
    indexes.document("0", spec);
    Bson command;
    command.utf8("createIndexes", collection).array("indexes", indexes);
    Bson reply;
    bson_error_t error;
    if (!mongoc_client_write_command_with_opts(client.get(), kDatabase, command.get(), nullptr,
                                               reply.get(), &error)) {
      connection.fail(error, std::string("createIndexes ") + name + " on " + collection);
    }
  };
  create(kRecords, "id_1", true, {"id"});
  create(kRecords, "shard_1_id_1", false, {"shard", "id"});
  create(kSignedRecords, "id_1", true, {"id"});
  create(kSignedRecords, "job_id_1_id_1", false, {"job_id", "id"});
  create(kJobs, "id_1", true, {"id"});
  create(kJobs, "started_unix_ms_1", false, {"started_unix_ms"});
  create(kAudit, "job_id_1_time_1", false, {"job_id", "time"});
}

// A copy of `doc` (every field, _id included) with shard = shard_of(`id`).
std::unique_ptr<Bson> with_shard(const bson_t* doc, std::string_view id) {
  auto copy = std::make_unique<Bson>();
  bson_iter_t iter;
  if (bson_iter_init(&iter, doc)) {
    while (bson_iter_next(&iter)) {
      if (std::strcmp(bson_iter_key(&iter), "shard") != 0) copy->value(bson_iter_key(&iter), iter);
    }
  }
  copy->int64("shard", records::shard_of(id));
  return copy;
}

// A page of documents and their ids, the documents owned (Bson cannot move).
struct DocumentPage {
  std::vector<std::unique_ptr<Bson>> docs;
  std::vector<std::string> ids;  // ids[i] is the id of docs[i]

  std::vector<std::string_view> sorted_ids() const {
    return sorted_unique_ids(ids, [](const std::string& id) { return std::string_view(id); });
  }
};

}  // namespace

namespace {

// Puts back into `records` the staged copies (from a backfill) whose re-insert found their id
// taken: by another pod's re-insert of the same copy (settled), or by an ingest that ran while the
// original was out of `records`. That ingest checks again after its insert, finds the staged copy
// and takes its record back, so the copy waits for its place, up to `wait_ms`; a record still
// there by then belongs to an ingest that died before it could check (its caller never heard
// "accepted"), and gives way to the original, which came first.
void restore_displaced(const MongoConnection& db, std::vector<std::unique_ptr<Bson>>& copies,
                       int wait_ms) {
  const PooledClient client = db.client();
  const CollectionPtr records = client.collection(kRecords);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    if (copies.empty()) return;
    std::vector<std::string> id_list;
    for (const auto& copy : copies) id_list.push_back(utf8_field(copy->get(), "id").value_or(""));
    const std::vector<std::string_view> ids =
        sorted_unique_ids(id_list, [](const std::string& id) { return std::string_view(id); });
    const auto present = db.stored_msgs(records.get(), ids, "backfill (find displaced)");
    const bool waited_enough = std::chrono::steady_clock::now() >= deadline;
    std::vector<std::unique_ptr<Bson>> free, pending;
    std::vector<std::string_view> stale;  // intruders whose ingest died: they give way
    for (std::size_t i = 0; i < copies.size(); ++i) {
      const auto it = present.find(id_list[i]);
      if (it == present.end()) {
        free.push_back(std::move(copies[i]));
      } else if (it->second == utf8_field(copies[i]->get(), "msg")) {
        continue;  // another pod re-inserted it
      } else if (waited_enough) {
        stale.push_back(id_list[i]);
        free.push_back(std::move(copies[i]));
      } else {
        pending.push_back(std::move(copies[i]));
      }
    }
    if (!stale.empty()) {
      std::sort(stale.begin(), stale.end());
      db.delete_ids(records.get(), stale, false, "backfill (remove intruder)");
    }
    const InsertOutcome outcome = db.insert_all(records.get(), free, "backfill (restore)");
    for (const std::size_t index : outcome.duplicate_indexes) {
      pending.push_back(std::move(free[index]));  // taken again meanwhile: next round
    }
    copies = std::move(pending);
    if (!copies.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

MongoStore::MongoStore(const StoreOptions& options)
    : description_(redact_url(options.url)),
      connection_(std::make_unique<MongoConnection>(options, description_)),
      fault_hook_(options.fault_hook),
      intruder_wait_ms_(options.timeout_ms) {
  try {
    ping();
  } catch (const StoreError& e) {
    throw StoreError(ErrorKind::kUnavailable,
                     "cannot reach MongoDB at " + description_ + ": " + e.what());
  }
  try {
    create_indexes(*connection_);
  } catch (const StoreError& e) {
    // Reachable, but refused: not authorized, or data that breaks a unique index.
    throw StoreError(e.kind(), "cannot prepare MongoDB at " + description_ + ": " + e.what());
  }
  // The epoch document, made once (the first epoch is 1; records without one count as 0).
  const PooledClient client = connection_->client();
  const CollectionPtr epochs = client.collection(kEpochs);
  Bson selector;
  selector.utf8("_id", kEpochId);
  Bson first;
  first.int64("epoch", 1);
  Bson update;
  update.document("$setOnInsert", first);
  Bson opts;
  opts.boolean("upsert", true);
  Bson reply;
  bson_error_t error;
  // Pods starting together upsert it at once: a duplicate key is another pod's, made first.
  if (!mongoc_collection_update_one(epochs.get(), selector.get(), update.get(), opts.get(),
                                    reply.get(), &error) &&
      kind_of(error) != ErrorKind::kConflict) {
    try {
      connection_->fail(error, "create the epoch document");
    } catch (const StoreError& e) {
      throw StoreError(e.kind(), "cannot prepare MongoDB at " + description_ + ": " + e.what());
    }
  }
}

std::string MongoStore::signed_read_options_json() {
  Bson opts;
  signed_read_options(opts);
  return json_from_bson(opts.get()).dump();
}

std::int64_t MongoStore::current_epoch() {
  const PooledClient client = connection_->client();
  const CollectionPtr epochs = client.collection(kEpochs);
  Bson filter;
  filter.utf8("_id", kEpochId);
  Bson opts;
  opts.int64("limit", 1);
  const CursorPtr found(
      mongoc_collection_find_with_opts(epochs.get(), filter.get(), opts.get(), nullptr));
  std::int64_t epoch = 0;
  connection_->drain(found.get(), "read the epoch",
                     [&](const bson_t* doc) { epoch = number_field(doc, "epoch").value_or(0); });
  if (epoch <= 0) {
    connection_->fail(ErrorKind::kInvalid, "read the epoch",
                      std::string("collection ") + kEpochs + " has lost its document");
  }
  return epoch;
}

MongoStore::~MongoStore() = default;

WriteConcernSettings MongoStore::write_concern() const {
  const PooledClient client = connection_->client();
  const CollectionPtr records = client.collection(kRecords);
  const BulkPtr bulk = connection_->unordered_bulk(records.get());
  return settings_of(mongoc_bulk_operation_get_write_concern(bulk.get()));
}

std::string MongoStore::describe() const { return description_; }

void MongoStore::ping() {
  const PooledClient client = connection_->client();
  Bson command;
  command.int32("ping", 1);
  Bson reply;
  bson_error_t error;
  if (!mongoc_client_command_simple(client.get(), "admin", command.get(), nullptr, reply.get(),
                                    &error)) {
    connection_->fail(ErrorKind::kUnavailable, "ping", error.message);
  }
}

Counts MongoStore::count() {
  const PooledClient client = connection_->client();
  const CollectionPtr unsigned_records = client.collection(kRecords);
  const CollectionPtr signed_records = client.collection(kSignedRecords);
  auto count_all = [&](mongoc_collection_t* collection, const char* name) {
    const Bson everything;
    bson_error_t error;
    const std::int64_t n = mongoc_collection_count_documents(collection, everything.get(), nullptr,
                                                             nullptr, nullptr, &error);
    if (n < 0) connection_->fail(error, std::string("count ") + name);
    return static_cast<std::uint64_t>(n);
  };
  // Unsigned first: a move between the two counts then shows a record twice, never zero times.
  Counts counts;
  counts.unsigned_records = count_all(unsigned_records.get(), kRecords);
  counts.signed_records = count_all(signed_records.get(), kSignedRecords);
  return counts;
}

JobStart MongoStore::start_job() {
  // Counted first, closed second: a record counted was ingested with an epoch read before it was
  // inserted, so before the epoch closes; it is never left out of the end-of-job check.
  JobStart start;
  start.counts = count();
  const PooledClient client = connection_->client();
  const CollectionPtr epochs = client.collection(kEpochs);
  Bson selector;
  selector.utf8("_id", kEpochId);
  Bson step;
  step.int64("epoch", 1);
  Bson update;
  update.document("$inc", step);
  const std::unique_ptr<mongoc_find_and_modify_opts_t, FindAndModifyOptsDeleter> opts(
      mongoc_find_and_modify_opts_new());
  mongoc_find_and_modify_opts_set_update(opts.get(), update.get());
  mongoc_find_and_modify_opts_set_flags(opts.get(), MONGOC_FIND_AND_MODIFY_NONE);  // old doc
  Bson reply;
  bson_error_t error;
  if (!mongoc_collection_find_and_modify_with_opts(epochs.get(), selector.get(), opts.get(),
                                                   reply.get(), &error)) {
    connection_->fail(error, "close the epoch");
  }
  bson_iter_t iter;
  bson_iter_t value;
  std::int64_t epoch = 0;
  if (bson_iter_init_find(&iter, reply.get(), "value") &&
      bson_iter_type(&iter) == BSON_TYPE_DOCUMENT && bson_iter_recurse(&iter, &value) &&
      bson_iter_find(&value, "epoch") && BSON_ITER_HOLDS_NUMBER(&value)) {
    epoch = bson_iter_as_int64(&value);
  }
  if (epoch <= 0) {
    connection_->fail(ErrorKind::kInvalid, "close the epoch",
                      std::string("collection ") + kEpochs + " has lost its document");
  }
  start.epoch = static_cast<std::uint64_t>(epoch);
  return start;
}

namespace {

std::uint64_t count_matching(const MongoConnection& connection, const char* collection,
                             const Bson& filter, const char* operation) {
  const PooledClient client = connection.client();
  const CollectionPtr from = client.collection(collection);
  bson_error_t error;
  const std::int64_t n = mongoc_collection_count_documents(from.get(), filter.get(), nullptr,
                                                           nullptr, nullptr, &error);
  if (n < 0) connection.fail(error, operation);
  return static_cast<std::uint64_t>(n);
}

}  // namespace

std::uint64_t MongoStore::count_unsigned_through_epoch(std::uint64_t epoch) {
  // {epoch: {$not: {$gt: E}}}: at most E, or no epoch at all (another tool's document).
  Bson above;
  above.int64("$gt", static_cast<std::int64_t>(epoch));
  Bson not_above;
  not_above.document("$not", above);
  Bson filter;
  filter.document("epoch", not_above);
  return count_matching(*connection_, kRecords, filter, "count records of the start");
}

std::uint64_t MongoStore::count_signed_of_job(std::string_view job_id) {
  Bson filter;
  filter.utf8("job_id", job_id);
  return count_matching(*connection_, kSignedRecords, filter, "count records of the job");
}

// Backfill rewrites documents instead of updating them: it stages a copy with the shard in
// records_backfill, deletes the shardless original, inserts the copy into records, and clears the
// staged copy. Per-document updates would be the obvious way, but FerretDB's SQLite backend finds
// the document of every update by scanning the whole collection (its _id index is not used), so
// backfilling n records cost O(n^2); a page of inserts and id-set deletes is a few scans.
// Each unsigned record is at every instant in records (with or without shard), in
// records_backfill, or in both, so a crash loses nothing: the next backfill first settles what a
// crashed one staged.
// Pods may backfill at once: every step tolerates another pod having done it already.
std::uint64_t MongoStore::backfill_shards() {
  const PooledClient client = connection_->client();
  const CollectionPtr records = client.collection(kRecords);
  const CollectionPtr signed_collection = client.collection(kSignedRecords);
  const CollectionPtr staging = client.collection(kBackfillStaging);
  const MongoConnection& db = *connection_;

  // Re-inserts staged copies whose original is gone (unless signed meanwhile), then clears every
  // staged copy that has a sharded copy in records or is signed. A copy whose shardless original
  // is still in records stays: the page loop below moves that original.
  auto settle_staged = [&]() -> std::uint64_t {
    DocumentPage staged;
    const Bson everything;
    const CursorPtr cursor(
        mongoc_collection_find_with_opts(staging.get(), everything.get(), nullptr, nullptr));
    db.drain(cursor.get(), "backfill (read staged)", [&](const bson_t* doc) {
      if (std::optional<std::string> id = utf8_field(doc, "id")) {
        staged.docs.push_back(std::make_unique<Bson>());
        if (!bson_concat(staged.docs.back()->get(), doc)) {
          db.fail(ErrorKind::kInvalid, "backfill (read staged)", "document too large");
        }
        staged.ids.push_back(std::move(*id));
      }
    });
    if (staged.ids.empty()) return 0;
    const std::vector<std::string_view> ids = staged.sorted_ids();
    const auto signed_ids = db.existing_ids(signed_collection.get(), ids, "backfill (settle)");
    std::unordered_map<std::string, bool> in_records;  // id -> has a shard
    db.for_each_with_id(records.get(), ids, {"shard"}, "backfill (settle)",
                        [&](std::string id, const bson_t* doc) {
                          in_records[std::move(id)] = has_valid_shard(doc);
                        });
    std::vector<std::unique_ptr<Bson>> lost;  // original deleted, copy not yet re-inserted
    std::vector<std::string> settled;
    for (std::size_t i = 0; i < staged.ids.size(); ++i) {
      const std::string& id = staged.ids[i];
      const auto in = in_records.find(id);
      if (signed_ids.contains(id) || (in != in_records.end() && in->second)) {
        settled.push_back(id);
      } else if (in == in_records.end()) {
        lost.push_back(std::move(staged.docs[i]));
        settled.push_back(id);
      }
    }
    const InsertOutcome restored = db.insert_all(records.get(), lost, "backfill (restore staged)");
    db.delete_ids(
        staging.get(),
        sorted_unique_ids(settled, [](const std::string& id) { return std::string_view(id); }),
        false, "backfill (clear staged)");
    return restored.inserted;
  };

  std::uint64_t updated = settle_staged();

  Bson filter;
  {
    Bson string_type;
    string_type.utf8("$type", "string");
    append_shard_needs_repair(filter);
    filter.document("id", string_type);
  }
  Bson opts;
  {
    Bson sort;
    sort.int32("id", 1);
    opts.document("sort", sort).int64("limit", kBackfillPage);
  }
  std::string previous_first;
  for (;;) {
    DocumentPage page;
    {
      const CursorPtr cursor(
          mongoc_collection_find_with_opts(records.get(), filter.get(), opts.get(), nullptr));
      db.drain(cursor.get(), "backfill (read)", [&](const bson_t* doc) {
        std::optional<std::string> id = utf8_field(doc, "id");
        if (!id) return;
        page.docs.push_back(with_shard(doc, *id));
        page.ids.push_back(std::move(*id));
      });
    }
    if (page.ids.empty()) return updated;
    // Each page removes its documents from the filter's reach; the same first id twice means
    // the server ignored a step, and looping again would never end.
    if (page.ids.front() == previous_first) {
      db.fail(ErrorKind::kUnavailable, "backfill",
              "no progress: record " + previous_first + " keeps coming back without a shard");
    }
    previous_first = page.ids.front();
    const std::vector<std::string_view> ids = page.sorted_ids();

    db.insert_all(staging.get(), page.docs, "backfill (stage)");  // duplicates: staged already
    db.delete_ids(records.get(), ids, true, "backfill (delete shardless)");
    fault_point("backfill:deleted");
    // A record signed meanwhile (by a run that read another pod's re-inserted copy) stays signed.
    const auto signed_ids =
        db.existing_ids(signed_collection.get(), ids, "backfill (check signed)");
    std::vector<std::unique_ptr<Bson>> unsigned_copies;
    for (std::size_t i = 0; i < page.ids.size(); ++i) {
      if (!signed_ids.contains(page.ids[i])) unsigned_copies.push_back(std::move(page.docs[i]));
    }
    const InsertOutcome reinserted =
        db.insert_all(records.get(), unsigned_copies, "backfill (re-insert)");
    updated += reinserted.inserted;
    // A duplicate here is a copy another pod re-inserted first (the same msg), or a record an
    // ingest put in while the original was out of `records` (another msg). That ingest finds the
    // staged copy when it checks again after its insert, takes its record back and answers
    // "conflict"; the original, which came first, is re-inserted once its place is free.
    std::vector<std::unique_ptr<Bson>> displaced;
    for (const std::size_t index : reinserted.duplicate_indexes) {
      displaced.push_back(std::move(unsigned_copies[index]));
    }
    restore_displaced(db, displaced, intruder_wait_ms_);
    db.delete_ids(staging.get(), ids, false, "backfill (clear staged)");
  }
}

std::vector<records::UnsignedRecord> MongoStore::read_unsigned(const records::ShardRange& range,
                                                               ReadCursor& cursor,
                                                               std::size_t limit,
                                                               std::size_t byte_limit) {
  cursor.begin_read(range);
  std::vector<records::UnsignedRecord> out;
  if (limit == 0) return out;  // a MongoDB limit of 0 would mean "no limit"

  const auto range_end = static_cast<std::int64_t>(range.end);
  const auto after_shard = static_cast<std::int64_t>(cursor.shard);
  Bson filter;
  if (cursor.id.empty()) {
    // Nothing returned yet: the range from the cursor's shard on, inclusive.
    Bson shard;
    shard.int64("$gte", after_shard).int64("$lt", range_end);
    filter.document("shard", shard);
  } else {
    // After (shard, id) in (shard, id) order: the rest of this shard, then the following shards.
    Bson id_after;
    id_after.utf8("$gt", cursor.id);
    Bson same_shard;
    same_shard.int64("shard", after_shard).document("id", id_after);
    Bson shard_after;
    shard_after.int64("$gt", after_shard).int64("$lt", range_end);
    Bson later_shards;
    later_shards.document("shard", shard_after);
    Bson either;
    either.document("0", same_shard).document("1", later_shards);
    filter.array("$or", either);
  }
  // String ids only, so the cursor (a string) can be placed after every document read. An id of
  // another type (another tool's: a number sorts before the strings, an ObjectId or binary after
  // them) could never be passed by a string cursor; those are listed once the range is read.
  {
    Bson string_type;
    string_type.utf8("$type", "string");
    filter.document("id", string_type);
  }
  Bson opts;
  {
    Bson projection;
    projection.int32("_id", 0).int32("id", 1).int32("msg", 1).int32("shard", 1);
    Bson sort;
    sort.int32("shard", 1).int32("id", 1);
    // Also the batch size, so a whole chunk comes back in one round trip.
    const auto capped = static_cast<std::int32_t>(
        std::min<std::size_t>(limit, std::numeric_limits<std::int32_t>::max()));
    opts.document("projection", projection)
        .document("sort", sort)
        .int64("limit", capped)
        .int32("batchSize", capped);
  }

  out.reserve(std::min<std::size_t>(limit, 4096));
  std::size_t bytes = 0;
  bool budget_reached = false;
  {
    const PooledClient client = connection_->client();
    const CollectionPtr records = client.collection(kRecords);
    const CursorPtr found(
        mongoc_collection_find_with_opts(records.get(), filter.get(), opts.get(), nullptr));
    // Stops consuming at the byte budget; destroying the cursor then discards the rest of the
    // server's batch (at most one 16 MiB reply held by the driver meanwhile).
    connection_->drain_while(found.get(), "read unsigned", [&](const bson_t* doc) {
      std::optional<std::string> id = utf8_field(doc, "id");
      if (!id) return true;  // excluded by the filter
      ++cursor.visited;
      if (const std::optional<std::int64_t> shard = number_field(doc, "shard")) {
        cursor.shard = static_cast<std::uint64_t>(*shard);
      }
      cursor.id = *id;
      std::optional<std::string> msg = utf8_field(doc, "msg");
      if (!msg) {
        cursor.invalid.push_back({std::move(*id), "msg is not a string"});
        return true;
      }
      bytes += id->size() + msg->size();
      out.push_back({std::move(*id), std::move(*msg)});
      budget_reached = bytes >= byte_limit;
      return !budget_reached;
    });
  }
  cursor.exhausted = !budget_reached && cursor.visited < limit;
  if (cursor.exhausted) list_non_string_ids(range, cursor);
  return out;
}

void MongoStore::list_non_string_ids(const records::ShardRange& range, ReadCursor& cursor) {
  Bson shard;
  shard.int64("$gte", static_cast<std::int64_t>(range.begin))
      .int64("$lt", static_cast<std::int64_t>(range.end));
  Bson string_type;
  string_type.utf8("$type", "string");
  Bson not_string;
  not_string.document("$not", string_type);
  Bson filter;
  filter.document("shard", shard).document("id", not_string);
  Bson opts;
  Bson projection;
  projection.int32("_id", 1).int32("id", 1);
  opts.document("projection", projection);
  const PooledClient client = connection_->client();
  const CollectionPtr records = client.collection(kRecords);
  const CursorPtr found(
      mongoc_collection_find_with_opts(records.get(), filter.get(), opts.get(), nullptr));
  connection_->drain(found.get(), "read unsigned (ids not strings)", [&](const bson_t* doc) {
    std::string name = "(not a string)";
    bson_iter_t iter;
    if (bson_iter_init_find(&iter, doc, "_id") && bson_iter_type(&iter) == BSON_TYPE_OID) {
      char hex[25];
      bson_oid_to_string(bson_iter_oid(&iter), hex);
      name = std::string("(_id ") + hex + ")";
    }
    cursor.invalid.push_back({std::move(name), "id is not a string"});
  });
}

MoveResult MongoStore::move_to_signed(std::span<const records::SignedRecord> signed_records) {
  MoveResult result;
  if (signed_records.empty()) return result;
  const PooledClient client = connection_->client();
  const CollectionPtr signed_collection = client.collection(kSignedRecords);
  const CollectionPtr records = client.collection(kRecords);

  // Step 1: insert the signed copies. A duplicate key on `id` means it was signed before.
  std::vector<std::unique_ptr<Bson>> docs;
  docs.reserve(signed_records.size());
  for (const records::SignedRecord& r : signed_records) {
    auto doc = std::make_unique<Bson>();
    doc->utf8("id", r.id)
        .utf8("msg", r.msg)
        .utf8("salt", r.salt)
        .utf8("sign", r.sign)
        .utf8("key", r.key);
    // Only when set: a record signed outside a job keeps exactly the original's fields.
    if (!r.job_id.empty()) doc->utf8("job_id", r.job_id);
    docs.push_back(std::move(doc));
  }
  const InsertOutcome outcome =
      connection_->insert_all(signed_collection.get(), docs, "move (insert signed)");
  result.inserted = outcome.inserted;
  result.already_signed = outcome.duplicates;

  // Step 2: delete the unsigned copies. A crash before this leaves both, which the next move of
  // these ids completes.
  connection_->delete_ids(
      records.get(),
      sorted_unique_ids(signed_records,
                        [](const records::SignedRecord& r) { return std::string_view(r.id); }),
      false, "move (delete unsigned)");
  return result;
}

// Ingest classifies every record against what is stored or came first, like SQLite's one
// transaction does: the first occurrence of an id in the call is the candidate; it is inserted
// unless the id is signed already (or staged by a backfill, whose unsigned copy is out of
// `records` for a moment). A later occurrence, and a candidate that is stored already, is a
// duplicate when its msg equals the stored msg (or, when the id was not stored, the candidate's),
// a conflict otherwise. The unordered insert never sees two documents of one id, so which one is
// kept no longer depends on the server.
// There is no transaction: a move (or a backfill) of the same id may finish between the check and
// the insert. The move deletes the unsigned copy, so the unique index of `records` lets the insert
// through, next to the signed copy. So the inserted ids are looked up again afterwards; one found
// signed or staged is taken back (deleted by the _id this call gave it) and answered like a stored
// one, never "accepted".
IngestResult MongoStore::ingest(std::span<const records::UnsignedRecord> unsigned_records) {
  IngestResult result;
  if (unsigned_records.empty()) return result;
  const std::int64_t epoch = current_epoch();
  const PooledClient client = connection_->client();
  const CollectionPtr signed_collection = client.collection(kSignedRecords);
  const CollectionPtr records = client.collection(kRecords);
  const CollectionPtr staging = client.collection(kBackfillStaging);
  const MongoConnection& db = *connection_;

  std::unordered_map<std::string_view, std::size_t> first;  // id -> position of its candidate
  for (std::size_t i = 0; i < unsigned_records.size(); ++i)
    first.emplace(unsigned_records[i].id, i);
  std::vector<std::string_view> ids;
  ids.reserve(first.size());
  for (const auto& [id, position] : first) ids.push_back(id);
  std::sort(ids.begin(), ids.end());

  // The stored msg of ids found signed or staged (signed copies first), and of the candidates
  // the unique index of `records` refused.
  std::unordered_map<std::string, std::optional<std::string>> stored;
  auto look_up = [&](mongoc_collection_t* collection, std::span<const std::string_view> sorted,
                     const char* operation) {
    if (sorted.empty()) return;
    for (auto& [id, msg] : db.stored_msgs(collection, sorted, operation)) {
      stored.emplace(id, std::move(msg));
    }
  };
  look_up(signed_collection.get(), ids, "ingest (find signed)");
  look_up(staging.get(), ids, "ingest (find staged)");
  fault_point("ingest:checked");

  std::vector<std::unique_ptr<Bson>> docs;
  std::vector<std::size_t> doc_positions;
  std::vector<bson_oid_t> doc_oids;
  for (std::size_t i = 0; i < unsigned_records.size(); ++i) {
    const records::UnsignedRecord& r = unsigned_records[i];
    if (first.at(r.id) != i || stored.contains(r.id)) continue;
    bson_oid_t oid;
    bson_oid_init(&oid, nullptr);
    auto doc = std::make_unique<Bson>();
    doc->oid("_id", oid)
        .utf8("id", r.id)
        .utf8("msg", r.msg)
        .int64("shard", records::shard_of(r.id))
        .int64("epoch", epoch);
    docs.push_back(std::move(doc));
    doc_positions.push_back(i);
    doc_oids.push_back(oid);
  }
  const InsertOutcome outcome = db.insert_all(records.get(), docs, "ingest");
  fault_point("ingest:inserted");
  std::unordered_set<std::size_t> refused;  // candidates not inserted, or taken back
  std::vector<std::string_view> refused_ids;
  for (const std::size_t index : outcome.duplicate_indexes) {
    if (index >= doc_positions.size()) continue;
    refused.insert(doc_positions[index]);
    refused_ids.push_back(unsigned_records[doc_positions[index]].id);
  }

  // Inserted next to a signed or staged copy that a move or backfill made meanwhile: taken back.
  std::vector<std::string_view> inserted_ids;
  for (const std::size_t position : doc_positions) {
    if (!refused.contains(position)) inserted_ids.push_back(unsigned_records[position].id);
  }
  std::sort(inserted_ids.begin(), inserted_ids.end());
  const std::size_t stored_before = stored.size();
  look_up(signed_collection.get(), inserted_ids, "ingest (check signed again)");
  look_up(staging.get(), inserted_ids, "ingest (check staged again)");
  if (stored.size() > stored_before) {
    Bson oids;
    ArrayKey key;
    std::size_t n = 0;
    for (std::size_t k = 0; k < doc_positions.size(); ++k) {
      const std::size_t position = doc_positions[k];
      if (refused.contains(position) || !stored.contains(unsigned_records[position].id)) continue;
      oids.oid(key(n++), doc_oids[k]);
      refused.insert(position);
    }
    Bson in;
    in.array("$in", oids);
    Bson filter;
    filter.document("_id", in);
    Bson reply;
    bson_error_t error;
    if (!mongoc_collection_delete_many(records.get(), filter.get(), nullptr, reply.get(), &error)) {
      db.fail(error, "ingest (take back)");
    }
  }

  if (!refused_ids.empty()) {
    std::sort(refused_ids.begin(), refused_ids.end());
    look_up(records.get(), refused_ids, "ingest (find unsigned)");
    // A refused candidate whose unsigned copy is gone was moved (or staged) meanwhile.
    std::vector<std::string_view> vanished;
    for (const std::string_view id : refused_ids) {
      if (!stored.contains(std::string(id))) vanished.push_back(id);
    }
    look_up(signed_collection.get(), vanished, "ingest (find moved)");
    look_up(staging.get(), vanished, "ingest (find staged)");
  }

  for (std::size_t i = 0; i < unsigned_records.size(); ++i) {
    const records::UnsignedRecord& r = unsigned_records[i];
    const std::size_t candidate = first.at(r.id);
    const bool inserted = candidate == i && !stored.contains(r.id) && !refused.contains(i);
    if (inserted) {
      ++result.accepted;
      continue;
    }
    const auto it = stored.find(r.id);
    if (it != stored.end()) {
      // Stored before this call (or by a concurrent one). A msg that is not a string (another
      // tool wrote it) differs from every msg.
      if (it->second && *it->second == r.msg) {
        ++result.duplicates;
      } else {
        add_conflict(result, i, r.id, false);
      }
    } else if (refused.contains(candidate)) {
      // Refused, and found nowhere since: the caller cannot be told it was stored.
      add_conflict(result, i, r.id, false);
    } else if (unsigned_records[candidate].msg == r.msg) {
      ++result.duplicates;
    } else {
      add_conflict(result, i, r.id, true);
    }
  }
  return result;
}

std::optional<records::SignedRecord> MongoStore::find_signed(std::string_view id) {
  Bson filter;
  filter.utf8("id", id);
  Bson opts;
  signed_read_options(opts);
  opts.int64("limit", 1);

  const PooledClient client = connection_->client();
  const CollectionPtr signed_collection = client.collection(kSignedRecords);
  const CursorPtr found(
      mongoc_collection_find_with_opts(signed_collection.get(), filter.get(), opts.get(), nullptr));
  std::optional<records::SignedRecord> record;
  connection_->drain(found.get(), "find signed", [&](const bson_t* doc) {
    if (!record) record = signed_record_from(doc);
  });
  return record;
}

namespace {

// Streams the signed records that match `filter` to `sink`, in id order.
void stream_signed(MongoConnection& connection, const Bson& filter, const char* operation,
                   const std::function<void(const records::SignedRecord&)>& sink) {
  Bson opts;
  signed_read_options(opts);
  Bson sort;
  sort.int32("id", 1);
  opts.document("sort", sort);
  const PooledClient client = connection.client();
  const CollectionPtr signed_collection = client.collection(kSignedRecords);
  const CursorPtr found(
      mongoc_collection_find_with_opts(signed_collection.get(), filter.get(), opts.get(), nullptr));
  connection.drain(found.get(), operation,
                   [&](const bson_t* doc) { sink(signed_record_from(doc)); });
}

}  // namespace

void MongoStore::for_each_signed(const std::function<void(const records::SignedRecord&)>& sink) {
  stream_signed(*connection_, Bson(), "read signed", sink);
}

void MongoStore::for_each_signed_of_job(
    std::string_view job_id, const std::function<void(const records::SignedRecord&)>& sink) {
  Bson filter;
  if (job_id.empty()) {
    // Records signed outside a job have no job_id field (or, from other tools, an empty one).
    Bson either;
    Bson missing;
    Bson exists;
    exists.boolean("$exists", false);
    missing.document("job_id", exists);
    Bson empty;
    empty.utf8("job_id", "");
    either.document("0", missing).document("1", empty);
    filter.array("$or", either);
  } else {
    filter.utf8("job_id", job_id);
  }
  stream_signed(*connection_, filter, "read signed of job", sink);
}

void MongoStore::save_job(const audit::JobRecord& job) {
  const auto doc = bson_from_json(audit::to_json(job));
  Bson selector;
  selector.utf8("id", job.id);
  Bson opts;
  opts.boolean("upsert", true);
  const PooledClient client = connection_->client();
  const CollectionPtr jobs = client.collection(kJobs);
  Bson reply;
  bson_error_t error;
  if (!mongoc_collection_replace_one(jobs.get(), selector.get(), doc->get(), opts.get(),
                                     reply.get(), &error)) {
    connection_->fail(error, "save job");
  }
}

std::optional<audit::JobRecord> MongoStore::find_job(std::string_view id) {
  Bson filter;
  filter.utf8("id", id);
  Bson opts;
  opts.int64("limit", 1);
  const PooledClient client = connection_->client();
  const CollectionPtr jobs = client.collection(kJobs);
  const CursorPtr found(
      mongoc_collection_find_with_opts(jobs.get(), filter.get(), opts.get(), nullptr));
  std::optional<audit::JobRecord> job;
  connection_->drain(found.get(), "find job", [&](const bson_t* doc) {
    if (!job) job = parse_document(doc, kJobs, audit::job_record_from_json);
  });
  return job;
}

namespace {

// Up to `limit` documents of `collection` that match `filter`, in `sort` order (newest first),
// each parsed by `parse`. A MongoDB limit of 0 would mean "no limit", so 0 reads nothing.
template <typename Parse>
auto newest(MongoConnection& connection, const char* collection, const Bson& filter,
            const Bson& sort, std::size_t limit, const char* what, Parse parse) {
  std::vector<std::invoke_result_t<Parse, const nlohmann::json&>> out;
  if (limit == 0) return out;
  Bson opts;
  opts.document("sort", sort).int64("limit", static_cast<std::int64_t>(limit));
  const PooledClient client = connection.client();
  const CollectionPtr from = client.collection(collection);
  const CursorPtr found(
      mongoc_collection_find_with_opts(from.get(), filter.get(), opts.get(), nullptr));
  connection.drain(found.get(), what, [&](const bson_t* doc) {
    out.push_back(parse_document(doc, collection, parse));
  });
  return out;
}

}  // namespace

std::vector<audit::JobRecord> MongoStore::list_jobs(std::size_t limit) {
  Bson sort;
  sort.int32("started_unix_ms", -1).int32("id", -1);
  return newest(*connection_, kJobs, Bson(), sort, limit, "list jobs", audit::job_record_from_json);
}

void MongoStore::append_audit(const audit::AuditEvent& event) {
  const auto doc = bson_from_json(audit::to_json(event));
  const PooledClient client = connection_->client();
  const CollectionPtr audit_collection = client.collection(kAudit);
  Bson reply;
  bson_error_t error;
  if (!mongoc_collection_insert_one(audit_collection.get(), doc->get(), nullptr, reply.get(),
                                    &error)) {
    connection_->fail(error, "append audit");
  }
}

std::uint64_t MongoStore::prune_audit(std::int64_t before_unix_ms) {
  Bson filter;
  Bson older;
  older.int64("$lt", before_unix_ms);
  filter.document("time", older);
  const PooledClient client = connection_->client();
  const CollectionPtr audit_collection = client.collection(kAudit);
  Bson reply;
  bson_error_t error;
  if (!mongoc_collection_delete_many(audit_collection.get(), filter.get(), nullptr, reply.get(),
                                     &error)) {
    connection_->fail(error, "prune audit");
  }
  return static_cast<std::uint64_t>(number_field(reply.get(), "deletedCount").value_or(0));
}

std::vector<audit::AuditEvent> MongoStore::list_audit(const std::optional<std::string>& job_id,
                                                      std::size_t limit) {
  Bson filter;
  if (job_id) filter.utf8("job_id", *job_id);
  Bson sort;
  // _id (an ObjectId the driver makes: seconds, then a per-process counter) orders events of
  // the same millisecond.
  sort.int32("time", -1).int32("_id", -1);
  return newest(*connection_, kAudit, filter, sort, limit, "list audit",
                audit::audit_event_from_json);
}

}  // namespace signer::store
