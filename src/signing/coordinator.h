// The job model: /sign/:size becomes a job of B = ceil(unsigned / size) batches, dispatched with
// bounded concurrency, each failed batch retried with exponential backoff up to a bounded number
// of attempts. One job at a time per process. Progress is readable at any time as a JobSnapshot.
// A batch that failed because the store did not answer is not simply retried: the coordinator
// asks the store itself, once for all the batches that fail meanwhile, for at most one store
// timeout. A store that answers again (a restart, a reset, one pod's lost link) lets the batches
// go on; one that does not ends the job at once, naming the outage, instead of every batch
// waiting out its own timeouts. A full disk ends the job at once too.
// At its end a job takes its account from the store: the records of its start still unsigned
// (by their ingest epoch, so records ingested meanwhile cannot hide one it missed), and the
// records stamped with its id, which is the records_signed it reports and persists.
// Every job has an id unique across pods (audit/job_id.h) and is persisted in the store as an
// audit::JobRecord at its start, as batches end (rate-limited) and at its end, so any pod can
// answer for it after a restart; its start and end are audit events.
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
#include "signing/store_retry.h"
#include "store/store.h"

namespace signer::signing {

struct CoordinatorOptions {
  std::size_t concurrency = 2;  // batches in flight at once
  int max_attempts = 4;         // per batch, first try included
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  int max_busy_waits = 600;  // per batch: "busy" answers tolerated, each waited out, not counted
  // Per batch: failures for a store that did not answer the pod while it answered the
  // coordinator (one pod's lost link, a moment's outage), retried without using up an attempt.
  int max_store_retries = 16;
  // How long the store may fail to answer the coordinator before the job stops waiting for it:
  // one store timeout (BS_STORE_TIMEOUT_MS).
  std::chrono::milliseconds store_timeout{5000};
  // JobSnapshot::failed lists at most this many failed batches (the first ones);
  // batches_failed counts them all and failed_omitted the ones left out.
  std::size_t max_listed_failures = 20;
  // How long a batch waits, asking again, while no pod answers it (BatchFailure::no_pod): after a
  // store outage every pod may be out of the Service's rotation until its readiness passes again.
  std::chrono::milliseconds service_wait{30'000};
  // While a job runs, its record (which holds one outcome per ended batch) is saved at most once
  // per this interval, and at most 1/20 of the time: saved whole after every batch, a job of B
  // batches wrote O(B^2) bytes (a 1M-record job of 4,000 batches took 1.7x as long as one of
  // 100). The final record is saved at the end whatever the interval.
  std::chrono::milliseconds progress_save_interval{1000};
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
  // How every record of the job is signed; each batch carries it (BatchSpec::scheme), so in
  // cluster mode every pod signs under the same scheme, eip712 under the same scheme file.
  schemes::SigningScheme scheme{};
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
  std::string mode;            // dispatcher mode
  std::string scheme = "raw";  // SigningScheme::name()
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
  // Set when the job has ended: unsigned records counted then (all of them, also those ingested
  // during the job), how many of them were already there at its start (invalid ones included),
  // and why the job did not succeed ("" when it did; never "" when it did not).
  std::optional<std::uint64_t> unsigned_at_end;
  std::optional<std::uint64_t> left_from_start;
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
  // first (retried with backoff, as the counts are, when the store fails in a way that may
  // pass), saves the job record and records the "/sign" audit event before returning the plan
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
  // Whether the store answers this process, asked again with backoff for at most one store
  // timeout after a batch found it silent. One check runs at a time; batches that fail meanwhile
  // wait for its answer instead of each waiting out timeouts of their own. false halts the job.
  bool store_answers(Job& job, std::stop_token stop);
  // Stops the job from starting batches (the store is down or full); `reason` becomes its error.
  void halt(Job& job, const std::string& reason);
  // Counts at the end of the job, into `job` (retried like the start's counts); a halted job
  // leaves them to settle_later.
  void take_final_account(Job& job, bool all_done);
  StoreRetryPolicy store_retry_policy() const;
  JobSnapshot snapshot_of(const Job& job) const;
  void publish_progress(const Job& job);
  // Asks the job's saver thread to save its record (the latest state; saves coalesce).
  void request_save(Job& job);
  // The saver: saves the job's record whenever asked, until `stop`; not while halted.
  void save_progress(std::stop_token stop, Job& job);
  // Saves the job's current record and the outcomes no save has stored yet, which then leave
  // memory. Logs, never throws, when the store fails: a lost progress save must not fail the
  // signing; the next save carries everything. Returns whether it saved.
  bool persist(Job& job);
  // After a job ended while the store did not answer: counts its records and saves its record
  // as soon as the store answers again (backoff), until that succeeds or `stop` is requested.
  void settle_later(std::stop_token stop, Job& job);
  audit::JobRecord record_of(const Job& job) const;  // caller holds mutex_

  store::Store& store_;
  const keys::KeySetHolder& keys_;
  BatchDispatcher& dispatcher_;
  metrics::Registry& metrics_;
  audit::AuditLog& audit_;
  CoordinatorOptions options_;

  // Held while a job is planned (store calls, maybe retried): one /sign plans at a time, without
  // holding mutex_, so /stats answers meanwhile.
  std::mutex start_mutex_;
  // Taken before mutex_ (never after), so that saves of one job reach the store in the order
  // their records were built: the last save is of the newest state.
  std::mutex persist_mutex_;
  std::mutex health_mutex_;  // one store check at a time (store_answers)
  std::chrono::steady_clock::time_point store_answered_;  // guarded by health_mutex_
  mutable std::mutex mutex_;
  std::condition_variable finished_;
  std::shared_ptr<Job> job_;
  std::jthread runner_;
};

}  // namespace signer::signing
