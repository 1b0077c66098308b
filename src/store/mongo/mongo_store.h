// The cluster store: MongoDB (or a wire-compatible server such as FerretDB) through libmongoc.
// Database `msg-signer`, collections `records` and `signedrecords` with the contract's field names
// (DESIGN.md §2). Both have a unique index on `id`; `records` also has {shard: 1, id: 1}, so a
// batch reads only its own slice of shards. Documents written by the original's generator
// ({id, msg, sign: "", key: ""}, no `shard`) are read as they are and get a shard from
// backfill_shards().
// A move is two steps, an unordered bulk insert into signedrecords and then deleteMany on records.
// A crash between them leaves the record in both; the unique index turns the next insert of that
// id into a duplicate-key error, which counts as "already signed", and the delete completes it.
// backfill_shards() rewrites shardless documents through a third collection, records_backfill,
// instead of updating them one by one (see docs/MONGODB.md: FerretDB makes per-document updates
// cost a collection scan each).
// Thread-safe: every operation borrows its own client from a pool and returns it when done.
// Split like store/postgres/: mongo_connection (the pool, errors, the reads and writes queries
// share), mongo_bson (the BSON codec and shared filters), and the queries here.
#pragma once

#include <memory>
#include <string>

#include "store/mongo/durable_write_concern.h"
#include "store/store.h"
#include "store/store_factory.h"

namespace signer::store {

namespace mongo {
class Connection;
}  // namespace mongo

class MongoStore final : public Store {
 public:
  // Connects to options.url ("mongodb://…" or "mongodb+srv://…"), applying options.mongo_user and
  // options.mongo_password (BS_MONGO_USER / BS_MONGO_PWD) over the URL's credentials when they are
  // set. Connect and server selection time out after options.timeout_ms; a running operation's
  // socket after max(60 s, 4 x timeout_ms) unless the URL sets socketTimeoutMS.
  // Pings the server and creates the indexes before returning.
  // Throws StoreError(kInvalid) for a URL libmongoc cannot parse or a timeout_ms <= 0, and
  // StoreError(kUnavailable) when the server does not answer or refuses the credentials within the
  // timeout. When it answers but index creation fails, the error keeps its kind (kConflict: the
  // data already breaks a unique index; kInvalid: a conflicting index of the same name).
  // Messages carry the URL with its password redacted, never the password itself.
  explicit MongoStore(const StoreOptions& options);
  ~MongoStore() override;
  MongoStore(const MongoStore&) = delete;
  MongoStore& operator=(const MongoStore&) = delete;

  std::string describe() const override;

  // The write concern its writes go out with, read back from a bulk write made the way the move
  // and ingest make theirs: {w: "majority", j: true}, wtimeout = the socket timeout.
  WriteConcernSettings write_concern() const;

  // The options every read of signed records goes out with, as relaxed extended JSON: their
  // fields, and readConcern {level: "majority"}.
  static std::string signed_read_options_json();

  void ping() override;
  Counts count() override;
  // Counts, then closes the epoch (no transaction: see Store::start_job).
  JobStart start_job() override;
  std::uint64_t count_unsigned_through_epoch(std::uint64_t epoch) override;
  std::uint64_t count_signed_of_job(std::string_view job_id) override;
  std::uint64_t backfill_shards() override;
  std::vector<records::UnsignedRecord> read_unsigned(const records::ShardRange& range,
                                                     ReadCursor& cursor, std::size_t limit,
                                                     std::size_t byte_limit) override;
  using Store::read_unsigned;
  MoveResult move_to_signed(std::span<const records::SignedRecord> signed_records) override;
  // Checks signedrecords, inserts into records (whose unique index refuses an unsigned copy),
  // then looks at signedrecords and the backfill's staged copies again: an insert that raced a
  // move or a backfill of the same id is taken back and answered as a conflict (or duplicate).
  IngestResult ingest(std::span<const records::UnsignedRecord> unsigned_records) override;
  // Signed records are read with read concern "majority": what a caller is given has reached a
  // majority of the replica set, so a failover cannot roll it back and have it signed again
  // with another salt.
  std::optional<records::SignedRecord> find_signed(std::string_view id) override;
  void for_each_signed(const std::function<void(const records::SignedRecord&)>& sink) override;
  void for_each_signed_of_job(
      std::string_view job_id,
      const std::function<void(const records::SignedRecord&)>& sink) override;
  using Store::find_job;
  using Store::save_job;
  void save_job(const audit::JobRecord& job, std::uint64_t first_outcome) override;
  std::optional<audit::JobRecord> find_job(std::string_view id, bool with_outcomes) override;
  std::vector<audit::JobRecord> list_jobs(std::size_t limit) override;
  void append_audit(const audit::AuditEvent& event) override;
  std::uint64_t prune_audit(std::int64_t before_unix_ms) override;
  std::vector<audit::AuditEvent> list_audit(const std::optional<std::string>& job_id,
                                            std::size_t limit) override;

 private:
  // Appends the outcomes stored for `job` to job.results, in their order.
  void add_outcomes(audit::JobRecord& job);
  void fault_point(std::string_view point) const {
    if (fault_hook_) fault_hook_(point);
  }
  // The epoch ingests stamp their records with now.
  std::int64_t current_epoch();
  // Lists in cursor.invalid every record of `range` whose id is not a string.
  void list_non_string_ids(const records::ShardRange& range, ReadCursor& cursor);

  std::string description_;
  std::unique_ptr<mongo::Connection> connection_;
  FaultHook fault_hook_;
  int intruder_wait_ms_;
};

}  // namespace signer::store
