// The embedded store: one SQLite file in WAL mode, zero setup.
// Tables `records` and `signedrecords` use the contract's field names; both have `id` as primary
// key. A batch reads only its shard range: ids in lowercase hex by a range of that key (their id
// order is their shard order), every other id through a partial index on (shard, id).
// A move (insert signed + delete unsigned) is one transaction, so a crash at any instant leaves
// each record in exactly one table. Several processes may share the file: writers take the lock
// with BEGIN IMMEDIATE and wait up to the busy timeout. count() reads one row (signer_counts) kept
// in the transaction of every insert and delete, whoever writes (the store's own writes count
// themselves; every other writer's rows are counted by triggers): O(1), exact.
//
// Ingests of ids spread thin over a large store (random ids posted into millions of records) go
// to a third table, records_inbox, keyed by (shard, id): a small B-tree whose pages the records of
// one ingest share, where in `records` each would dirty a leaf page of its own. Batches read and
// move the inbox's records with those of `records`, and a thread of the store merges the inbox
// into `records` in (shard, id) order once it holds an eighth of the store (docs/ARCHITECTURE.md,
// "The inbox"). An unsigned record is in `records` or in `records_inbox`, never in both.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>

#include "store/store.h"

struct sqlite3;

namespace signer::store {

class SqliteConnection;

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database at `path` and its schema. `synchronous_full` (the
  // default) sets PRAGMA synchronous=FULL on both connections: in WAL mode each commit is then
  // fsynced, so a committed move survives an OS crash or power loss too. false sets NORMAL
  // (fsync only at checkpoints): a commit survives a process crash, but an OS crash may roll back
  // the last commits, and their records are then signed again. NORMAL exists for measurement.
  // Throws StoreError(kUnavailable) when the file cannot be opened or the schema cannot be made,
  // StoreError(kConflict) when a table another tool made holds an id twice (the unique index
  // on id that every move relies on cannot be added), StoreError(kFull) when its disk is full.
  // `inbox_merge_rows` is the least number of records the inbox holds before it is merged into
  // `records` (or an eighth of the unsigned records, when more).
  static constexpr std::uint64_t kInboxMergeRows = 262144;
  explicit SqliteStore(const std::filesystem::path& path, bool synchronous_full = true,
                       std::uint64_t inbox_merge_rows = kInboxMergeRows);
  ~SqliteStore() override;

  std::string describe() const override;

  // The PRAGMA synchronous level of the connection moves and ingests commit through, as SQLite
  // reports it: 1 NORMAL, 2 FULL.
  int synchronous_level();

  void ping() override;
  Counts count() override;
  JobStart start_job() override;
  std::uint64_t count_unsigned_through_epoch(std::uint64_t epoch) override;
  std::uint64_t count_signed_of_job(std::string_view job_id) override;
  std::uint64_t backfill_shards() override;
  std::vector<records::UnsignedRecord> read_unsigned(const records::ShardRange& range,
                                                     ReadCursor& cursor, std::size_t limit,
                                                     std::size_t byte_limit) override;
  using Store::read_unsigned;
  MoveResult move_to_signed(std::span<const records::SignedRecord> signed_records) override;
  IngestResult ingest(std::span<const records::UnsignedRecord> unsigned_records) override;
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
  // Adds a write's own changes to the kept counts, in its transaction (the writer connection runs
  // with triggers off; sqlite_store.cpp, kCountTable). Caller holds write_mutex_.
  void add_counts(std::int64_t unsigned_delta, std::int64_t signed_delta);
  // The bodies of the outcomes stored for `job_id`, in order. Caller holds read_mutex_.
  std::vector<std::string> outcome_bodies(std::string_view job_id);
  // The merging thread: merges the whole inbox into `records` each time an ingest asks
  // (request_merge), a chunk a transaction, until `stop`.
  void merge_loop(std::stop_token stop);
  // Merges the inbox's first records, in (shard, id) order, into `records` in one transaction.
  // Returns whether any are left.
  bool merge_inbox_chunk();
  void request_merge();
  // Whether an inbox of `inbox` records in a store of `unsigned_records` is due a merge.
  bool inbox_due(std::int64_t inbox, std::int64_t unsigned_records) const;

  std::filesystem::path path_;
  // Writes (and batch reads) go through one connection, reads for the API through another, so
  // /stats and lookups are not queued behind a move transaction (WAL lets them run side by side).
  std::mutex write_mutex_;
  std::unique_ptr<SqliteConnection> writer_;
  std::mutex read_mutex_;
  std::unique_ptr<SqliteConnection> reader_;
  // count() alone: /stats reads one row, and must not queue behind a scan on the reader (a job's
  // count_signed_of_job reads every record it signed, 2 s at 10M records).
  std::mutex counter_mutex_;
  std::unique_ptr<SqliteConnection> counter_;
  // The inbox's rows as this process last knew them (other processes' ingests and merges are not
  // seen): when to merge, not what to read.
  std::atomic<std::int64_t> inbox_rows_{0};
  const std::uint64_t inbox_merge_rows_;
  std::mutex merge_mutex_;
  std::condition_variable_any merge_cv_;
  bool merge_wanted_ = false;  // guarded by merge_mutex_
  // Last, so it stops (and joins) before the connections it writes through close.
  std::jthread merger_;
};

}  // namespace signer::store
