// The write concern of every write the MongoDB store makes: the move (bulk insert into
// signedrecords, deleteMany from records), ingest, backfill, job records and audit events.
// {w: "majority", j: true}: a write is acknowledged only once a majority of the replica set has
// it in its on-disk journal, so a failover (the old primary's unreplicated writes roll back) or a
// crash cannot undo a move that was reported done, which would let the record be signed again.
// On a standalone server "majority" is that one server. FerretDB accepts and ignores it (its
// backend commits each write before answering).
#pragma once

#include <cstdint>
#include <memory>

struct _mongoc_write_concern_t;
struct _mongoc_uri_t;

namespace signer::store {

// What a write concern asks for, read back through libmongoc's getters.
struct WriteConcernSettings {
  bool majority = false;         // w: "majority"
  bool journal = false;          // j: true
  std::int64_t wtimeout_ms = 0;  // 0: wait without limit
};

// Owns a mongoc_write_concern_t set to {w: "majority", j: true, wtimeout: `wtimeout_ms`}.
// `wtimeout_ms` > 0 bounds how long a write waits for the majority (a lost secondary then fails
// the write as kUnavailable, to be retried, instead of hanging it).
class DurableWriteConcern {
 public:
  explicit DurableWriteConcern(std::int64_t wtimeout_ms);
  ~DurableWriteConcern();
  DurableWriteConcern(const DurableWriteConcern&) = delete;
  DurableWriteConcern& operator=(const DurableWriteConcern&) = delete;

  const _mongoc_write_concern_t* get() const { return concern_.get(); }

  // Makes it the default of every client, collection and bulk made from `uri` (and so from the
  // pool built on it). The URI keeps its own copy.
  void apply_to(_mongoc_uri_t* uri) const;

 private:
  struct Deleter {
    void operator()(_mongoc_write_concern_t* concern) const;
  };
  std::unique_ptr<_mongoc_write_concern_t, Deleter> concern_;
};

// The settings of `concern` (nullptr: the server's default, all false).
WriteConcernSettings settings_of(const _mongoc_write_concern_t* concern);

}  // namespace signer::store
