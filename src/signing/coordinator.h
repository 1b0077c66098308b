// The job model: /sign/:size becomes a job of B = ceil(unsigned / size) batches, dispatched with
// bounded concurrency, each failed batch retried with exponential backoff up to a bounded number
// of attempts. One job at a time per process. Progress is readable at any time as a JobSnapshot.
// Every job has an id unique across pods (audit/job_id.h) and is persisted in the store as an
// audit::JobRecord at its start, after each batch and at its end, so any pod can answer for it
// after a restart; its start and end are audit events.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_log.h"
#include "audit/job_record.h"
#include "keys/key_set_holder.h"
#include "metrics/registry.h"
#include "signing/batch_dispatcher.h"
#include "store/store.h"

namespace signer::signing {

struct CoordinatorOptions {
  std::size_t concurrency = 2;  // batches in flight at once
  int max_attempts = 4;         // per batch, first try included
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  int max_busy_waits = 600;  // per batch: "busy" answers tolerated, each waited out, not counted
  // JobSnapshot::failed lists at most this many failed batches (the first ones);
  // batches_failed counts them all and failed_omitted the ones left out.
  std::size_t max_listed_failures = 20;
};

using audit::JobState;
using audit::to_string;

// What a caller asks for when it starts a job.
struct JobRequest {
  std::uint64_t batch_size = 0;  // >= 1
  std::string client;            // who asks ("anonymous" without auth); recorded, never a token
  std::string remote_addr;       // from where
  // The keys the job may use (each an index, a public key or an address of the current key
  // set), in round-robin order: batch b signs with keys[b % keys.size()]. Empty means every key
  // of the set, in set order.
  std::vector<std::string> keys;
};

// A JobRequest that cannot be planned: batch size 0, a key index out of range, no keys.
// Retrying the same request cannot help (HTTP 400).
class JobRequestError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct FailedBatch {
  std::uint64_t batch = 0;
  std::size_t key_index = 0;
  int attempts = 0;
  std::string error;
};

struct JobSnapshot {
  std::string id;
  JobState state = JobState::kRunning;
  std::string mode;  // dispatcher mode
  std::uint64_t batch_size = 0;
  std::uint64_t unsigned_at_start = 0;
  std::uint64_t batches = 0;
  std::size_t keys = 0;
  std::uint64_t batches_done = 0;
  std::uint64_t batches_failed = 0;
  std::uint64_t retries = 0;
  // Batches that succeeded, by the pod that ran them ("" for none named); one entry embedded.
  std::map<std::string, std::uint64_t> batches_by_pod;
  std::uint64_t records_signed = 0;
  std::uint64_t already_signed = 0;
  double elapsed_seconds = 0;
  double records_per_second = 0;
  std::int64_t started_unix_ms = 0;
  std::vector<FailedBatch> failed;   // the first CoordinatorOptions::max_listed_failures
  std::uint64_t failed_omitted = 0;  // failed batches not listed in `failed`
  // Records the batches skipped because they cannot be signed (a msg or id that is not a string,
  // written by another tool); the first ids of them, at most max_listed_failures.
  std::uint64_t records_invalid = 0;
  std::vector<std::string> invalid_ids;
  // Set when the job has ended: unsigned records counted then, and why the job did not succeed
  // ("" when it did).
  std::optional<std::uint64_t> unsigned_at_end;
  std::string error;
};

class JobAlreadyRunning : public std::runtime_error {
 public:
  explicit JobAlreadyRunning(const std::string& id)
      : std::runtime_error("job " + id + " is already running"), id_(id) {}
  const std::string& id() const { return id_; }

 private:
  std::string id_;
};

class Coordinator {
 public:
  // Each job signs with the key set that is current when it starts, to its end.
  Coordinator(store::Store& store, const keys::KeySetHolder& keys, BatchDispatcher& dispatcher,
              metrics::Registry& metrics, audit::AuditLog& audit, CoordinatorOptions options);
  // Interrupts a running job (after its in-flight batches) and joins it.
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Plans and starts a job signing every unsigned record in batches of about
  // request.batch_size, with the keys request.keys allows. Backfills missing shards
  // first, saves the job record and records the "/sign" audit event before returning the plan
  // as the job's first snapshot.
  // Throws JobRequestError for batch_size 0, a key the current set does not hold or an empty set;
  // JobAlreadyRunning while another job runs; store::StoreError when the store cannot be
  // counted or the job record cannot be saved (the job then does not start).
  JobSnapshot start(const JobRequest& request);

  // Blocks until the job `job_id` (or the current job, when empty) has ended and its final
  // record is saved; returns the last job's snapshot. Returns nullopt when no job ever ran.
  std::optional<JobSnapshot> wait(const std::string& job_id = {});

  // The running or last job's progress; nullopt when no job ever ran.
  std::optional<JobSnapshot> snapshot() const;

  // Asks a running job to stop dispatching and waits for it to end.
  void stop();

 private:
  struct Job;
  void run_job(std::stop_token stop, std::shared_ptr<Job> job);
  void run_batch(std::stop_token stop, Job& job, std::uint64_t batch);
  JobSnapshot snapshot_of(const Job& job) const;
  void publish_progress(const Job& job);
  // Saves the job's current record. Logs, never throws, when the store fails: a lost progress
  // save must not fail the signing; the next save carries everything.
  void persist(const Job& job);
  audit::JobRecord record_of(const Job& job) const;  // caller holds mutex_

  store::Store& store_;
  const keys::KeySetHolder& keys_;
  BatchDispatcher& dispatcher_;
  metrics::Registry& metrics_;
  audit::AuditLog& audit_;
  CoordinatorOptions options_;

  // Taken before mutex_ (never after), so that saves of one job reach the store in the order
  // their records were built: the last save is of the newest state.
  std::mutex persist_mutex_;
  mutable std::mutex mutex_;
  std::condition_variable finished_;
  std::shared_ptr<Job> job_;
  std::jthread runner_;
};

}  // namespace signer::signing
