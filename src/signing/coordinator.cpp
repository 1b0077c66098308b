#include "signing/coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

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
  schemes::SigningScheme scheme;
  std::string mode;
  std::uint64_t batch_size = 0;
  std::uint64_t unsigned_at_start = 0;
  std::uint64_t batches = 0;
  std::size_t keys = 0;
  std::uint64_t epoch = 0;  // the ingest epoch its start closed (store::JobStart)
  std::chrono::steady_clock::time_point started;
  std::int64_t started_unix_ms = 0;
  std::atomic<bool> halted{false};  // the store is down or full: start no more batches

  // The job's record is saved after batches end by a thread of its own (save_progress), at most
  // once per CoordinatorOptions::progress_save_interval, so a batch never waits for a save: a
  // store that went silent would hold every dispatcher for a timeout per save.
  std::mutex save_mutex;
  std::condition_variable_any save_wanted;
  bool save_pending = false;  // guarded by save_mutex

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
  std::optional<std::uint64_t> left_from_start;
  std::string halt_reason;  // why halted was set
  std::string error;
  // The outcomes of ended batches that no save has stored yet, in the order they ended; the
  // results_saved before them are in the store (store.h, save_job), so memory holds at most a
  // save interval's worth whatever the number of batches.
  std::vector<audit::BatchOutcome> results;
  std::uint64_t results_saved = 0;
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
  std::lock_guard planning(start_mutex_);
  {
    std::lock_guard lock(mutex_);
    if (job_ && !job_->done) throw JobAlreadyRunning(job_->id);
  }
  if (runner_.joinable()) {
    // The previous job has ended; it may still be waiting to save its final record.
    runner_.request_stop();
    runner_.join();
  }

  // Planning holds start_mutex_, so two /sign calls cannot both plan; not mutex_, so /stats
  // answers while the store is retried.
  const StoreRetryPolicy retry = store_retry_policy();
  const std::uint64_t backfilled =
      with_store_retry(retry, {}, [&] { return store_.backfill_shards(); });
  const store::JobStart opened = with_store_retry(retry, {}, [&] { return store_.start_job(); });
  const store::Counts& counts = opened.counts;

  auto job = std::make_shared<Job>();
  job->started = std::chrono::steady_clock::now();
  job->started_unix_ms = audit::unix_ms_now();
  job->id = audit::new_job_id(job->started_unix_ms);
  job->client = request.client;
  job->remote_addr = request.remote_addr;
  job->key_set = std::move(key_set);
  job->key_indexes = std::move(key_indexes);
  job->scheme = request.scheme;
  job->mode = dispatcher_.mode();
  job->batch_size = batch_size;
  job->unsigned_at_start = counts.unsigned_records;
  job->epoch = opened.epoch;
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
                           std::to_string(job->batches) + " batches, " + job->mode + ", scheme " +
                           job->scheme.name()});
  std::unique_lock lock(mutex_);
  job_ = job;
  spdlog::info(
      "job {} planned: {} unsigned records, batch size {}, {} batches, {} keys, {}, scheme {} ({} "
      "shards backfilled)",
      job->id, job->unsigned_at_start, batch_size, job->batches, job->keys, job->mode,
      job->scheme.name(), backfilled);
  metrics_.set(metrics::kJobRunning, {}, 1);
  metrics_.set(metrics::kJobBatchesTotal, {}, static_cast<double>(job->batches));
  publish_progress(*job);
  runner_ = std::jthread([this, job](std::stop_token stop) { run_job(stop, job); });
  return snapshot_of(*job);
}

void Coordinator::run_job(std::stop_token stop, std::shared_ptr<Job> job) {
  const std::size_t workers =
      static_cast<std::size_t>(std::min<std::uint64_t>(options_.concurrency, job->batches));
  std::jthread saver(
      [this, &job](std::stop_token halt_saving) { save_progress(halt_saving, *job); });
  {
    std::vector<std::jthread> dispatchers;
    dispatchers.reserve(workers);
    for (std::size_t i = 0; i < workers; ++i) {
      dispatchers.emplace_back([this, &job, stop] {
        for (;;) {
          if (stop.stop_requested() || job->halted.load()) return;
          const std::uint64_t b = job->next_batch.fetch_add(1);
          if (b >= job->batches) return;
          run_batch(stop, *job, b);
        }
      });
    }
  }  // joins the dispatchers

  const bool all_done = job->batches_done.load() == job->batches;
  // A job halted by a silent store reports at once: its account, its record and its audit event
  // would each wait out the store's timeout first. They follow as soon as the store answers.
  const bool halted = job->halted.load();
  saver.request_stop();
  if (!halted) saver.join();  // the final save below is then the last one
  if (halted) {
    std::lock_guard lock(mutex_);
    job->error = job->halt_reason;
  } else {
    take_final_account(*job, all_done);
  }
  JobSnapshot s;
  {
    std::lock_guard lock(mutex_);
    job->finished = std::chrono::steady_clock::now();
    job->ended_unix_ms = audit::unix_ms_now();
    const bool interrupted = !all_done && stop.stop_requested() && !job->halted.load();
    if (job->error.empty() && !all_done) {
      // A job that did not succeed always says why.
      const std::uint64_t failed = job->batches_failed.load();
      const std::uint64_t done = job->batches_done.load();
      if (interrupted) {
        job->error = "interrupted after " + std::to_string(done) + " of " +
                     std::to_string(job->batches) + " batches";
      } else if (!job->failed.empty()) {
        const FailedBatch& first = job->failed.front();
        job->error = std::to_string(failed) + " of " + std::to_string(job->batches) +
                     " batches failed; batch " + std::to_string(first.batch) + " after " +
                     std::to_string(first.attempts) + " attempts: " + first.error;
      } else {
        job->error = std::to_string(job->batches - done) + " of " + std::to_string(job->batches) +
                     " batches did not run";
      }
    }
    job->state = all_done && job->error.empty() ? JobState::kSucceeded
                 : interrupted                  ? JobState::kInterrupted
                                                : JobState::kFailed;
    s = snapshot_of(*job);
  }
  metrics_.set(metrics::kJobRunning, {}, 0);
  metrics_.increment(metrics::kJobsTotal, {{"outcome", std::string(to_string(s.state))}});
  publish_progress(*job);
  const bool saved = !halted && persist(*job);
  const audit::AuditEvent ended{.time_unix_ms = job->ended_unix_ms,
                                .client = job->client,
                                .remote_addr = job->remote_addr,
                                .route = "/sign",
                                .outcome = std::string(to_string(s.state)),
                                .count = s.records_signed,
                                .job_id = s.id,
                                .detail = std::to_string(s.batches_done) + "/" +
                                          std::to_string(s.batches) + " batches done, " +
                                          std::to_string(s.batches_failed) + " failed, " +
                                          std::to_string(s.records_invalid) + " invalid records" +
                                          (s.error.empty() ? "" : ": " + s.error)};
  if (!halted) audit_.record(ended);
  spdlog::info(
      "job {} {}: {} signed ({} already signed, {} invalid), {}/{} batches done, {} failed, {} "
      "retries, {:.1f}s, {:.0f} records/s{}{}",
      s.id, to_string(s.state), s.records_signed, s.already_signed, s.records_invalid,
      s.batches_done, s.batches, s.batches_failed, s.retries, s.elapsed_seconds,
      s.records_per_second, s.error.empty() ? "" : ": ", s.error);
  bool accounted = false;
  {
    std::lock_guard lock(mutex_);
    job->done = true;
    accounted = job->unsigned_at_end.has_value();
  }
  finished_.notify_all();
  if (halted) {
    // After the report: each may wait out the store's timeout.
    if (saver.joinable()) saver.join();
    audit_.record(ended);
  }
  // The store did not answer at the end (the outage that ended the job, often): the job has
  // ended and said so, but its record and counts wait for the store. They are taken as soon as it
  // answers, so the job's record ends up matching the store, unless a new job starts first.
  if (!saved || !accounted) settle_later(stop, *job);
}

void Coordinator::take_final_account(Job& job, bool all_done) {
  // Every batch reporting done does not prove every record was signed: a record no batch read
  // (a shard the backfill could not repair, a read that ended early) would stay behind unseen.
  // So the store is asked how many records of the start are still unsigned. By their ingest
  // epoch, not by subtracting what the batches reported from the count at the start: records
  // ingested during the job are signed too and would make up for the ones missed.
  const StoreRetryPolicy retry = store_retry_policy();
  std::optional<std::uint64_t> unsigned_at_end, left_from_start, stamped;
  std::string accounting_error;
  try {
    unsigned_at_end = with_store_retry(retry, {}, [&] { return store_.count().unsigned_records; });
    left_from_start =
        with_store_retry(retry, {}, [&] { return store_.count_unsigned_through_epoch(job.epoch); });
    stamped = with_store_retry(retry, {}, [&] { return store_.count_signed_of_job(job.id); });
  } catch (const std::exception& e) {
    accounting_error = std::string("cannot count the records at the end: ") + e.what();
  }
  // What the job moved is what carries its id, whichever attempt moved it: also attempts that
  // failed after moving some chunks, and attempts whose answer was lost on the way back.
  if (stamped) job.records_signed = *stamped;

  std::lock_guard lock(mutex_);
  job.unsigned_at_end = unsigned_at_end;
  job.left_from_start = left_from_start;
  if (all_done && left_from_start) {
    // Records that cannot be signed stay unsigned, reported by the batches that met them.
    const std::uint64_t invalid = job.records_invalid.load();
    const std::uint64_t missed = *left_from_start > invalid ? *left_from_start - invalid : 0;
    if (missed > 0) {
      job.error = std::to_string(missed) + " records present at the start remain unsigned (" +
                  std::to_string(*unsigned_at_end) +
                  " unsigned at the end) although every batch ended: no batch read them";
    }
  } else if (all_done) {
    job.error = accounting_error;
  }
}

StoreRetryPolicy Coordinator::store_retry_policy() const {
  return {options_.max_attempts, options_.initial_backoff, options_.max_backoff,
          options_.store_timeout};
}

void Coordinator::halt(Job& job, const std::string& reason) {
  std::lock_guard lock(mutex_);
  if (job.halted.load()) return;
  job.halt_reason = reason;
  job.halted = true;
  spdlog::error("job {} stops: {}", job.id, reason);
}

bool Coordinator::store_answers(Job& job, std::stop_token stop) {
  std::lock_guard check(health_mutex_);
  if (job.halted.load()) return false;
  const auto start = std::chrono::steady_clock::now();
  // Another batch's check has just had an answer while this one waited for the lock.
  if (start - store_answered_ < std::chrono::seconds(1)) return true;
  const auto deadline = start + options_.store_timeout;
  auto backoff = options_.initial_backoff;
  std::string error;
  for (;;) {
    try {
      store_.ping();
      store_answered_ = std::chrono::steady_clock::now();
      return true;
    } catch (const std::exception& e) {
      error = e.what();
    }
    // A ping that waited out the whole window itself (MongoDB's server selection) ends it: a
    // second one would double the wait.
    const auto now = std::chrono::steady_clock::now();
    if (now + options_.initial_backoff >= deadline || stop.stop_requested()) break;
    interruptible_sleep(stop,
                        std::min<std::chrono::steady_clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  if (stop.stop_requested()) return false;
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  halt(job, "store unavailable: " + store_.describe() + " did not answer for " +
                std::to_string(waited.count()) + " ms after a batch failed: " + error);
  return false;
}

void Coordinator::run_batch(std::stop_token stop, Job& job, std::uint64_t batch) {
  const std::size_t key_index = job.key_indexes[batch % job.key_indexes.size()];
  const BatchSpec spec{batch,  job.batches, key_index,       job.key_set,
                       job.id, job.client,  job.remote_addr, job.scheme};
  audit::BatchOutcome outcome{batch, "", key_index, job.key_set->at(key_index).address(),
                              0,     0,  0,         ""};
  // Records this batch found that cannot be signed: each complete pass over the range finds all
  // of them again, so the count is the last attempt's (the largest, when one was cut short).
  std::uint64_t invalid = 0;
  std::vector<std::string> invalid_ids;
  auto end_batch = [&] {
    job.records_invalid += invalid;
    {
      std::lock_guard lock(mutex_);
      for (const std::string& id : invalid_ids) {
        if (job.invalid_ids.size() >= options_.max_listed_failures) break;
        job.invalid_ids.push_back(id);
      }
      job.results.push_back(outcome);
      if (outcome.error.empty()) ++job.batches_by_pod[outcome.pod];
    }
    request_save(job);
  };
  auto backoff = options_.initial_backoff;
  std::string last_error;
  int attempt = 1;
  int busy_waits = 0;
  int store_retries = 0;
  std::optional<std::chrono::steady_clock::time_point> no_pod_since;
  for (;; ++attempt) {
    if (job.halted.load()) {
      if (last_error.empty()) {
        std::lock_guard lock(mutex_);
        last_error = job.halt_reason;
      }
      break;
    }
    try {
      outcome.attempts = attempt;
      const BatchResult r = dispatcher_.dispatch(spec, stop);
      job.records_signed += r.signed_count;
      job.already_signed += r.already_signed;
      if (!r.interrupted || r.failed > invalid) {
        invalid = r.failed;
        invalid_ids = r.failed_ids;
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
      const BatchFailure& failure = e.failure();
      // Chunks the attempt moved before it failed stay moved; they are the job's.
      job.records_signed += failure.signed_before;
      job.already_signed += failure.already_signed_before;
      outcome.signed_count += failure.signed_before;
      outcome.already_signed += failure.already_signed_before;
      if (e.busy() && ++busy_waits <= options_.max_busy_waits && !stop.stop_requested()) {
        // Not a failure: the pod that answered is at its limit. Wait briefly and ask again
        // (likely another pod, through the Service) without using up an attempt.
        --attempt;
        interruptible_sleep(stop, std::chrono::milliseconds(100 + 50 * std::min(busy_waits, 18)));
        continue;
      }
      if (failure.no_pod && !stop.stop_requested()) {
        // No pod answered (the Service had none in rotation, or could not be reached): wait for
        // one to come back, for a while, without using up an attempt.
        const auto now = std::chrono::steady_clock::now();
        if (!no_pod_since) no_pod_since = now;
        if (now - *no_pod_since < options_.service_wait) {
          spdlog::warn("job {} batch {}/{}: no pod answered, asking again: {}", job.id, batch,
                       job.batches, last_error);
          --attempt;
          ++job.retries;
          metrics_.increment(metrics::kJobBatchRetries);
          interruptible_sleep(stop, options_.initial_backoff);
          continue;
        }
      }
      spdlog::warn("job {} batch {}/{} attempt {} failed: {}", job.id, batch, job.batches, attempt,
                   last_error);
      if (failure.store == StoreFault::kFull) {
        halt(job, last_error);
        break;
      }
      if (failure.store == StoreFault::kUnavailable) {
        if (!store_answers(job, stop)) break;
        // The store answers this process: the pod lost its own link to it, or the outage has
        // passed. Another try (likely on another pod) does not use up an attempt.
        if (++store_retries <= options_.max_store_retries && !stop.stop_requested()) {
          --attempt;
          ++job.retries;
          metrics_.increment(metrics::kJobBatchRetries);
          interruptible_sleep(stop, options_.initial_backoff);
          continue;
        }
      }
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
  r.scheme = job.scheme.name();
  if (const schemes::TypedDataScheme* typed = job.scheme.typed_data()) {
    r.scheme_fingerprint = typed->fingerprint();
  }
  for (const std::size_t index : job.key_indexes) {
    r.keys.push_back(
        {index, job.key_set->at(index).address(), job.key_set->at(index).public_key()});
  }
  r.state = job.state;
  r.unsigned_at_start = job.unsigned_at_start;
  r.batches = job.batches;
  r.results = job.results;  // those no save has stored yet
  r.records_signed = job.records_signed.load();
  r.already_signed = job.already_signed.load();
  r.records_invalid = job.records_invalid.load();
  r.unsigned_at_end = job.unsigned_at_end;
  r.left_from_start = job.left_from_start;
  r.error = job.error;
  r.started_unix_ms = job.started_unix_ms;
  r.ended_unix_ms = job.ended_unix_ms;
  return r;
}

void Coordinator::request_save(Job& job) {
  {
    std::lock_guard lock(job.save_mutex);
    job.save_pending = true;
  }
  job.save_wanted.notify_one();
}

void Coordinator::save_progress(std::stop_token stop, Job& job) {
  for (;;) {
    {
      std::unique_lock lock(job.save_mutex);
      if (!job.save_wanted.wait(lock, stop, [&] { return job.save_pending; })) return;
      job.save_pending = false;
    }
    // Saving while the store is known to be down or full would only wait out its timeout.
    if (job.halted.load()) continue;
    const auto began = std::chrono::steady_clock::now();
    persist(job);
    // Rate-limited: a save writes the outcomes since the last and rewrites the job's fields, so
    // its cost is spread over the batches that ended meanwhile, which are in the next save; the
    // stop (the job's end, whose final save follows) cuts the wait short.
    const auto took = std::chrono::steady_clock::now() - began;
    const auto wait =
        std::max<std::chrono::steady_clock::duration>(options_.progress_save_interval, took * 19);
    if (interruptible_sleep(stop, wait)) return;
  }
}

bool Coordinator::persist(Job& job) {
  std::lock_guard persist_lock(persist_mutex_);
  audit::JobRecord record;
  std::uint64_t first_outcome = 0;
  {
    std::lock_guard lock(mutex_);
    record = record_of(job);
    first_outcome = job.results_saved;
  }
  try {
    store_.save_job(record, first_outcome);
  } catch (const std::exception& e) {
    spdlog::error("job {}: saving its record failed: {}", job.id, e.what());
    return false;
  }
  // Batches that ended meanwhile were appended after the saved ones.
  std::lock_guard lock(mutex_);
  const auto saved = static_cast<std::ptrdiff_t>(record.results.size());
  job.results.erase(job.results.begin(), job.results.begin() + saved);
  job.results_saved += record.results.size();
  return true;
}

void Coordinator::settle_later(std::stop_token stop, Job& job) {
  auto backoff = options_.initial_backoff;
  while (!stop.stop_requested()) {
    interruptible_sleep(stop, backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
    if (stop.stop_requested()) return;
    try {
      const std::uint64_t stamped = store_.count_signed_of_job(job.id);
      const std::uint64_t unsigned_now = store_.count().unsigned_records;
      const std::uint64_t left = store_.count_unsigned_through_epoch(job.epoch);
      {
        std::lock_guard lock(mutex_);
        job.records_signed = stamped;
        // Counted later than the job's end: a later look, named as such in the log.
        if (!job.unsigned_at_end) job.unsigned_at_end = unsigned_now;
        if (!job.left_from_start) job.left_from_start = left;
      }
      if (persist(job)) {
        spdlog::info(
            "job {}: its record is saved now that the store answers: {} records carry "
            "its id, {} unsigned",
            job.id, stamped, unsigned_now);
        return;
      }
    } catch (const std::exception& e) {
      spdlog::warn("job {}: the store still cannot take the job's final account: {}", job.id,
                   e.what());
    }
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
  s.scheme = job.scheme.name();
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
  s.left_from_start = job.left_from_start;
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
  JobSnapshot s = snapshot_of(*job_);
  // A job shows its final state only once it is done (its record saved, its end audited), when
  // start() takes a new job: a caller told by /stats that the job ended is never refused a /sign.
  if (!job_->done) s.state = JobState::kRunning;
  return s;
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
