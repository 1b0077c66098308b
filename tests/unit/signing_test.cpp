// The job model against a real SQLite file: worker pool, batch worker, coordinator, retries.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "audit/audit_json.h"
#include "audit/job_id.h"
#include "audit/job_verifier.h"
#include "crypto/signature_verifier.h"
#include "keys/key_set_holder.h"
#include "metrics/signer_metrics.h"
#include "signing/batch_dispatcher.h"
#include "signing/coordinator.h"
#include "signing/interruptible_sleep.h"
#include "signing/worker_pool.h"
#include "signing_fixture.h"
#include "store/sqlite/sqlite_store.h"
#include "test_support.h"

namespace signer::signing {
namespace {

TEST(InterruptibleSleep, SleepsTheWholeDurationWhenNotStopped) {
  std::stop_source never;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(interruptible_sleep(never.get_token(), std::chrono::milliseconds(50)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
}

TEST(InterruptibleSleep, WakesAsSoonAsStopIsRequested) {
  std::stop_source source;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    source.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(interruptible_sleep(source.get_token(), std::chrono::hours(1)));
  // Generous bound: only "not the hour" matters.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
}

TEST(WorkerPool, RunsEveryIndexExactlyOnceAcrossWorkers) {
  WorkerPool pool(3);
  std::vector<std::atomic<int>> hits(1000);
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  pool.run(hits.size(), [&](std::size_t b, std::size_t e, WorkerContext&) {
    const int now = ++running;
    int seen = max_running.load();
    while (seen < now && !max_running.compare_exchange_weak(seen, now)) {
    }
    // Give the other parts up to 5 s to start alongside, proving the range is split over threads.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (max_running.load() < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    for (std::size_t i = b; i < e; ++i) ++hits[i];
    --running;
  });
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  EXPECT_GE(max_running.load(), 2);
}

// A worker held up in its part holds up only that part: while it waits, the other worker takes
// all the rest of the range. (With one part a worker, the held-up one held half the range, and
// the other slept once its half was done.)
TEST(WorkerPool, AWorkerHeldUpHoldsUpOnlyItsOwnPart) {
  WorkerPool pool(2);
  const std::size_t count = 8 * WorkerPool::kPartSize;
  std::atomic<std::size_t> done_elsewhere{0};
  std::size_t done_while_held = 0;
  pool.run(count, [&](std::size_t b, std::size_t e, WorkerContext&) {
    if (b != 0) {
      done_elsewhere += e - b;
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (done_elsewhere.load() < count - WorkerPool::kPartSize &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    done_while_held = done_elsewhere.load();
  });
  EXPECT_EQ(done_while_held, count - WorkerPool::kPartSize);
}

TEST(WorkerPool, RethrowsTheFirstTaskException) {
  WorkerPool pool(2);
  EXPECT_THROW(pool.run(10,
                        [](std::size_t b, std::size_t, WorkerContext&) {
                          if (b == 0) throw std::runtime_error("boom");
                        }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int> n{0};
  pool.run(4, [&](std::size_t b, std::size_t e, WorkerContext&) { n += static_cast<int>(e - b); });
  EXPECT_EQ(n.load(), 4);
}

TEST_F(SigningTest, BatchWorkerSignsItsRangeOnlyAndIsIdempotent) {
  const auto input = random_records(3000);
  store_->ingest(input);
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {257, "pod-a"});
  const BatchResult r = worker.run({1, 4, 2, key_set_, kJob, "tester", "127.0.0.1"});
  const records::ShardRange range = records::shard_range_for_batch(1, 4);
  std::size_t in_range = 0;
  for (const auto& rec : input) in_range += range.contains(records::shard_of(rec.id));
  EXPECT_EQ(r.signed_count, in_range);
  EXPECT_EQ(r.key, keys_.at(2).public_key);
  EXPECT_EQ(r.pod, "pod-a");
  const auto signed_map = signed_records();
  ASSERT_EQ(signed_map.size(), in_range);
  const crypto::MessageSigner verifier;
  for (const auto& [id, rec] : signed_map) {
    ASSERT_TRUE(range.contains(records::shard_of(id)));
    ASSERT_EQ(crypto::verify_signature(verifier, rec.salt, rec.msg, rec.sign, rec.key),
              crypto::Verdict::kValid);
    ASSERT_EQ(rec.key, keys_.at(2).public_key);
    ASSERT_EQ(rec.job_id, kJob);  // provenance
  }
  const auto events = store_->list_audit(std::string(kJob), 10);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].route, "/batch");
  EXPECT_EQ(events[0].outcome, "ok");
  EXPECT_EQ(events[0].client, "tester");
  EXPECT_EQ(events[0].batch, std::optional<std::uint64_t>(1));
  EXPECT_EQ(events[0].count, in_range);
  EXPECT_EQ(events[0].key_addresses, std::vector<std::string>{keys_.at(2).address});
  EXPECT_EQ(worker.run({1, 4, 2, key_set_, kJob, "tester", "127.0.0.1"}).signed_count,
            0u);  // idempotent
  EXPECT_EQ(store_->count().unsigned_records, input.size() - in_range);
  EXPECT_EQ(
      metrics_.value(metrics::kRecordsSigned,
                     {{"key_index", "2"}, {"address", keys_.at(2).address}, {"pod", "pod-a"}}),
      static_cast<double>(in_range));
}

TEST_F(SigningTest, BatchWorkerStopsAfterTheCurrentChunkWhenAsked) {
  store_->ingest(random_records(2000));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {100, "pod"});
  std::stop_source stop;
  stop.request_stop();
  const BatchResult r =
      worker.run({0, 1, 0, key_set_, kJob, "tester", "127.0.0.1"}, stop.get_token());
  EXPECT_TRUE(r.interrupted);
  EXPECT_EQ(r.signed_count, 100u);  // exactly one chunk, fully moved
  EXPECT_EQ(store_->count().signed_records, 100u);
}

TEST_F(SigningTest, CoordinatorSignsEverythingWithRoundRobinKeys) {
  const auto input = random_records(5000);
  store_->ingest(input);
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {300, "pod"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(*store_, key_holder_, dispatcher, metrics_, *audit_, {3, 2, {}, {}});
  const JobSnapshot plan = coordinator.start(request(700));
  EXPECT_EQ(plan.batches, 8u);  // ceil(5000 / 700)
  EXPECT_EQ(plan.unsigned_at_start, 5000u);
  const auto done = coordinator.wait(plan.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, JobState::kSucceeded);
  EXPECT_EQ(done->records_signed, 5000u);
  EXPECT_EQ(done->batches_done, 8u);
  const auto signed_map = signed_records();
  ASSERT_EQ(signed_map.size(), 5000u);
  for (const auto& [id, rec] : signed_map) {
    const std::uint64_t batch = (static_cast<std::uint64_t>(records::shard_of(id)) * 8) >> 32;
    ASSERT_EQ(rec.key, keys_.at(batch % 3).public_key) << id;
  }
  EXPECT_EQ(store_->count().unsigned_records, 0u);
}

TEST_F(SigningTest, CoordinatorWithNothingToSignSucceedsAtOnce) {
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {300, "pod"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(*store_, key_holder_, dispatcher, metrics_, *audit_, {});
  const JobSnapshot plan = coordinator.start(request(10));
  EXPECT_EQ(plan.batches, 0u);
  EXPECT_EQ(coordinator.wait(plan.id)->state, JobState::kSucceeded);
}

TEST_F(SigningTest, CoordinatorBackfillsRecordsWithoutShard) {
  // Insert the way another tool would: no shard column value.
  store_->ingest(random_records(10));
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "signer.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "INSERT INTO records (id, msg) VALUES ('not-hex-id', 'a'), "
                           "('ABCDEF12XYZ', 'b'), ('ab', 'c')",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {4, "pod"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(*store_, key_holder_, dispatcher, metrics_, *audit_, {});
  const auto done = coordinator.wait(coordinator.start(request(3)).id);
  EXPECT_EQ(done->records_signed, 13u);
  EXPECT_EQ(store_->count().unsigned_records, 0u);
  EXPECT_TRUE(store_->find_signed("ABCDEF12XYZ"));
}

// The retry policy, pinned with a dispatcher that fails chosen attempts (FlakyDispatcher).
TEST_F(SigningTest, CoordinatorRetriesFailedBatchesWithBackoff) {
  store_->ingest(random_records(1000));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {300, "pod"});
  InProcessDispatcher inner(worker);
  FlakyDispatcher flaky(inner, 2, {.retryable = true});
  Coordinator coordinator(*store_, key_holder_, flaky, metrics_, *audit_,
                          {2, 3, std::chrono::milliseconds(1), std::chrono::milliseconds(4)});
  const auto done = coordinator.wait(coordinator.start(request(250)).id);
  EXPECT_EQ(done->state, JobState::kSucceeded);
  EXPECT_EQ(done->retries, 8u);  // 4 batches x 2 failures
  EXPECT_EQ(done->records_signed, 1000u);
}

TEST_F(SigningTest, CoordinatorReportsBatchesThatExhaustTheirAttempts) {
  store_->ingest(random_records(1000));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {300, "pod"});
  InProcessDispatcher inner(worker);
  FlakyDispatcher flaky(inner, 5, {.retryable = true});
  Coordinator coordinator(*store_, key_holder_, flaky, metrics_, *audit_,
                          {2, 3, std::chrono::milliseconds(1), std::chrono::milliseconds(2)});
  const auto done = coordinator.wait(coordinator.start(request(500)).id);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_EQ(done->batches_failed, 2u);
  ASSERT_EQ(done->failed.size(), 2u);
  EXPECT_EQ(done->failed[0].attempts, 3);
  EXPECT_EQ(store_->count().unsigned_records, 1000u);  // nothing lost, nothing half-moved
}

TEST_F(SigningTest, BusyAnswersAreWaitedOutWithoutUsingAttempts) {
  store_->ingest(random_records(600));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {300, "pod"});
  InProcessDispatcher inner(worker);
  FlakyDispatcher busy(inner, 5, {.retryable = true, .busy = true});
  Coordinator coordinator(*store_, key_holder_, busy, metrics_, *audit_, {2, 2, {}, {}});
  const auto done = coordinator.wait(coordinator.start(request(300)).id);
  EXPECT_EQ(done->state, JobState::kSucceeded);  // 5 busy answers > 2 attempts, still fine
  EXPECT_EQ(done->retries, 0u);
  EXPECT_EQ(done->records_signed, 600u);
}

TEST_F(SigningTest, NonRetryableFailureIsNotRetried) {
  store_->ingest(random_records(100));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {300, "pod"});
  InProcessDispatcher inner(worker);
  FlakyDispatcher flaky(inner, 1, {.retryable = false});
  Coordinator coordinator(*store_, key_holder_, flaky, metrics_, *audit_, {1, 4, {}, {}});
  const auto done = coordinator.wait(coordinator.start(request(100)).id);
  EXPECT_EQ(done->retries, 0u);
  EXPECT_EQ(done->batches_failed, 1u);
}

// Blocks every batch until released, to hold a job open.
class GateDispatcher final : public BatchDispatcher {
 public:
  BatchResult dispatch(const BatchSpec& spec, std::stop_token stop) override {
    std::unique_lock lock(m_);
    const bool opened = cv_.wait(lock, stop, [&] { return open_; });
    return BatchResult{spec.batch, spec.batch_count, spec.key_index, "", 0, 0, 0, 0, !opened, "",
                       {}};
  }
  std::string mode() const override { return "gate"; }
  void open() {
    {
      std::lock_guard lock(m_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable_any cv_;
  bool open_ = false;
};

TEST_F(SigningTest, SecondJobWhileOneRunsIsRefused) {
  store_->ingest(random_records(10));
  GateDispatcher gate;
  Coordinator coordinator(*store_, key_holder_, gate, metrics_, *audit_, {});
  const auto first = coordinator.start(request(5));
  EXPECT_THROW(coordinator.start(request(5)), JobAlreadyRunning);
  EXPECT_EQ(coordinator.snapshot()->state, JobState::kRunning);
  gate.open();
  // The gate signs nothing, so the job ends failed (its records remain unsigned); it has ended.
  EXPECT_EQ(coordinator.wait(first.id)->state, JobState::kFailed);
  EXPECT_NO_THROW(coordinator.wait(coordinator.start(request(5)).id));  // a new job may start now
}

TEST_F(SigningTest, StopInterruptsARunningJob) {
  store_->ingest(random_records(10));
  GateDispatcher gate;
  Coordinator coordinator(*store_, key_holder_, gate, metrics_, *audit_, {});
  const auto job = coordinator.start(request(1));
  coordinator.stop();
  EXPECT_EQ(coordinator.snapshot()->state, JobState::kInterrupted);
  EXPECT_EQ(coordinator.snapshot()->id, job.id);
}

// ---- job ids, job records, audit events --------------------------------------------------------

TEST(JobId, NewIdsHaveTheDocumentedShapeSortByTimeAndDiffer) {
  const std::string a = audit::new_job_id(0x0123456789ab);
  const std::string b = audit::new_job_id(0x0123456789ab);
  EXPECT_EQ(a.substr(0, 15), "j-0123456789ab-");
  EXPECT_EQ(a.size(), audit::kJobIdLength);
  EXPECT_TRUE(audit::is_valid_job_id(a)) << a;
  EXPECT_NE(a, b);  // same millisecond, 64 random bits apart
  EXPECT_LT(audit::new_job_id(1000), audit::new_job_id(2000));
}

TEST(JobId, RejectsEverythingElse) {
  for (const char* bad : {"", "1", "j-0123456789ab-0123456789abcdef0",
                          "j-0123456789ab-0123456789abcde", "J-0123456789ab-0123456789abcdef",
                          "j-0123456789AB-0123456789abcdef", "j_0123456789ab-0123456789abcdef",
                          "j-0123456789ab_0123456789abcdef", "j-0123456789ab-0123456789abcdeg",
                          "j-0123456789ab-0123456789abcde/", "j-0123456789ab-0123456789abcd%20"}) {
    EXPECT_FALSE(audit::is_valid_job_id(bad)) << bad;
  }
  EXPECT_TRUE(audit::is_valid_job_id("j-0123456789ab-0123456789abcdef"));
}

// A store keeps a job as job_fields_text and each outcome as the text of its to_json: the job's
// text is the record's tree with `results` empty whatever the record holds, and both read back,
// whichever fields are set. A job saved before the outcomes had rows holds them in its text.
TEST(JobRecordText, IsTheRecordsJsonWithoutOutcomesAndReadsBack) {
  audit::JobRecord job;
  job.id = audit::new_job_id(1700000000000);
  const std::string empty = audit::job_fields_text(job);
  EXPECT_EQ(empty, audit::dump_line(audit::to_json(job)));
  EXPECT_NE(empty.find("\"results\":[]"), std::string::npos) << empty;

  job.started_by = "ops \"night\" \\ shift";
  job.remote_addr = "127.0.0.1:5000";
  job.batch_size = 10000;
  job.keys = {{0, "0xabc", "0x04def"}, {3, "0x123", "0x04456"}};
  job.scheme = "eip712:mail";
  job.scheme_fingerprint = "sha256:00ff";
  job.state = audit::JobState::kFailed;
  job.unsigned_at_start = 30001;
  job.batches = 4;
  job.records_signed = 20000;
  job.already_signed = 7;
  job.records_invalid = 1;
  job.started_unix_ms = 1700000000000;
  job.ended_unix_ms = 1700000009999;
  job.unsigned_at_end = 10001;
  job.left_from_start = 10001;
  job.error = "1 of 4 batches failed: caf\xc3\xa9 \xff";  // invalid UTF-8 is replaced
  for (std::uint64_t b = 0; b < 3; ++b) {
    job.results.push_back({b, "pod-" + std::to_string(b), b % 2, "0xabc", 10000 - b, b, 1, ""});
  }
  job.results.push_back({3, "", 1, "0x123", 0, 0, 5, "store \"full\"\n\t\x01"});
  const std::string text = audit::job_fields_text(job);
  audit::JobRecord without = job;
  without.results.clear();
  EXPECT_EQ(text, audit::dump_line(audit::to_json(without)));
  audit::JobRecord back = audit::job_record_from_json(nlohmann::json::parse(text));
  EXPECT_TRUE(back.results.empty());
  EXPECT_EQ(back.scheme_fingerprint, "sha256:00ff");
  EXPECT_EQ(back.left_from_start, std::optional<std::uint64_t>(10001));
  EXPECT_EQ(back.error, "1 of 4 batches failed: caf\xc3\xa9 \xef\xbf\xbd");
  for (const audit::BatchOutcome& b : job.results) {
    back.results.push_back(
        audit::batch_outcome_from_json(nlohmann::json::parse(audit::dump_line(audit::to_json(b)))));
  }
  back.error = job.error;  // the one field the text changed
  EXPECT_EQ(audit::to_json(back), audit::to_json(job));
  ASSERT_EQ(back.results.size(), 4u);
  EXPECT_EQ(back.results[3].error, "store \"full\"\n\t\x01");
  EXPECT_EQ(back.results[2].signed_count, 9998u);

  // The text of a record saved whole.
  const audit::JobRecord old =
      audit::job_record_from_json(nlohmann::json::parse(audit::dump_line(audit::to_json(job))));
  ASSERT_EQ(old.results.size(), 4u);
  EXPECT_EQ(old.results[1].pod, "pod-1");
}

TEST_F(SigningTest, CoordinatorPersistsTheJobWithEveryBatchResultAndStampsItsRecords) {
  store_->ingest(random_records(1000));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {100, "pod-a"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(*store_, key_holder_, dispatcher, metrics_, *audit_, {2, 2, {}, {}});
  const JobSnapshot plan = coordinator.start(request(300));
  EXPECT_TRUE(audit::is_valid_job_id(plan.id)) << plan.id;
  const auto done = coordinator.wait(plan.id);
  ASSERT_EQ(done->state, JobState::kSucceeded);

  const auto job = store_->find_job(plan.id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, audit::JobState::kSucceeded);
  EXPECT_EQ(job->started_by, "tester");
  EXPECT_EQ(job->remote_addr, "127.0.0.1");
  EXPECT_EQ(job->batch_size, 300u);
  EXPECT_EQ(job->unsigned_at_start, 1000u);
  EXPECT_EQ(job->batches, 4u);
  EXPECT_EQ(job->records_signed, 1000u);
  EXPECT_GT(job->ended_unix_ms, 0);
  EXPECT_GE(job->ended_unix_ms, job->started_unix_ms);
  ASSERT_EQ(job->keys.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(job->keys[i].index, i);
    EXPECT_EQ(job->keys[i].address, keys_.at(i).address);
    EXPECT_EQ(job->keys[i].public_key, keys_.at(i).public_key);
  }
  ASSERT_EQ(job->results.size(), 4u);
  for (const audit::BatchOutcome& b : job->results) {
    EXPECT_EQ(b.pod, "pod-a");
    EXPECT_EQ(b.key_index, b.batch % 3);
    EXPECT_EQ(b.key_address, keys_.at(b.batch % 3).address);
    EXPECT_EQ(b.attempts, 1);
    EXPECT_EQ(b.error, "");
  }
  const OutcomeTally outcomes = tally(job->results);
  EXPECT_EQ(outcomes.batches, (std::set<std::uint64_t>{0, 1, 2, 3}));
  EXPECT_EQ(outcomes.signed_count, 1000u);
  std::size_t stamped = 0;
  store_->for_each_signed_of_job(plan.id, [&](const records::SignedRecord&) { ++stamped; });
  EXPECT_EQ(stamped, 1000u);
}

TEST_F(SigningTest, CoordinatorSignsOnlyWithTheRequestedKeysInTheirOrder) {
  store_->ingest(random_records(2000));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {300, "pod"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(*store_, key_holder_, dispatcher, metrics_, *audit_, {2, 2, {}, {}});
  const auto done = coordinator.wait(coordinator.start(request(400, {2, 0})).id);
  ASSERT_EQ(done->state, JobState::kSucceeded);
  EXPECT_EQ(done->keys, 2u);
  const std::vector<std::size_t> order{2, 0};
  for (const auto& [id, rec] : signed_records()) {
    const std::uint64_t batch = (static_cast<std::uint64_t>(records::shard_of(id)) * 5) >> 32;
    ASSERT_EQ(rec.key, keys_.at(order[batch % 2]).public_key) << id;
  }
  const auto job = store_->find_job(done->id);
  ASSERT_TRUE(job);
  ASSERT_EQ(job->keys.size(), 2u);
  EXPECT_EQ(job->keys[0].index, 2u);
  EXPECT_EQ(job->keys[1].index, 0u);
}

TEST_F(SigningTest, CoordinatorRejectsAKeyIndexOutOfRangeWithoutStartingAJob) {
  store_->ingest(random_records(10));
  GateDispatcher gate;
  Coordinator coordinator(*store_, key_holder_, gate, metrics_, *audit_, {});
  EXPECT_THROW(coordinator.start(request(5, {0, 3})), JobRequestError);
  EXPECT_THROW(coordinator.start(request(0)), JobRequestError);
  EXPECT_FALSE(coordinator.snapshot());
  EXPECT_TRUE(store_->list_jobs(10).empty());
}

TEST_F(SigningTest, TwoJobsGetDifferentIdsAndBothAreListed) {
  store_->ingest(random_records(10));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {300, "pod"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(*store_, key_holder_, dispatcher, metrics_, *audit_, {});
  const std::string first = coordinator.wait(coordinator.start(request(5)).id)->id;
  std::this_thread::sleep_for(std::chrono::milliseconds(3));  // list order is by start time
  const std::string second = coordinator.wait(coordinator.start(request(5)).id)->id;
  EXPECT_NE(first, second);
  const auto jobs = store_->list_jobs(10);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].id, second);
  EXPECT_EQ(jobs[1].id, first);
}

TEST_F(SigningTest, JobStartEveryBatchAndJobEndAreAuditEvents) {
  store_->ingest(random_records(600));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {100, "pod-a"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(*store_, key_holder_, dispatcher, metrics_, *audit_, {});
  const std::string id = coordinator.wait(coordinator.start(request(200)).id)->id;
  auto events = store_->list_audit(id, 100);
  std::reverse(events.begin(), events.end());  // oldest first
  ASSERT_EQ(events.size(), 5u);                // start, 3 batches, end
  EXPECT_EQ(events.front().route, "/sign");
  EXPECT_EQ(events.front().outcome, "started");
  EXPECT_EQ(events.front().client, "tester");
  EXPECT_EQ(events.front().remote_addr, "127.0.0.1");
  EXPECT_EQ(events.front().count, 600u);
  EXPECT_EQ(events.front().key_addresses.size(), 3u);
  std::uint64_t batch_signed = 0;
  std::set<std::uint64_t> batches;
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(events[i].route, "/batch");
    EXPECT_EQ(events[i].outcome, "ok");
    ASSERT_TRUE(events[i].batch);
    batches.insert(*events[i].batch);
    ASSERT_EQ(events[i].key_addresses.size(), 1u);
    EXPECT_EQ(events[i].key_addresses[0], keys_.at(*events[i].batch % 3).address);
    EXPECT_NE(events[i].detail.find("pod-a"), std::string::npos) << events[i].detail;
    batch_signed += events[i].count;
  }
  EXPECT_EQ(batches, (std::set<std::uint64_t>{0, 1, 2}));
  EXPECT_EQ(batch_signed, 600u);
  EXPECT_EQ(events.back().route, "/sign");
  EXPECT_EQ(events.back().outcome, "succeeded");
  EXPECT_EQ(events.back().count, 600u);
}

TEST_F(SigningTest, AFailedBatchIsRecordedWithItsErrorAndAttempts) {
  store_->ingest(random_records(100));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {300, "pod"});
  InProcessDispatcher inner(worker);
  FlakyDispatcher flaky(inner, 1, {.retryable = false});
  Coordinator coordinator(*store_, key_holder_, flaky, metrics_, *audit_, {1, 4, {}, {}});
  const auto done = coordinator.wait(coordinator.start(request(100)).id);
  ASSERT_EQ(done->state, JobState::kFailed);
  const auto job = store_->find_job(done->id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, audit::JobState::kFailed);
  ASSERT_EQ(job->results.size(), 1u);
  EXPECT_EQ(job->results[0].attempts, 1);
  EXPECT_FALSE(job->results[0].error.empty());
}

TEST_F(SigningTest, JobVerifierAcceptsAnHonestJobAndNamesATamperedRecord) {
  store_->ingest(random_records(300));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {100, "pod"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(*store_, key_holder_, dispatcher, metrics_, *audit_, {});
  const std::string id = coordinator.wait(coordinator.start(request(100)).id)->id;
  const auto job = store_->find_job(id);
  ASSERT_TRUE(job);
  std::vector<audit::Mismatch> found;
  auto collect = [&](const audit::Mismatch& m) { found.push_back(m); };
  audit::VerifyReport report = audit::verify_job(*store_, *job, {}, collect);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.found, 300u);
  EXPECT_EQ(report.expected, 300u);
  EXPECT_EQ(report.valid, 300u);

  // Tamper with one record's message behind the store's back.
  const std::string victim = signed_records().begin()->first;
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "signer.db").c_str(), &raw), SQLITE_OK);
    const std::string sql = "UPDATE signedrecords SET msg = 'forged' WHERE id = '" + victim + "'";
    EXPECT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  report = audit::verify_job(*store_, *job, {}, collect);
  EXPECT_FALSE(report.ok());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].record_id, victim);

  // A job that claims more than carries its id is a count mismatch.
  found.clear();
  audit::JobRecord inflated = *job;
  inflated.records_signed += 1;
  report = audit::verify_job(*store_, inflated, {}, collect);
  EXPECT_EQ(found.back().record_id, "");
  EXPECT_NE(found.back().reason.find("account for 301"), std::string::npos) << found.back().reason;

  // While a job runs, records moved by an attempt that then failed are accounted for by its
  // "/batch" error event.
  found.clear();
  audit::JobRecord retried = *job;
  retried.state = audit::JobState::kRunning;
  retried.results[0].signed_count -= 5;
  EXPECT_EQ(audit::verify_job(*store_, retried, {}, collect).mismatches, 2u);  // tampered + count
  store_->append_audit({.route = "/batch", .outcome = "error", .count = 5, .job_id = id});
  found.clear();
  EXPECT_EQ(audit::verify_job(*store_, retried, {}, collect).mismatches,
            1u);  // only the tampered one
  EXPECT_EQ(found.at(0).record_id, victim);

  // A job whose key list lacks the key used: every such record is named.
  found.clear();
  audit::JobRecord narrowed = *job;
  narrowed.keys.resize(1);
  report = audit::verify_job(*store_, narrowed, {}, collect);
  EXPECT_FALSE(report.ok());
  EXPECT_GT(found.size(), 1u);
}

TEST_F(SigningTest, JobVerifierRejectsARecordWhoseSaltBoundaryWasMoved) {
  store_->ingest(random_records(50));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {100, "pod"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(*store_, key_holder_, dispatcher, metrics_, *audit_, {});
  const std::string id = coordinator.wait(coordinator.start(request(100)).id)->id;
  const auto job = store_->find_job(id);
  ASSERT_TRUE(job);
  // The salt's last character moves to the front of msg: Keccak256(salt + msg) is unchanged.
  const std::string victim = signed_records().begin()->first;
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "signer.db").c_str(), &raw), SQLITE_OK);
    const std::string sql =
        "UPDATE signedrecords SET salt = substr(salt, 1, 35), msg = substr(salt, 36, 1) || msg "
        "WHERE id = '" +
        victim + "'";
    EXPECT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  std::vector<audit::Mismatch> found;
  const audit::VerifyReport report =
      audit::verify_job(*store_, *job, {}, [&](const audit::Mismatch& m) { found.push_back(m); });
  EXPECT_EQ(report.valid, 49u);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].record_id, victim);
  EXPECT_EQ(found[0].reason, "salt is not a lowercase UUIDv4");
}

// ---- honest outcomes (issue 11) ----

TEST_F(SigningTest, CoordinatorRepairsShardsOutsideTheShardSpaceAndSignsThoseRecords) {
  store_->ingest(random_records(10));
  exec_raw(dir_ / "signer.db",
           "INSERT INTO records (id, msg, shard) VALUES ('00000001aa', 'a', -1), "
           "('00000002bb', 'b', 1099511627776), ('00000003cc', 'c', 'not a number')");
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {4, "pod"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(*store_, key_holder_, dispatcher, metrics_, *audit_, {});
  const auto done = coordinator.wait(coordinator.start(request(3)).id);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->error;
  EXPECT_EQ(done->records_signed, 13u);
  EXPECT_EQ(store_->count().unsigned_records, 0u);
  EXPECT_EQ(done->unsigned_at_end, 0u);
}

// Reports every batch done and signs nothing: what a store that cannot see some records does.
class BlindDispatcher final : public BatchDispatcher {
 public:
  BatchResult dispatch(const BatchSpec& spec, std::stop_token) override {
    BatchResult r;
    r.batch = spec.batch;
    r.batch_count = spec.batch_count;
    return r;
  }
  std::string mode() const override { return "blind"; }
};

TEST_F(SigningTest, AJobThatLeavesRecordsOfItsStartUnsignedDoesNotSucceed) {
  store_->ingest(random_records(7));
  BlindDispatcher blind;
  Coordinator coordinator(*store_, key_holder_, blind, metrics_, *audit_, {});
  const auto done = coordinator.wait(coordinator.start(request(3)).id);
  EXPECT_EQ(done->batches_done, done->batches);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_EQ(done->unsigned_at_end, 7u);
  EXPECT_NE(done->error.find("7 records present at the start remain unsigned"), std::string::npos)
      << done->error;
  EXPECT_EQ(store_->find_job(done->id)->state, JobState::kFailed);
}

TEST_F(SigningTest, ABatchSkipsARecordWhoseMsgIsNotTextAndSignsTheRest) {
  store_->ingest(random_records(20));
  exec_raw(dir_ / "signer.db",
           "INSERT INTO records (id, msg, shard) VALUES ('7fffffffbad', x'00ff', 2147483647)");
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {4, "pod"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(*store_, key_holder_, dispatcher, metrics_, *audit_, {});
  const auto done = coordinator.wait(coordinator.start(request(100)).id);
  EXPECT_EQ(done->records_signed, 20u);
  EXPECT_EQ(done->records_invalid, 1u);
  EXPECT_EQ(done->invalid_ids, std::vector<std::string>{"7fffffffbad"});
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->error;
  EXPECT_EQ(store_->count().unsigned_records, 1u);  // it stays, unsigned
  bool audited = false;
  for (const audit::AuditEvent& e : store_->list_audit(done->id, 100)) {
    if (e.outcome == "invalid" && e.detail.find("7fffffffbad") != std::string::npos) {
      audited = true;
    }
  }
  EXPECT_TRUE(audited);
}

TEST_F(SigningTest, CoordinatorListsTheFirstFailedBatchesAndCountsThemAll) {
  store_->ingest(random_records(30));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {300, "pod"});
  InProcessDispatcher inner(worker);
  FlakyDispatcher flaky(inner, 1, {.retryable = false});
  CoordinatorOptions options{2, 1, std::chrono::milliseconds(1), std::chrono::milliseconds(1)};
  options.max_listed_failures = 20;
  Coordinator coordinator(*store_, key_holder_, flaky, metrics_, *audit_, options);
  const auto done = coordinator.wait(coordinator.start(request(1)).id);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_EQ(done->batches_failed, 30u);
  EXPECT_EQ(done->failed.size(), 20u);
  EXPECT_EQ(done->failed_omitted, 10u);
}

TEST_F(SigningTest, ABatchOfLargeMessagesIsReadInChunksBoundedByBytesAndSignsEveryRecord) {
  auto records = random_records(50);
  for (auto& r : records) r.msg.assign(10000, 'm');
  store_->ingest(records);
  // 2000 records a chunk, but 25 KB: about 3 records per chunk.
  BatchWorkerOptions options{2000, "pod", 25000};
  BatchWorker worker(*store_, pool_, metrics_, *audit_, options);
  const BatchResult r = worker.run({0, 1, 0, key_set_, kJob, "tester", "127.0.0.1"});
  EXPECT_EQ(r.signed_count, 50u);
  EXPECT_EQ(store_->count().unsigned_records, 0u);
}

}  // namespace
}  // namespace signer::signing
