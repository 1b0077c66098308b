#include "signing/coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "audit/job_id.h"
#include "metrics/signer_metrics.h"
#include "signing/interruptible_sleep.h"

namespace signer::signing {

struct Coordinator::Job {
  std::string id;
  std::string client;
  std::string remote_addr;
  std::shared_ptr<const keys::KeySet> key_set;  // the set current at the start, to the end
  std::vector<std::size_t> key_indexes;         // round robin: batch b uses key_indexes[b % size]
  std::string mode;
  std::uint64_t batch_size = 0;
  std::uint64_t unsigned_at_start = 0;
  std::uint64_t batches = 0;
  std::size_t keys = 0;
  std::chrono::steady_clock::time_point started;
  std::int64_t started_unix_ms = 0;

  std::atomic<std::uint64_t> next_batch{0};
  std::atomic<std::uint64_t> batches_done{0};
  std::atomic<std::uint64_t> batches_failed{0};
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> records_signed{0};
  std::atomic<std::uint64_t> already_signed{0};
  std::atomic<std::uint64_t> records_invalid{0};

  // Guarded by Coordinator::mutex_.
  JobState state = JobState::kRunning;
  std::vector<FailedBatch> failed;  // the first options_.max_listed_failures
  std::uint64_t failed_omitted = 0;
  std::vector<std::string> invalid_ids;  // the first options_.max_listed_failures
  std::optional<std::uint64_t> unsigned_at_end;
  std::string error;
  std::vector<audit::BatchOutcome> results;
  std::map<std::string, std::uint64_t> batches_by_pod;  // batches that succeeded, by pod
  std::chrono::steady_clock::time_point finished;
  std::int64_t ended_unix_ms = 0;
  bool done = false;  // ended and its final record saved; wait() returns only then
};

Coordinator::Coordinator(store::Store& store, const keys::KeySetHolder& keys,
                         BatchDispatcher& dispatcher, metrics::Registry& metrics,
                         audit::AuditLog& audit, CoordinatorOptions options)
    : store_(store),
      keys_(keys),
      dispatcher_(dispatcher),
      metrics_(metrics),
      audit_(audit),
      options_(options) {
  options_.concurrency = std::max<std::size_t>(options_.concurrency, 1);
  options_.max_attempts = std::max(options_.max_attempts, 1);
}

Coordinator::~Coordinator() { stop(); }

JobSnapshot Coordinator::start(const JobRequest& request) {
  const std::uint64_t batch_size = request.batch_size;
  if (batch_size == 0) throw JobRequestError("batch size must be at least 1");
  std::shared_ptr<const keys::KeySet> key_set = keys_.current();
  if (key_set->size() == 0) throw JobRequestError("no keys loaded");
  std::vector<std::size_t> key_indexes;
  for (const std::string& selector : request.keys) {
    const auto index = key_set->find(selector);
    if (!index) {
      throw JobRequestError("key " + selector + " is not in the loaded key set (version " +
                            std::to_string(key_set->version()) + ", " +
                            std::to_string(key_set->size()) + " keys)");
    }
    if (std::find(key_indexes.begin(), key_indexes.end(), *index) == key_indexes.end()) {
      key_indexes.push_back(*index);
    }
  }
  if (key_indexes.empty()) {
    for (std::size_t i = 0; i < key_set->size(); ++i) key_indexes.push_back(i);
  }
  std::unique_lock lock(mutex_);
  if (job_ && !job_->done) throw JobAlreadyRunning(job_->id);
  if (runner_.joinable()) runner_.join();  // the previous job has ended; reap its thread

  // Planning reads the store while holding the lock, so two /sign calls cannot both plan.
  const std::uint64_t backfilled = store_.backfill_shards();
  const store::Counts counts = store_.count();

  auto job = std::make_shared<Job>();
  job->started = std::chrono::steady_clock::now();
  job->started_unix_ms = audit::unix_ms_now();
  job->id = audit::new_job_id(job->started_unix_ms);
  job->client = request.client;
  job->remote_addr = request.remote_addr;
  job->key_set = std::move(key_set);
  job->key_indexes = std::move(key_indexes);
  job->mode = dispatcher_.mode();
  job->batch_size = batch_size;
  job->unsigned_at_start = counts.unsigned_records;
  job->batches = counts.unsigned_records / batch_size + (counts.unsigned_records % batch_size != 0);
  job->keys = job->key_indexes.size();

  // The record is saved before the job runs: a job that cannot be recorded does not start.
  const audit::JobRecord record = record_of(*job);
  store_.save_job(record);
  std::vector<std::string> addresses;
  for (const audit::KeyGrant& k : record.keys) addresses.push_back(k.address);
  audit_.record({.time_unix_ms = record.started_unix_ms,
                 .client = job->client,
                 .remote_addr = job->remote_addr,
                 .route = "/sign",
                 .outcome = "started",
                 .count = job->unsigned_at_start,
                 .job_id = job->id,
                 .key_addresses = std::move(addresses),
                 .detail = "batch size " + std::to_string(batch_size) + ", " +
                           std::to_string(job->batches) + " batches, " + job->mode});
  job_ = job;
  spdlog::info(
      "job {} planned: {} unsigned records, batch size {}, {} batches, {} keys, {} ({} "
      "shards backfilled)",
      job->id, job->unsigned_at_start, batch_size, job->batches, job->keys, job->mode, backfilled);
  metrics_.set(metrics::kJobRunning, {}, 1);
  metrics_.set(metrics::kJobBatchesTotal, {}, static_cast<double>(job->batches));
  publish_progress(*job);
  runner_ = std::jthread([this, job](std::stop_token stop) { run_job(stop, job); });
  return snapshot_of(*job);
}

void Coordinator::run_job(std::stop_token stop, std::shared_ptr<Job> job) {
  const std::size_t workers =
      static_cast<std::size_t>(std::min<std::uint64_t>(options_.concurrency, job->batches));
  {
    std::vector<std::jthread> dispatchers;
    dispatchers.reserve(workers);
    for (std::size_t i = 0; i < workers; ++i) {
      dispatchers.emplace_back([this, &job, stop] {
        for (;;) {
          if (stop.stop_requested()) return;
          const std::uint64_t b = job->next_batch.fetch_add(1);
          if (b >= job->batches) return;
          run_batch(stop, *job, b);
        }
      });
    }
  }  // joins the dispatchers

  // Every batch reporting done does not prove every record was signed: a record no batch can
  // read (a shard the backfill could not repair, a concurrent writer) would stay behind unseen.
  // Records present at start that were neither signed, found signed, nor reported invalid, and
  // are still unsigned, fail the job. (Records ingested during the job are not counted against
  // it: at most unsigned_at_start - accounted of the remaining ones can be from the start.)
  const bool all_done = job->batches_done.load() == job->batches;
  std::optional<std::uint64_t> unsigned_at_end;
  std::string error;
  if (all_done) {
    try {
      unsigned_at_end = store_.count().unsigned_records;
      const std::uint64_t accounted =
          job->records_signed.load() + job->already_signed.load() + job->records_invalid.load();
      const std::uint64_t missed =
          std::min(*unsigned_at_end,
                   job->unsigned_at_start > accounted ? job->unsigned_at_start - accounted : 0);
      if (missed > 0) {
        error = std::to_string(missed) + " records present at the start remain unsigned (" +
                std::to_string(*unsigned_at_end) +
                " unsigned at the end) although every batch ended: no batch read them";
      }
    } catch (const std::exception& e) {
      error = std::string("cannot count the unsigned records at the end: ") + e.what();
    }
  }
  JobSnapshot s;
  {
    std::lock_guard lock(mutex_);
    job->finished = std::chrono::steady_clock::now();
    job->ended_unix_ms = audit::unix_ms_now();
    job->unsigned_at_end = unsigned_at_end;
    job->error = error;
    job->state = all_done && error.empty() ? JobState::kSucceeded
                 : all_done                ? JobState::kFailed
                 : stop.stop_requested()   ? JobState::kInterrupted
                                           : JobState::kFailed;
    s = snapshot_of(*job);
  }
  metrics_.set(metrics::kJobRunning, {}, 0);
  metrics_.increment(metrics::kJobsTotal, {{"outcome", std::string(to_string(s.state))}});
  publish_progress(*job);
  persist(*job);
  audit_.record({.time_unix_ms = job->ended_unix_ms,
                 .client = job->client,
                 .remote_addr = job->remote_addr,
                 .route = "/sign",
                 .outcome = std::string(to_string(s.state)),
                 .count = s.records_signed,
                 .job_id = s.id,
                 .detail = std::to_string(s.batches_done) + "/" + std::to_string(s.batches) +
                           " batches done, " + std::to_string(s.batches_failed) + " failed, " +
                           std::to_string(s.records_invalid) + " invalid records" +
                           (s.error.empty() ? "" : ": " + s.error)});
  spdlog::info(
      "job {} {}: {} signed ({} already signed, {} invalid), {}/{} batches done, {} failed, {} "
      "retries, {:.1f}s, {:.0f} records/s{}{}",
      s.id, to_string(s.state), s.records_signed, s.already_signed, s.records_invalid,
      s.batches_done, s.batches, s.batches_failed, s.retries, s.elapsed_seconds,
      s.records_per_second, s.error.empty() ? "" : ": ", s.error);
  {
    std::lock_guard lock(mutex_);
    job->done = true;
  }
  finished_.notify_all();
}

void Coordinator::run_batch(std::stop_token stop, Job& job, std::uint64_t batch) {
  const std::size_t key_index = job.key_indexes[batch % job.key_indexes.size()];
  const BatchSpec spec{batch,  job.batches, key_index,      job.key_set,
                       job.id, job.client,  job.remote_addr};
  audit::BatchOutcome outcome{batch, "", key_index, job.key_set->at(key_index).address(),
                              0,     0,  0,         ""};
  auto end_batch = [&] {
    {
      std::lock_guard lock(mutex_);
      job.results.push_back(outcome);
      if (outcome.error.empty()) ++job.batches_by_pod[outcome.pod];
    }
    persist(job);
  };
  auto backoff = options_.initial_backoff;
  std::string last_error;
  int attempt = 1;
  int busy_waits = 0;
  for (;; ++attempt) {
    try {
      outcome.attempts = attempt;
      const BatchResult r = dispatcher_.dispatch(spec, stop);
      job.records_signed += r.signed_count;
      job.already_signed += r.already_signed;
      job.records_invalid += r.failed;
      if (!r.failed_ids.empty()) {
        std::lock_guard lock(mutex_);
        for (const std::string& id : r.failed_ids) {
          if (job.invalid_ids.size() >= options_.max_listed_failures) break;
          job.invalid_ids.push_back(id);
        }
      }
      outcome.signed_count += r.signed_count;
      outcome.already_signed += r.already_signed;
      outcome.pod = r.pod;
      if (!r.interrupted) {
        ++job.batches_done;
        publish_progress(job);
        end_batch();
        return;
      }
      last_error = "batch interrupted by shutdown" + (r.pod.empty() ? "" : " on " + r.pod);
      if (stop.stop_requested()) break;
    } catch (const BatchError& e) {
      last_error = e.what();
      if (e.busy() && ++busy_waits <= options_.max_busy_waits && !stop.stop_requested()) {
        // Not a failure: the pod that answered is at its limit. Wait briefly and ask again
        // (likely another pod, through the Service) without using up an attempt.
        --attempt;
        interruptible_sleep(stop, std::chrono::milliseconds(100 + 50 * std::min(busy_waits, 18)));
        continue;
      }
      spdlog::warn("job {} batch {}/{} attempt {} failed: {}", job.id, batch, job.batches, attempt,
                   last_error);
      if (!e.retryable()) break;
    }
    if (attempt >= options_.max_attempts || stop.stop_requested()) break;
    ++job.retries;
    metrics_.increment(metrics::kJobBatchRetries);
    interruptible_sleep(stop, backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  ++job.batches_failed;
  {
    std::lock_guard lock(mutex_);
    if (job.failed.size() < options_.max_listed_failures) {
      job.failed.push_back({batch, spec.key_index, attempt, last_error});
    } else {
      ++job.failed_omitted;
    }
  }
  spdlog::error("job {} batch {}/{} failed after {} attempts: {}", job.id, batch, job.batches,
                attempt, last_error);
  publish_progress(job);
  outcome.attempts = attempt;
  outcome.error = last_error;
  end_batch();
}

audit::JobRecord Coordinator::record_of(const Job& job) const {
  audit::JobRecord r;
  r.id = job.id;
  r.started_by = job.client;
  r.remote_addr = job.remote_addr;
  r.batch_size = job.batch_size;
  for (const std::size_t index : job.key_indexes) {
    r.keys.push_back(
        {index, job.key_set->at(index).address(), job.key_set->at(index).public_key()});
  }
  r.state = job.state;
  r.unsigned_at_start = job.unsigned_at_start;
  r.batches = job.batches;
  r.results = job.results;
  r.records_signed = job.records_signed.load();
  r.started_unix_ms = job.started_unix_ms;
  r.ended_unix_ms = job.ended_unix_ms;
  return r;
}

void Coordinator::persist(const Job& job) {
  std::lock_guard persist_lock(persist_mutex_);
  audit::JobRecord record;
  {
    std::lock_guard lock(mutex_);
    record = record_of(job);
  }
  try {
    store_.save_job(record);
  } catch (const std::exception& e) {
    spdlog::error("job {}: saving its record failed: {}", job.id, e.what());
  }
}

void Coordinator::publish_progress(const Job& job) {
  metrics_.set(metrics::kJobBatchesDone, {}, static_cast<double>(job.batches_done.load()));
  metrics_.set(metrics::kJobBatchesFailed, {}, static_cast<double>(job.batches_failed.load()));
  metrics_.set(metrics::kJobRecordsSigned, {}, static_cast<double>(job.records_signed.load()));
}

JobSnapshot Coordinator::snapshot_of(const Job& job) const {
  JobSnapshot s;
  s.id = job.id;
  s.state = job.state;
  s.mode = job.mode;
  s.batch_size = job.batch_size;
  s.unsigned_at_start = job.unsigned_at_start;
  s.batches = job.batches;
  s.keys = job.keys;
  s.batches_done = job.batches_done.load();
  s.batches_failed = job.batches_failed.load();
  s.retries = job.retries.load();
  s.batches_by_pod = job.batches_by_pod;
  s.records_signed = job.records_signed.load();
  s.already_signed = job.already_signed.load();
  const auto end =
      job.state == JobState::kRunning ? std::chrono::steady_clock::now() : job.finished;
  s.elapsed_seconds = std::chrono::duration<double>(end - job.started).count();
  s.records_per_second =
      s.elapsed_seconds > 0 ? static_cast<double>(s.records_signed) / s.elapsed_seconds : 0;
  s.started_unix_ms = job.started_unix_ms;
  s.failed = job.failed;
  s.failed_omitted = job.failed_omitted;
  s.records_invalid = job.records_invalid.load();
  s.invalid_ids = job.invalid_ids;
  s.unsigned_at_end = job.unsigned_at_end;
  s.error = job.error;
  return s;
}

std::optional<JobSnapshot> Coordinator::wait(const std::string& job_id) {
  std::unique_lock lock(mutex_);
  if (!job_) return std::nullopt;
  finished_.wait(lock, [&] { return job_->done || (!job_id.empty() && job_->id != job_id); });
  return snapshot_of(*job_);
}

std::optional<JobSnapshot> Coordinator::snapshot() const {
  std::lock_guard lock(mutex_);
  if (!job_) return std::nullopt;
  return snapshot_of(*job_);
}

void Coordinator::stop() {
  std::jthread runner;
  {
    std::lock_guard lock(mutex_);
    runner = std::move(runner_);
  }
  runner.request_stop();
  if (runner.joinable()) runner.join();
}

}  // namespace signer::signing
