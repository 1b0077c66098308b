#include "store/mongo/durable_write_concern.h"

#include <mongoc/mongoc.h>

namespace signer::store {

void DurableWriteConcern::Deleter::operator()(mongoc_write_concern_t* concern) const {
  mongoc_write_concern_destroy(concern);
}

DurableWriteConcern::DurableWriteConcern(std::int64_t wtimeout_ms)
    : concern_(mongoc_write_concern_new()) {
  mongoc_write_concern_set_w(concern_.get(), MONGOC_WRITE_CONCERN_W_MAJORITY);
  mongoc_write_concern_set_journal(concern_.get(), true);
  if (wtimeout_ms > 0) mongoc_write_concern_set_wtimeout_int64(concern_.get(), wtimeout_ms);
}

DurableWriteConcern::~DurableWriteConcern() = default;

void DurableWriteConcern::apply_to(mongoc_uri_t* uri) const {
  mongoc_uri_set_write_concern(uri, concern_.get());
}

WriteConcernSettings settings_of(const mongoc_write_concern_t* concern) {
  WriteConcernSettings settings;
  if (!concern) return settings;
  settings.majority = mongoc_write_concern_get_wmajority(concern);
  settings.journal =
      mongoc_write_concern_journal_is_set(concern) && mongoc_write_concern_get_journal(concern);
  settings.wtimeout_ms = mongoc_write_concern_get_wtimeout_int64(concern);
  return settings;
}

}  // namespace signer::store
