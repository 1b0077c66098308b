// The second shared store: PostgreSQL through libpq. Tables `records` and `signedrecords` carry
// the contract's column names; `id` is the primary key of both (so unique), with the "C"
// collation so the server orders ids bytewise as every other store does, and `records` has an
// index on (shard, id) so a batch reads only its shard range as an index range scan.
// Every operation on a chunk is one statement over arrays (one round trip per chunk, not one per
// record). A move is one transaction, so a crash or a dropped connection at any instant leaves
// each record in exactly one table. Thread-safe: each operation borrows a connection from a pool
// (one per calling thread) with its own prepared statements.
// The schema is versioned (table signer_schema) and created or migrated under an advisory lock,
// so pods starting together agree and a later release can migrate it. count() sums 32 slots
// (signer_counts) that statement triggers keep in the transaction of every insert, delete and
// truncate, whoever writes: O(1), exact.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"
#include "store/store_factory.h"

namespace signer::store {

namespace pg {
class Pool;
}

// How move_to_signed writes a chunk (all three are one transaction; see docs/PERFORMANCE.md for
// the measurement that chose the default).
enum class PgMoveStrategy {
  kInsertAndDeleteOneStatement,  // WITH ins AS (INSERT … ON CONFLICT DO NOTHING), del AS (DELETE)
  kInsertThenDelete,             // BEGIN; INSERT …; DELETE …; COMMIT: two statements
  kDeleteReturningInsert,        // WITH moved AS (DELETE … RETURNING) INSERT … FROM moved
};

class PostgresStore final : public Store {
 public:
  // The schema version this build creates and reads.
  static constexpr int kSchemaVersion = 3;

  // Connects to options.url ("postgres://…" or "postgresql://…"; libpq honours its sslmode and
  // other parameters). options.pg_password, when set, replaces the URL's password. Connecting
  // times out after options.timeout_ms and each statement after options.statement_timeout_ms.
  // Creates or migrates the schema before returning.
  // Throws StoreError(kInvalid) for a URL libpq cannot parse, a non-positive timeout, or a
  // database whose schema is newer than this build; StoreError(kUnavailable) when the server
  // cannot be reached or refuses the credentials. Messages never carry the password.
  explicit PostgresStore(
      const StoreOptions& options,
      PgMoveStrategy move_strategy = PgMoveStrategy::kInsertAndDeleteOneStatement);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  std::string describe() const override;

  // The schema version stored in the database.
  int schema_version();

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
  // One transaction that inserts, then looks at signedrecords again with a new snapshot: an
  // insert that waited on a move of the same id (and so went through once the move deleted the
  // unsigned copy) is taken back and answered as a conflict or duplicate.
  // A msg holding a NUL character cannot be stored in a PostgreSQL text column: such a call
  // throws StoreError(kInvalid) naming the record, before anything is written.
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
  void migrate();
  // Streams signedrecords in id order, `page` rows per statement, where job_id = *job_id if set.
  void stream_signed(const std::optional<std::string_view>& job_id,
                     const std::function<void(const records::SignedRecord&)>& sink);

  std::string description_;
  PgMoveStrategy move_strategy_;
  std::unique_ptr<pg::Pool> pool_;
};

}  // namespace signer::store
