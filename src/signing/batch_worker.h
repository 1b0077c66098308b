// Runs one batch: every unsigned record of the batch's shard range, signed with one key.
// It works chunk by chunk and pipelines: while the pool signs chunk i, this thread writes chunk
// i-1 and reads chunk i+1, so store round trips overlap with signing. Re-running a batch is safe:
// it signs whatever is still unsigned in its range and finishes interrupted moves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "keys/key_set.h"
#include "metrics/registry.h"
#include "schemes/signing_scheme.h"
#include "signing/store_retry.h"
#include "signing/worker_pool.h"
#include "store/store.h"

namespace signer::signing {

struct BatchSpec {
  std::uint64_t batch = 0;                      // b
  std::uint64_t batch_count = 1;                // B, with b < B
  std::size_t key_index = 0;                    // index into key_set
  std::shared_ptr<const keys::KeySet> key_set;  // the job's set (required)
  std::string job_id;                           // stamped on every record signed ("" outside a job)
  std::string client;                           // who asked, for the audit event ("" when unknown)
  std::string remote_addr;                      // from where, for the audit event
  // How every record of the batch is signed (raw: the original's scheme). A record whose msg
  // does not fit an eip712 scheme's type is skipped like an invalid record.
  schemes::SigningScheme scheme{};
};

struct BatchResult {
  std::uint64_t batch = 0;
  std::uint64_t batch_count = 0;
  std::size_t key_index = 0;
  std::string key;                   // public key used
  std::uint64_t signed_count = 0;    // records newly written to signedrecords
  std::uint64_t already_signed = 0;  // interrupted moves completed (already in signedrecords)
  // Records skipped: they cannot be signed (store::InvalidRecord, or a msg that does not fit the
  // batch's eip712 scheme); they stay unsigned.
  std::uint64_t failed = 0;
  std::uint64_t ms = 0;
  bool interrupted = false;             // stopped early by shutdown; re-run to finish
  std::string pod;                      // which process ran it
  std::vector<std::string> failed_ids;  // ids of the first kMaxListedInvalid `failed` records
};

// BatchResult::failed_ids lists at most this many ids.
inline constexpr std::size_t kMaxListedInvalid = 20;

// A batch run that a store error ended part way: the store's error (same kind and message) and
// what the run had moved before it, which stays moved. A retry of the batch finishes the rest.
class BatchRunError : public store::StoreError {
 public:
  BatchRunError(const store::StoreError& cause, std::uint64_t signed_count,
                std::uint64_t already_signed)
      : store::StoreError(cause.kind(), cause.what()),
        signed_count_(signed_count),
        already_signed_(already_signed) {}
  std::uint64_t signed_count() const { return signed_count_; }
  std::uint64_t already_signed() const { return already_signed_; }

 private:
  std::uint64_t signed_count_;
  std::uint64_t already_signed_;
};

struct BatchWorkerOptions {
  std::size_t chunk_size = 2000;
  std::string pod_name;  // reported in results and metrics
  // A chunk also ends once its records hold this many bytes of id and msg (a single larger
  // record is read alone). Up to three chunks of a batch are in memory at once (read, signing,
  // moving), so a batch holds about 3 x chunk_bytes of records plus their signed copies.
  std::size_t chunk_bytes = std::size_t{8} << 20;
  // Chunk reads that fail in a way that may pass are retried in place (store_retry.h); a move
  // that fails ends the run, and the coordinator retries the batch.
  StoreRetryPolicy read_retry{3, std::chrono::milliseconds(100), std::chrono::milliseconds(1000),
                              std::chrono::milliseconds(1000)};
};

class BatchWorker {
 public:
  BatchWorker(store::Store& store, WorkerPool& pool, metrics::Registry& metrics,
              audit::AuditLog& audit, BatchWorkerOptions options);

  // Signs every unsigned record of spec's shard range with key spec.key_index under spec.scheme,
  // stamping each with spec.job_id, and records one audit event (route "/batch", outcome ok,
  // interrupted or error) for the run. A record that cannot be signed (store::InvalidRecord) is
  // skipped, counted in BatchResult::failed with its id in failed_ids, and recorded as an audit
  // event of its own (outcome "invalid"); the rest of the batch is signed. So is a record whose msg
  // does not fit spec.scheme (eip712), with the scheme's reason; it stays unsigned. Preconditions:
  // spec.batch < spec.batch_count, spec.key_set is set and spec.key_index < spec.key_set->size().
  // A range ends only when the store says it is exhausted (store::ReadCursor::exhausted).
  // Throws BatchRunError (a store::StoreError) when the store fails, with what the run moved
  // before; chunks moved before that stay moved.
  // Returns early with interrupted = true once `stop` is requested (after the current chunk).
  BatchResult run(const BatchSpec& spec, std::stop_token stop = {});

 private:
  store::Store& store_;
  WorkerPool& pool_;
  metrics::Registry& metrics_;
  audit::AuditLog& audit_;
  BatchWorkerOptions options_;
};

}  // namespace signer::signing
