// The storage interface a batch needs, implemented by SQLite (embedded) and MongoDB (cluster).
// It speaks records and shard ranges, never SQL or BSON. Every implementation keeps the move
// invariant: at any instant a record is unsigned in `records`, signed once in `signedrecords`,
// or (MongoDB only, between the two steps of a move) in both; it is never in neither.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_event.h"
#include "audit/job_record.h"
#include "records/record.h"
#include "records/shard.h"

namespace signer::store {

// What kind of failure a store operation had, so callers know whether to retry.
enum class ErrorKind {
  kUnavailable,  // connection, timeout, busy: retrying later may succeed
  kConflict,     // a uniqueness rule was broken in a way the operation could not absorb
  kInvalid,      // bad input or bad configuration: retrying will not help
  kFull,         // the store's disk (or quota) is full: retrying helps only once space is freed
};

std::string_view to_string(ErrorKind kind);

class StoreError : public std::runtime_error {
 public:
  StoreError(ErrorKind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

struct Counts {
  std::uint64_t unsigned_records = 0;
  std::uint64_t signed_records = 0;
};

// An unsigned record that cannot be signed, written by another tool: its msg (or id) is not a
// string. read_unsigned passes over it and reports it; it stays in records.
struct InvalidRecord {
  std::string id;  // "(not a string)" when the id itself is not one
  std::string reason;
};

// Where a chunked read of a shard range goes on from: after (shard, id) in (shard, id) order.
struct ReadCursor {
  std::uint64_t shard = 0;
  std::string id;
  bool started = false;
  // Filled by each read_unsigned call (cleared at its start): the invalid records it passed over,
  // how many stored records it went through, valid or not, and whether the store found the end
  // of the range. Only the store decides that the range is exhausted: a caller that inferred it
  // from counts of its own (records or bytes returned) would end a batch early whenever the
  // store cut a read for a reason the caller cannot see, such as a row it did not return.
  std::vector<InvalidRecord> invalid;
  std::size_t visited = 0;
  bool exhausted = false;

  // What every read_unsigned does first: a cursor not started yet begins at `range`'s first
  // shard, and the per-read fields are cleared.
  void begin_read(const records::ShardRange& range) {
    if (!started) {
      shard = range.begin;
      id.clear();
      started = true;
    }
    invalid.clear();
    visited = 0;
    exhausted = false;
  }
};

// No limit on the bytes read_unsigned returns.
inline constexpr std::size_t kNoByteLimit = static_cast<std::size_t>(-1);

struct MoveResult {
  std::uint64_t inserted = 0;        // newly written to signedrecords
  std::uint64_t already_signed = 0;  // id was in signedrecords already; unsigned copy deleted
};

// A record of an ingest whose id is taken by a record with a different msg.
struct IngestConflict {
  std::size_t position = 0;  // its index in the span given to ingest()
  std::string id;
  // true: the id was not stored before this call, and an earlier record of the same call (which
  // won) has another msg; false: the stored record (unsigned or signed) has another msg.
  bool within_call = false;
};

// ingest() lists at most this many conflicts; IngestResult::conflicts counts them all.
inline constexpr std::size_t kMaxListedConflicts = 100;

struct IngestResult {
  std::uint64_t accepted = 0;
  std::uint64_t duplicates = 0;  // same id and same msg as a stored (or earlier) record
  std::uint64_t conflicts = 0;   // same id, different msg: skipped, the stored record unchanged
  std::vector<IngestConflict> conflict_list;  // the first kMaxListedConflicts, in call order
};

// Counts a conflict in `result` and lists it while fewer than kMaxListedConflicts are listed.
void add_conflict(IngestResult& result, std::size_t position, std::string_view id,
                  bool within_call);

// What a job starts from: both counts, and the ingest epoch they close. Every record counted in
// `counts.unsigned_records` carries an ingest epoch <= `epoch` (records written by other tools
// carry none and count as epoch 0); every record ingested after the counts gets a larger one.
// So count_unsigned_through_epoch(epoch) at the end of the job counts exactly the records of its
// start that are still unsigned, however many were ingested meanwhile.
struct JobStart {
  Counts counts;
  std::uint64_t epoch = 0;
};

// Fault injection, DuckDB style: a store calls the hook, when one is set, at the named points
// between the round trips of its multi-step operations, so a test can make another client act
// exactly there (a concurrent move, a crash) instead of hoping for the interleaving. Production
// never sets it. Points: "ingest:checked" (MongoDB: signed copies looked up, nothing inserted),
// "ingest:inserted" (MongoDB: inserted, not yet checked again), "backfill:deleted" (MongoDB:
// shardless originals deleted, copies not yet re-inserted).
using FaultHook = std::function<void(std::string_view point)>;

// Parse the JSON body a SQL store keeps a job or an audit event in. Stored rows are the store's
// own; a body that no longer parses was edited by hand: StoreError(kInvalid) naming `where`.
audit::JobRecord job_from_stored_body(const std::string& body, std::string_view where);
audit::AuditEvent audit_event_from_stored_body(const std::string& body, std::string_view where);
audit::BatchOutcome outcome_from_stored_body(const std::string& body, std::string_view where);
std::vector<audit::AuditEvent> audit_events_from_stored_bodies(
    const std::vector<std::string>& bodies, std::string_view where);

class Store {
 public:
  virtual ~Store() = default;

  // A short description for logs ("sqlite:/path", "mongodb://host:port"), never credentials.
  virtual std::string describe() const = 0;

  // Checks that the store answers. Throws StoreError(kUnavailable) when it does not.
  virtual void ping() = 0;

  // Counts both collections, exactly (as of the last committed write). SQLite and PostgreSQL read
  // counts their triggers keep, in O(1); MongoDB counts the documents (docs/API.md, /stats).
  virtual Counts count() = 0;

  // Counts both collections and closes the current ingest epoch (see JobStart), atomically
  // with respect to ingest on SQLite and PostgreSQL. On MongoDB, which has no transaction here,
  // an ingest still in flight while the job starts may put records of the closed epoch into the
  // store after the counts: the end-of-job check then counts them as records of the start, so it
  // can only err towards failing a job, never towards hiding a record it missed.
  virtual JobStart start_job() = 0;

  // Unsigned records whose ingest epoch is at most `epoch` (or that carry none).
  virtual std::uint64_t count_unsigned_through_epoch(std::uint64_t epoch) = 0;

  // Signed records stamped with `job_id`: what the job really moved, whichever attempt did it.
  virtual std::uint64_t count_signed_of_job(std::string_view job_id) = 0;

  // Gives every unsigned record whose shard is missing, not a number, not a whole number, or
  // outside [0, 2^32) its shard_of(id), so some batch reads it exactly once. Returns how many it
  // updated. SQLite reads an id in lowercase hex by the id itself, whatever its shard column
  // holds, so it updates only the other ids.
  virtual std::uint64_t backfill_shards() = 0;

  // Returns up to `limit` unsigned records whose shard is in `range`, in (shard, id) order,
  // strictly after `cursor`, and advances `cursor` past the last one it went through. It also
  // stops once the records returned hold `byte_limit` bytes of id and msg or more, so a chunk of
  // large messages stays bounded in memory; a first record larger than `byte_limit` is still
  // returned, alone. Records that cannot be signed are skipped and listed in cursor.invalid.
  // Sets cursor.exhausted when no record of `range` is left after the cursor; a read that is not
  // exhausted has moved the cursor past at least one record (cursor.visited > 0).
  virtual std::vector<records::UnsignedRecord> read_unsigned(const records::ShardRange& range,
                                                             ReadCursor& cursor, std::size_t limit,
                                                             std::size_t byte_limit) = 0;
  // read_unsigned without a byte limit.
  std::vector<records::UnsignedRecord> read_unsigned(const records::ShardRange& range,
                                                     ReadCursor& cursor, std::size_t limit) {
    return read_unsigned(range, cursor, limit, kNoByteLimit);
  }

  // Writes `signed_records` to signedrecords and deletes their ids from records. A record whose id
  // is already signed is not written again, only deleted from records. SQLite does this in one
  // transaction; MongoDB inserts first and deletes second, so a crash between the two leaves both
  // copies, which the next move of that id completes.
  virtual MoveResult move_to_signed(std::span<const records::SignedRecord> signed_records) = 0;

  // Adds unsigned records. A record whose id is already stored (in records or signedrecords) or
  // appears earlier in the same call is skipped: a duplicate when its msg equals the msg of that
  // stored (or, when none is stored, earlier) record, a conflict when it differs. The stored
  // record is never changed, and within one call the first occurrence of an id wins.
  // An ingest that races a move of the same id is answered by what the move left: a conflict
  // (or duplicate) against the signed copy, never "accepted" next to it. After any interleaving
  // no id is unsigned and signed with different messages. Each call is atomic on SQLite and
  // PostgreSQL: a failed call stores nothing.
  // Callers validate ids and messages first (records::unsigned_record_from_json).
  virtual IngestResult ingest(std::span<const records::UnsignedRecord> unsigned_records) = 0;

  // Returns the signed record with `id`, if any.
  virtual std::optional<records::SignedRecord> find_signed(std::string_view id) = 0;

  // Calls `sink` for every signed record, in id order, streaming (not all in memory at once).
  virtual void for_each_signed(const std::function<void(const records::SignedRecord&)>& sink) = 0;

  // ---- provenance, jobs and the audit trail (shared by every pod through the store) ----

  // Calls `sink` for every signed record whose job_id is `job_id`, in id order, streaming.
  // Uses an index on job_id. An empty `job_id` visits the records signed outside any job.
  virtual void for_each_signed_of_job(
      std::string_view job_id, const std::function<void(const records::SignedRecord&)>& sink) = 0;

  // Inserts `job`, or replaces the stored job with the same id (an upsert), and stores
  // job.results as the job's outcomes number first_outcome, first_outcome + 1, ... (numbered in
  // the order their batches ended), each replacing any outcome stored under its number. Outcomes
  // are rows (documents) of their own, never part of the job's: a save writes what is new since
  // the last, not the job's whole history, so neither the saver's memory nor a save's cost grows
  // with the batches, and no job outgrows MongoDB's 16 MB document. The coordinator calls it at
  // the start, as batches end (at most once a second, with the outcomes its earlier saves did not
  // store) and at the end; the last write wins. SQLite and PostgreSQL write the job and its
  // outcomes in one transaction; MongoDB the outcomes first, then the job.
  virtual void save_job(const audit::JobRecord& job, std::uint64_t first_outcome) = 0;
  // The whole job: its results are its outcomes from number 0.
  void save_job(const audit::JobRecord& job) { save_job(job, 0); }

  // Returns the job with `id`, or nullopt when there is none; with every stored outcome in
  // `results`, in their numbers' order, when `with_outcomes`, else with `results` empty (what a
  // batch needs to check a job's state, at a cost that does not grow with the job).
  virtual std::optional<audit::JobRecord> find_job(std::string_view id, bool with_outcomes) = 0;
  std::optional<audit::JobRecord> find_job(std::string_view id) { return find_job(id, true); }

  // Returns up to `limit` jobs, the most recently started first (ties by id, descending), each
  // with its outcomes.
  virtual std::vector<audit::JobRecord> list_jobs(std::size_t limit) = 0;

  // Appends one event to the audit trail. Events are never updated; they are deleted only by
  // prune_audit, when the operator set a retention.
  virtual void append_audit(const audit::AuditEvent& event) = 0;

  // Deletes the audit events older than `before_unix_ms` (time_unix_ms < before). Returns how
  // many it deleted.
  virtual std::uint64_t prune_audit(std::int64_t before_unix_ms) = 0;

  // Returns up to `limit` events, the most recent first; only those of `job_id` when it is set.
  virtual std::vector<audit::AuditEvent> list_audit(const std::optional<std::string>& job_id,
                                                    std::size_t limit) = 0;
};

}  // namespace signer::store
