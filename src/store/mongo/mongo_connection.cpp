#include "store/mongo/mongo_connection.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>

#include "store/mongo/durable_write_concern.h"

namespace signer::store::mongo {
namespace {

constexpr const char* kAppName = "message-signer";
constexpr std::uint32_t kMaxPoolSize = 32;
constexpr std::int64_t kMinSocketTimeoutMs = 60000;

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

}  // namespace

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

Connection::Connection(const StoreOptions& options, const std::string& description) {
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

  const std::int64_t socket_timeout =
      std::min<std::int64_t>(std::max<std::int64_t>(kMinSocketTimeoutMs, 4LL * options.timeout_ms),
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

void Connection::fail(const bson_error_t& error, std::string_view operation) const {
  fail(kind_of(error), operation, error.message);
}

void Connection::fail(ErrorKind kind, std::string_view operation, std::string_view message) const {
  throw StoreError(kind, scrub("mongodb " + std::string(operation) + ": " + std::string(message)));
}

BulkPtr Connection::unordered_bulk(mongoc_collection_t* collection) const {
  Bson opts;
  opts.boolean("ordered", false);
  return BulkPtr(mongoc_collection_create_bulk_operation_with_opts(collection, opts.get()));
}

InsertOutcome Connection::execute_inserts(mongoc_bulk_operation_t* bulk, std::size_t expected,
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

InsertOutcome Connection::insert_all(mongoc_collection_t* collection,
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

std::unordered_set<std::string> Connection::existing_ids(
    mongoc_collection_t* collection, std::span<const std::string_view> sorted_ids,
    std::string_view operation) const {
  std::unordered_set<std::string> found;
  for_each_with_id(collection, sorted_ids, {}, operation,
                   [&](std::string id, const bson_t*) { found.insert(std::move(id)); });
  return found;
}

std::unordered_map<std::string, std::optional<std::string>> Connection::stored_msgs(
    mongoc_collection_t* collection, std::span<const std::string_view> sorted_ids,
    std::string_view operation) const {
  std::unordered_map<std::string, std::optional<std::string>> found;
  for_each_with_id(collection, sorted_ids, {"msg"}, operation,
                   [&](std::string id, const bson_t* doc) {
                     found.emplace(std::move(id), utf8_field(doc, "msg"));
                   });
  return found;
}

std::uint64_t Connection::delete_ids(mongoc_collection_t* collection,
                                     std::span<const std::string_view> sorted_ids,
                                     bool only_without_shard, std::string_view operation) const {
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

void Connection::remember_secret(std::string secret) {
  // Very short secrets would turn scrubbing into mangling every message; they protect little.
  if (secret.size() >= 3) secrets_.push_back(std::move(secret));
}

std::string Connection::scrub(std::string message) const {
  for (const std::string& secret : secrets_) {
    for (std::size_t at = message.find(secret); at != std::string::npos;
         at = message.find(secret, at + 3)) {
      message.replace(at, secret.size(), "***");
    }
  }
  return message;
}

}  // namespace signer::store::mongo
