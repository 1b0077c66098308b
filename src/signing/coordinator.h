// The job model: /sign/:size becomes a job of B = ceil(unsigned / size) batches, dispatched with
// bounded concurrency, each failed batch retried with exponential backoff up to a bounded number
// of attempts. One job at a time per process. Progress is readable at any time as a JobSnapshot.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "crypto/key_ring.h"
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
};

enum class JobState { kRunning, kSucceeded, kFailed, kInterrupted };
std::string_view to_string(JobState state);

struct FailedBatch {
  std::uint64_t batch = 0;
  std::size_t key_index = 0;
  int attempts = 0;
  std::string error;
};

struct JobSnapshot {
  std::uint64_t id = 0;
  JobState state = JobState::kRunning;
  std::string mode;  // dispatcher mode
  std::uint64_t batch_size = 0;
  std::uint64_t unsigned_at_start = 0;
  std::uint64_t batches = 0;
  std::size_t keys = 0;
  std::uint64_t batches_done = 0;
  std::uint64_t batches_failed = 0;
  std::uint64_t retries = 0;
  std::uint64_t records_signed = 0;
  std::uint64_t already_signed = 0;
  double elapsed_seconds = 0;
  double records_per_second = 0;
  std::int64_t started_unix_ms = 0;
  std::vector<FailedBatch> failed;
};

class JobAlreadyRunning : public std::runtime_error {
 public:
  explicit JobAlreadyRunning(std::uint64_t id)
      : std::runtime_error("job " + std::to_string(id) + " is already running"), id_(id) {}
  std::uint64_t id() const { return id_; }

 private:
  std::uint64_t id_;
};

class Coordinator {
 public:
  Coordinator(store::Store& store, const crypto::KeyRing& keys, BatchDispatcher& dispatcher,
              metrics::Registry& metrics, CoordinatorOptions options);
  // Interrupts a running job (after its in-flight batches) and joins it.
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Plans and starts a job signing every unsigned record in batches of about `batch_size`.
  // Backfills missing shards first. Returns the plan as the job's first snapshot.
  // Preconditions: batch_size >= 1. Throws JobAlreadyRunning while another job runs, and
  // store::StoreError when the store cannot be counted.
  JobSnapshot start(std::uint64_t batch_size);

  // Blocks until the job `job_id` (or the current job, when 0) is no longer running; returns the
  // last job's snapshot. Returns nullopt when no job ever ran.
  std::optional<JobSnapshot> wait(std::uint64_t job_id = 0);

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

  store::Store& store_;
  const crypto::KeyRing& keys_;
  BatchDispatcher& dispatcher_;
  metrics::Registry& metrics_;
  CoordinatorOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable finished_;
  std::shared_ptr<Job> job_;
  std::uint64_t next_job_id_ = 1;
  std::jthread runner_;
};

}  // namespace signer::signing
