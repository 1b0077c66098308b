// The MongoDB store's BSON codec: an owned document (Bson), the filters and options its queries
// share (id sets cut for FerretDB, shards that need repair, majority reads), readers of typed
// fields, and the crossing of job records and audit events between JSON and BSON.
#pragma once

#include <bson/bson.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "records/record.h"
#include "store/store.h"

namespace signer::store::mongo {

// Id lists are cut to this many ids, so a command stays far below the 16 MiB BSON limit.
constexpr std::size_t kIdsPerCommand = 10000;
// Ids per $in group of an id-set filter (see append_id_set). Deleting a 10000-id page from 10000
// documents on FerretDB took 7.7 s with groups of 64, ~3 s with 256 or unsplit, 1.7 s with 1024.
constexpr std::size_t kIdsPerGroup = 1024;

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
void append_shard_needs_repair(Bson& filter);

void append_majority_read(Bson& opts);

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
void append_id_set(Bson& filter, std::span<const std::string_view> sorted_ids);

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

// The string field `key` of `doc`; nullopt when it is missing or not a string.
std::optional<std::string> utf8_field(const bson_t* doc, const char* key);

// A numeric field of any BSON number type (another tool may have written shard as a double).
std::optional<std::int64_t> number_field(const bson_t* doc, const char* key);

// A signed record from a document of signedrecords (a missing field reads as "").
records::SignedRecord signed_record_from(const bson_t* doc);

// The options of every read of signed records: their fields, and read concern "majority", so a
// record given to a caller has reached a majority and cannot be rolled back by a failover.
void signed_read_options(Bson& opts);

// Job records and audit events are nested documents whose shape audit/audit_json.h owns; they
// cross into BSON through JSON (integers stay int32/int64, strings stay UTF-8).
std::unique_ptr<Bson> bson_from_json(const nlohmann::json& json);
// The same from JSON text (audit::job_fields_text). Throws StoreError(kInvalid) when it is not
// valid.
std::unique_ptr<Bson> bson_from_json_text(std::string_view text);

// A document as JSON (relaxed extended JSON). Throws StoreError(kInvalid) when it is not valid.
nlohmann::json json_from_bson(const bson_t* doc);

// parse(json_from_bson(doc)); any failure but a StoreError becomes StoreError(kInvalid) naming
// `collection`.
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

// A copy of `doc` (every field, _id included) with shard = shard_of(`id`).
std::unique_ptr<Bson> with_shard(const bson_t* doc, std::string_view id);

}  // namespace signer::store::mongo
