#include "store/mongo/mongo_bson.h"

#include <mongoc/mongoc.h>

#include <cstring>

#include "audit/audit_json.h"
#include "records/shard.h"

namespace signer::store::mongo {
namespace {

struct ReadConcernDeleter {
  void operator()(mongoc_read_concern_t* concern) const { mongoc_read_concern_destroy(concern); }
};

struct BsonTextDeleter {
  void operator()(char* text) const { bson_free(text); }
};

}  // namespace

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
  return {utf8_field(doc, "id").value_or(""),     utf8_field(doc, "msg").value_or(""),
          utf8_field(doc, "salt").value_or(""),   utf8_field(doc, "sign").value_or(""),
          utf8_field(doc, "key").value_or(""),    utf8_field(doc, "job_id").value_or(""),
          utf8_field(doc, "scheme").value_or(""), utf8_field(doc, "digest").value_or("")};
}

void signed_read_options(Bson& opts) {
  Bson projection;
  projection.int32("_id", 0).int32("id", 1).int32("msg", 1).int32("salt", 1).int32("sign", 1).int32(
      "key", 1);
  projection.int32("job_id", 1).int32("scheme", 1).int32("digest", 1);
  opts.document("projection", projection);
  append_majority_read(opts);
}

std::unique_ptr<Bson> bson_from_json(const nlohmann::json& json) {
  return bson_from_json_text(audit::dump_line(json));
}

std::unique_ptr<Bson> bson_from_json_text(std::string_view text) {
  auto doc = std::make_unique<Bson>();
  bson_error_t error;
  // The Bson holds an empty initialized document (no heap memory), so re-initializing is safe.
  if (!bson_init_from_json(doc->get(), text.data(), static_cast<ssize_t>(text.size()), &error)) {
    throw StoreError(ErrorKind::kInvalid, std::string("mongodb: cannot encode: ") + error.message);
  }
  return doc;
}

nlohmann::json json_from_bson(const bson_t* doc) {
  std::unique_ptr<char, BsonTextDeleter> text(bson_as_relaxed_extended_json(doc, nullptr));
  if (!text) throw StoreError(ErrorKind::kInvalid, "mongodb: document is not valid BSON");
  nlohmann::json json = nlohmann::json::parse(text.get(), nullptr, false);
  if (json.is_discarded()) throw StoreError(ErrorKind::kInvalid, "mongodb: unreadable document");
  return json;
}

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

}  // namespace signer::store::mongo
