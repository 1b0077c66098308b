#include "store/mongo/mongo_store.h"

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "audit/audit_json.h"
#include "records/shard.h"
#include "store/mongo/durable_write_concern.h"
#include "store/mongo/mongo_bson.h"
#include "store/mongo/mongo_connection.h"

namespace signer::store {
namespace {

using mongo::ArrayKey;
using mongo::Bson;
using mongo::bson_from_json;
using mongo::bson_from_json_text;
using mongo::BulkPtr;
using mongo::CollectionPtr;
using mongo::Connection;
using mongo::CursorPtr;
using mongo::FindAndModifyOptsDeleter;
using mongo::has_valid_shard;
using mongo::InsertOutcome;
using mongo::json_from_bson;
using mongo::kDatabase;
using mongo::kind_of;
using mongo::number_field;
using mongo::parse_document;
using mongo::PooledClient;
using mongo::signed_read_options;
using mongo::signed_record_from;
using mongo::sorted_unique_ids;
using mongo::utf8_field;
using mongo::with_shard;

constexpr const char* kRecords = "records";
constexpr const char* kSignedRecords = "signedrecords";
constexpr const char* kJobs = "jobs";
// A job's outcomes, {job_id, seq, batch, pod, ...}: one document each (store.h, save_job).
constexpr const char* kJobResults = "job_results";
constexpr const char* kAudit = "audit";
// Copies of records whose shard backfill_shards() is adding; empty except during a backfill.
constexpr const char* kBackfillStaging = "records_backfill";
// One document, {_id: "ingest", epoch: N}: the epoch ingests stamp records with (store.h).
constexpr const char* kEpochs = "signer_epoch";
constexpr const char* kEpochId = "ingest";
constexpr std::int64_t kBackfillPage = 10000;

}  // namespace

namespace {

// One createIndexes command per index: FerretDB 1.24 panics (and drops the connection) when one
// command lists several indexes of which more than one already exists.
void create_indexes(const Connection& connection) {
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
  create(kJobResults, "job_id_1_seq_1", true, {"job_id", "seq"});
  create(kAudit, "job_id_1_time_1", false, {"job_id", "time"});
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
void restore_displaced(const Connection& db, std::vector<std::unique_ptr<Bson>>& copies,
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
      connection_(std::make_unique<Connection>(options, description_)),
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

std::uint64_t count_matching(const Connection& connection, const char* collection,
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
  const Connection& db = *connection_;

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
    // Likewise: a raw record has neither, so the original's readers see its five fields.
    if (!r.scheme.empty()) doc->utf8("scheme", r.scheme);
    if (!r.digest.empty()) doc->utf8("digest", r.digest);
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
  const Connection& db = *connection_;

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
void stream_signed(Connection& connection, const Bson& filter, const char* operation,
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

void MongoStore::save_job(const audit::JobRecord& job, std::uint64_t first_outcome) {
  const PooledClient client = connection_->client();
  if (!job.results.empty()) {
    // The outcomes first: a job's record never names a state its outcomes have not reached.
    // Inserted, as they are new but for a save sent again; a number already stored is replaced
    // (one round trip each, the rare case: an upsert bulk is the slower path on every server).
    const CollectionPtr results = client.collection(kJobResults);
    std::vector<std::unique_ptr<Bson>> docs;
    docs.reserve(job.results.size());
    for (std::size_t i = 0; i < job.results.size(); ++i) {
      nlohmann::json body = audit::to_json(job.results[i]);
      body["job_id"] = job.id;
      body["seq"] = static_cast<std::int64_t>(first_outcome + i);
      docs.push_back(bson_from_json(body));
    }
    const InsertOutcome inserted =
        connection_->insert_all(results.get(), docs, "save job outcomes");
    for (const std::size_t i : inserted.duplicate_indexes) {
      Bson selector;
      selector.utf8("job_id", job.id).int64("seq", static_cast<std::int64_t>(first_outcome + i));
      Bson reply;
      bson_error_t error;
      if (!mongoc_collection_replace_one(results.get(), selector.get(), docs[i]->get(), nullptr,
                                         reply.get(), &error)) {
        connection_->fail(error, "save job outcome");
      }
    }
  }
  const auto doc = bson_from_json_text(audit::job_fields_text(job));
  Bson selector;
  selector.utf8("id", job.id);
  Bson opts;
  opts.boolean("upsert", true);
  const CollectionPtr jobs = client.collection(kJobs);
  Bson reply;
  bson_error_t error;
  if (!mongoc_collection_replace_one(jobs.get(), selector.get(), doc->get(), opts.get(),
                                     reply.get(), &error)) {
    connection_->fail(error, "save job");
  }
}

void MongoStore::add_outcomes(audit::JobRecord& job) {
  Bson filter;
  filter.utf8("job_id", job.id);
  Bson sort;
  sort.int32("seq", 1);
  Bson opts;
  opts.document("sort", sort);
  const PooledClient client = connection_->client();
  const CollectionPtr results = client.collection(kJobResults);
  const CursorPtr found(
      mongoc_collection_find_with_opts(results.get(), filter.get(), opts.get(), nullptr));
  connection_->drain(found.get(), "find job outcomes", [&](const bson_t* doc) {
    job.results.push_back(parse_document(doc, kJobResults, audit::batch_outcome_from_json));
  });
}

std::optional<audit::JobRecord> MongoStore::find_job(std::string_view id, bool with_outcomes) {
  Bson filter;
  filter.utf8("id", id);
  Bson opts;
  opts.int64("limit", 1);
  std::optional<audit::JobRecord> job;
  {
    const PooledClient client = connection_->client();
    const CollectionPtr jobs = client.collection(kJobs);
    const CursorPtr found(
        mongoc_collection_find_with_opts(jobs.get(), filter.get(), opts.get(), nullptr));
    connection_->drain(found.get(), "find job", [&](const bson_t* doc) {
      if (!job) job = parse_document(doc, kJobs, audit::job_record_from_json);
    });
  }
  // A job saved before its outcomes had documents holds them in its own.
  if (job && with_outcomes) {
    add_outcomes(*job);
  } else if (job) {
    job->results.clear();
  }
  return job;
}

namespace {

// Up to `limit` documents of `collection` that match `filter`, in `sort` order (newest first),
// each parsed by `parse`. A MongoDB limit of 0 would mean "no limit", so 0 reads nothing.
template <typename Parse>
auto newest(Connection& connection, const char* collection, const Bson& filter, const Bson& sort,
            std::size_t limit, const char* what, Parse parse) {
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
  std::vector<audit::JobRecord> jobs =
      newest(*connection_, kJobs, Bson(), sort, limit, "list jobs", audit::job_record_from_json);
  for (audit::JobRecord& job : jobs) add_outcomes(job);
  return jobs;
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
