// Job reports that tell the truth, and jobs that ride out store faults (issue 20), against a real
// SQLite file: a failed job names its error; records_signed is what carries the job's id, also
// when an attempt's answer was lost; invalid records are counted once however often a batch
// runs; the end-of-job check sees a record the batches missed even when records were ingested
// meanwhile; transient store errors outside the move are retried; a dead store ends the job
// after one store timeout, not one per batch.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "forwarding_store.h"
#include "pg_test_support.h"
#include "signing/batch_dispatcher.h"
#include "signing/batch_worker.h"
#include "signing_fixture.h"
#include "store/postgres/postgres_store.h"

namespace signer::signing {
namespace {

using namespace std::chrono_literals;

// Runs each batch for real, but the first answer of each batch is lost on its way back, as when
// a reset hits the connection after the pod moved everything.
class LostAnswerDispatcher final : public BatchDispatcher {
 public:
  explicit LostAnswerDispatcher(BatchDispatcher& inner) : inner_(inner) {}
  BatchResult dispatch(const BatchSpec& spec, std::stop_token stop) override {
    BatchResult r = inner_.dispatch(spec, stop);
    std::lock_guard lock(m_);
    if (lost_.insert(spec.batch).second) throw BatchError("connection reset by peer", true);
    return r;
  }
  std::string mode() const override { return "lossy"; }

 private:
  BatchDispatcher& inner_;
  std::mutex m_;
  std::set<std::uint64_t> lost_;
};

TEST_F(SigningTest, RecordsSignedIsWhatCarriesTheJobIdAlsoWhenAnAnswerWasLost) {
  store_->ingest(random_records(400));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {50, "pod"});
  InProcessDispatcher inner(worker);
  LostAnswerDispatcher lossy(inner);
  Coordinator coordinator(*store_, key_holder_, lossy, metrics_, *audit_, {2, 3, 1ms, 2ms});
  const auto done = coordinator.wait(coordinator.start(request(100)).id);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->error;
  EXPECT_EQ(done->retries, 4u);
  // Every record was moved by an attempt whose answer never arrived; the retries found nothing.
  EXPECT_EQ(store_->count_signed_of_job(done->id), 400u);
  EXPECT_EQ(done->records_signed, 400u);
  EXPECT_EQ(store_->find_job(done->id)->records_signed, 400u);
}

// Holds the save of a job's final record until the test lets it go.
class HeldFinalSaveStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  using ForwardingStore::save_job;
  void save_job(const audit::JobRecord& job, std::uint64_t first_outcome) override {
    if (job.state != JobState::kRunning) {
      std::unique_lock lock(m_);
      held_ = true;
      changed_.notify_all();
      changed_.wait(lock, [&] { return released_; });
    }
    inner_.save_job(job, first_outcome);
  }
  void wait_until_held() {
    std::unique_lock lock(m_);
    changed_.wait(lock, [&] { return held_; });
  }
  void release() {
    std::lock_guard lock(m_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable changed_;
  bool held_ = false;
  bool released_ = false;
};

// /stats must not say a job ended while a /sign would still be refused with 409: the state
// turns final only when the job is done, after its record is saved.
TEST_F(SigningTest, AJobShowsItsFinalStateOnlyOnceANewJobCanStart) {
  store_->ingest(random_records(40));
  HeldFinalSaveStore held(*store_);
  BatchWorker worker(held, pool_, metrics_, *audit_, {50, "pod"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(held, key_holder_, dispatcher, metrics_, *audit_, {2, 3, 1ms, 2ms});
  const std::string id = coordinator.start(request(10)).id;
  held.wait_until_held();
  EXPECT_EQ(coordinator.snapshot()->state, JobState::kRunning);
  EXPECT_THROW(coordinator.start(request(10)), JobAlreadyRunning);
  held.release();
  const auto done = coordinator.wait(id);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->error;
  EXPECT_EQ(coordinator.snapshot()->state, JobState::kSucceeded);
  EXPECT_NO_THROW(coordinator.wait(coordinator.start(request(10)).id));
}

// Counts the saves of a job's record while it runs.
class CountingSavesStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  using ForwardingStore::save_job;
  void save_job(const audit::JobRecord& job, std::uint64_t first_outcome) override {
    if (job.state == JobState::kRunning) ++running_saves;
    inner_.save_job(job, first_outcome);
  }
  std::atomic<int> running_saves{0};
};

// A save rewrites the job's fields: saved after every batch, a job of B batches would write its
// record B times. It is saved at most once per interval instead, and the stored job ends with
// every batch.
TEST_F(SigningTest, AJobOfManyBatchesSavesItsRunningRecordAtMostOncePerInterval) {
  CountingSavesStore counting(*store_);
  const auto start = std::chrono::steady_clock::now();
  const auto done = run_one_record_batches(counting, 400, 300ms);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(done->state, JobState::kSucceeded) << done->error;
  ASSERT_EQ(done->batches, 400u);
  // The save at the job's start, then one per interval begun.
  EXPECT_LE(counting.running_saves.load(), static_cast<int>(took.count() / 0.3) + 2)
      << "in " << took.count() << " s";
  const auto saved = store_->find_job(done->id);
  ASSERT_TRUE(saved);
  EXPECT_EQ(saved->results.size(), 400u);
  EXPECT_EQ(saved->records_signed, 400u);
}

// Records what each save of a running job carried, and fails the second of them that carries
// outcomes. Each move takes a millisecond, so a job of 400 batches spans many save intervals.
class OutcomeSavesStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  using ForwardingStore::save_job;
  struct Save {
    std::uint64_t first = 0;
    std::uint64_t count = 0;
    bool stored = false;
  };
  store::MoveResult move_to_signed(std::span<const records::SignedRecord> records) override {
    std::this_thread::sleep_for(1ms);
    return inner_.move_to_signed(records);
  }
  void save_job(const audit::JobRecord& job, std::uint64_t first_outcome) override {
    Save save{first_outcome, job.results.size(), false};
    for (std::uint64_t i = 0; i < job.results.size(); ++i) {
      EXPECT_EQ(job.results[i].key_index, (job.results[i].batch % 2)) << "outcome " << i;
    }
    {
      std::lock_guard lock(m_);
      if (save.count > 0 && ++with_outcomes_ == 2) {
        saves_.push_back(save);
        throw store::StoreError(store::ErrorKind::kUnavailable, "injected");
      }
    }
    inner_.save_job(job, first_outcome);
    std::lock_guard lock(m_);
    save.stored = true;
    saves_.push_back(save);
  }
  std::vector<Save> saves() {
    std::lock_guard lock(m_);
    return saves_;
  }

 private:
  std::mutex m_;
  int with_outcomes_ = 0;
  std::vector<Save> saves_;
};

// A running job keeps in memory only the outcomes no save has stored yet: each save stores the
// outcomes that ended since the last one that succeeded, numbered from where it left off, so the
// stored saves tile the job's outcomes exactly once; a failed save's outcomes go with the next.
// Saving the whole record each time (what a job did before its outcomes had rows) stores the
// first outcomes again with every save.
TEST_F(SigningTest, AJobSavesEachOutcomeOnceAndHoldsOnlyThoseNotYetSaved) {
  OutcomeSavesStore saving(*store_);
  const auto done = run_one_record_batches(saving, 400, 20ms, {0, 1});
  ASSERT_EQ(done->state, JobState::kSucceeded) << done->error;
  ASSERT_EQ(done->batches, 400u);

  std::uint64_t next = 0;
  int stored_with_outcomes = 0;
  bool failed = false;
  for (const OutcomeSavesStore::Save& save : saving.saves()) {
    if (save.count == 0) continue;
    EXPECT_EQ(save.first, next) << "a save must start where the stored ones end";
    if (save.stored) {
      next += save.count;
      ++stored_with_outcomes;
    } else {
      failed = true;
    }
  }
  EXPECT_TRUE(failed);
  EXPECT_GE(stored_with_outcomes, 2);
  EXPECT_EQ(next, 400u);

  const auto saved = store_->find_job(done->id);
  ASSERT_TRUE(saved);
  ASSERT_EQ(saved->results.size(), 400u);
  for (const audit::BatchOutcome& b : saved->results) EXPECT_TRUE(b.error.empty()) << b.error;
  const OutcomeTally outcomes = tally(saved->results);
  EXPECT_EQ(outcomes.batches.size(), 400u);
  EXPECT_EQ(outcomes.signed_count, 400u);
  EXPECT_EQ(saved->records_signed, 400u);
  EXPECT_TRUE(store_->find_job(done->id, /*with_outcomes=*/false)->results.empty());
}

// Fails every attempt of every batch after the worker moved its first chunk: a store error that
// ends the run part way (what BatchRunError carries back).
class MovesThenFailsStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  store::MoveResult move_to_signed(std::span<const records::SignedRecord> records) override {
    if (moves_++ % 2 == 1) throw store::StoreError(store::ErrorKind::kConflict, "injected");
    return inner_.move_to_signed(records);
  }

 private:
  std::atomic<int> moves_{0};
};

TEST_F(SigningTest, RecordsSignedCountsWhatFailedAttemptsMovedBeforeTheyFailed) {
  store_->ingest(random_records(300));
  MovesThenFailsStore flaky(*store_);
  audit::AuditLog audit(flaky);
  BatchWorker worker(flaky, pool_, metrics_, audit, {50, "pod"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(flaky, key_holder_, dispatcher, metrics_, audit, {1, 8, 1ms, 1ms});
  const auto done = coordinator.wait(coordinator.start(request(300)).id);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->error;
  EXPECT_GT(done->retries, 0u);
  EXPECT_EQ(done->records_signed, 300u);
  ASSERT_EQ(done->batches, 1u);
  // The batch's own count includes what its failed attempts moved.
  EXPECT_EQ(store_->find_job(done->id)->results.at(0).signed_count, 300u);
}

// Batch 0's first run is cut short (a pod's shutdown) after the worker passed every record of
// the range; the batch then runs again and meets the same invalid record again.
class InterruptOnceDispatcher final : public BatchDispatcher {
 public:
  explicit InterruptOnceDispatcher(BatchDispatcher& inner) : inner_(inner) {}
  BatchResult dispatch(const BatchSpec& spec, std::stop_token stop) override {
    BatchResult r = inner_.dispatch(spec, stop);
    if (!interrupted_.exchange(true)) r.interrupted = true;
    return r;
  }
  std::string mode() const override { return "interrupting"; }

 private:
  BatchDispatcher& inner_;
  std::atomic<bool> interrupted_{false};
};

TEST_F(SigningTest, AnInvalidRecordIsCountedOnceWhenItsBatchRunsAgain) {
  store_->ingest(random_records(20));
  exec_raw(dir_ / "signer.db",
           "INSERT INTO records (id, msg, shard) VALUES ('7fffffffbad', x'00ff', 2147483647)");
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {4, "pod"});
  InProcessDispatcher inner(worker);
  InterruptOnceDispatcher interrupting(inner);
  Coordinator coordinator(*store_, key_holder_, interrupting, metrics_, *audit_, {1, 3, 1ms, 1ms});
  const auto done = coordinator.wait(coordinator.start(request(100)).id);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->error;
  EXPECT_EQ(done->retries, 1u);
  EXPECT_EQ(done->records_invalid, 1u);
  EXPECT_EQ(done->invalid_ids, std::vector<std::string>{"7fffffffbad"});
  EXPECT_EQ(store_->find_job(done->id)->records_invalid, 1u);
}

// Before batch 0 runs: a record of the start is moved out of every batch's reach (the state a
// read that ends early leaves it in), and records are ingested, which the job then signs too.
class LoseOneAndIngestDispatcher final : public BatchDispatcher {
 public:
  LoseOneAndIngestDispatcher(BatchDispatcher& inner, store::Store& store, std::filesystem::path db,
                             std::string victim)
      : inner_(inner), store_(store), db_(std::move(db)), victim_(std::move(victim)) {}
  BatchResult dispatch(const BatchSpec& spec, std::stop_token stop) override {
    if (!done_.exchange(true)) {
      const std::string hide =
          "UPDATE records SET shard = 4294967296 * 4 WHERE id = '" + victim_ + "'";
      exec_raw(db_, hide.c_str());
      store_.ingest(random_records(100));
    }
    return inner_.dispatch(spec, stop);
  }
  std::string mode() const override { return "in-process"; }

 private:
  BatchDispatcher& inner_;
  store::Store& store_;
  std::filesystem::path db_;
  std::string victim_;
  std::atomic<bool> done_{false};
};

TEST_F(SigningTest, RecordsIngestedDuringAJobCannotHideARecordOfItsStartThatNoBatchRead) {
  auto records = random_records(50);
  // Not lowercase hex, so the store finds it by its shard (SQLite reads lowercase-hex ids by
  // their id, whatever their shard), and a shard out of range hides it from every batch.
  records.push_back({"victim-of-a-short-read", "m"});
  store_->ingest(records);
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {20, "pod"});
  InProcessDispatcher inner(worker);
  LoseOneAndIngestDispatcher lossy(inner, *store_, dir_ / "signer.db", records.back().id);
  Coordinator coordinator(*store_, key_holder_, lossy, metrics_, *audit_, {1, 2, 1ms, 1ms});
  const auto done = coordinator.wait(coordinator.start(request(10)).id);
  EXPECT_EQ(done->batches_done, done->batches);
  // More records were signed than were there at the start, and still one of the start is left.
  EXPECT_GT(done->records_signed, 50u);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_EQ(done->left_from_start, 1u);
  EXPECT_NE(done->error.find("1 records present at the start remain unsigned"), std::string::npos)
      << done->error;
  const auto saved = store_->find_job(done->id);
  EXPECT_EQ(saved->state, JobState::kFailed);
  EXPECT_EQ(saved->left_from_start, 1u);
  EXPECT_EQ(saved->unsigned_at_end, done->unsigned_at_end);
  EXPECT_EQ(saved->error, done->error);
}

TEST_F(SigningTest, AJobWhoseBatchesFailedNamesTheFirstError) {
  store_->ingest(random_records(100));
  class Refusing final : public BatchDispatcher {
   public:
    BatchResult dispatch(const BatchSpec&, std::stop_token) override {
      throw BatchError("peer answered 502: load balancer: no pod answered", true);
    }
    std::string mode() const override { return "http"; }
  } refusing;
  Coordinator coordinator(*store_, key_holder_, refusing, metrics_, *audit_, {2, 2, 1ms, 1ms});
  const auto done = coordinator.wait(coordinator.start(request(50)).id);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_NE(done->error.find("2 of 2 batches failed"), std::string::npos) << done->error;
  EXPECT_NE(done->error.find("no pod answered"), std::string::npos) << done->error;
  EXPECT_EQ(store_->find_job(done->id)->error, done->error);
  EXPECT_EQ(done->unsigned_at_end, 100u);
}

// A Service with no pod in rotation for a while (after a store outage every pod may be out of it
// until its readiness passes again): the first `refusals` asks are answered "no pod".
// A load balancer with no pod in rotation, answering each batch's first attempts itself.
const BatchFailure kNoPod{.retryable = true, .no_pod = true};
constexpr const char* kNoPodAnswer = "peer answered 502: load balancer: no pod answered";

TEST_F(SigningTest, ABatchWaitsForAPodToAnswerWithoutUsingUpItsAttempts) {
  store_->ingest(random_records(100));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {50, "pod"});
  InProcessDispatcher inner(worker);
  FlakyDispatcher no_pod(inner, 6, kNoPod, kNoPodAnswer);  // far more than the attempts
  CoordinatorOptions options{2, 2, 1ms, 1ms};
  options.service_wait = 10s;
  Coordinator coordinator(*store_, key_holder_, no_pod, metrics_, *audit_, options);
  const auto done = coordinator.wait(coordinator.start(request(50)).id);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->error;
  EXPECT_EQ(done->records_signed, 100u);
  EXPECT_EQ(done->retries, 12u);
  EXPECT_EQ(done->batches_failed, 0u);
}

TEST_F(SigningTest, ABatchThatNoPodAnswersForTheWholeServiceWaitFailsSayingSo) {
  store_->ingest(random_records(100));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {50, "pod"});
  InProcessDispatcher inner(worker);
  FlakyDispatcher no_pod(inner, 1'000'000, kNoPod, kNoPodAnswer);
  CoordinatorOptions options{2, 2, 1ms, 1ms};
  options.service_wait = 50ms;
  Coordinator coordinator(*store_, key_holder_, no_pod, metrics_, *audit_, options);
  const auto started = std::chrono::steady_clock::now();
  const auto done = coordinator.wait(coordinator.start(request(50)).id);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 50ms);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_NE(done->error.find("no pod answered"), std::string::npos) << done->error;
  EXPECT_EQ(done->unsigned_at_end, 100u);
}

// A store whose first calls of one kind fail as a reset connection does.
class ResetOnceStore final : public testing::ForwardingStore {
 public:
  ResetOnceStore(store::Store& inner, int backfill_failures, int read_failures)
      : ForwardingStore(inner), backfills_(backfill_failures), reads_(read_failures) {}
  std::uint64_t backfill_shards() override {
    if (backfills_-- > 0) reset();
    return inner_.backfill_shards();
  }
  store::JobStart start_job() override {
    if (starts_-- > 0) reset();
    return inner_.start_job();
  }
  std::vector<records::UnsignedRecord> read_unsigned(const records::ShardRange& range,
                                                     store::ReadCursor& cursor, std::size_t limit,
                                                     std::size_t byte_limit) override {
    if (reads_-- > 0) reset();
    return inner_.read_unsigned(range, cursor, limit, byte_limit);
  }
  using ForwardingStore::read_unsigned;

 private:
  [[noreturn]] static void reset() {
    throw store::StoreError(store::ErrorKind::kUnavailable,
                            "postgres: server closed the connection unexpectedly");
  }
  std::atomic<int> backfills_;
  std::atomic<int> starts_{1};
  std::atomic<int> reads_;
};

TEST_F(SigningTest, AResetDuringTheBackfillOrTheCountsIsRetriedAndTheJobRuns) {
  store_->ingest(random_records(100));
  ResetOnceStore flaky(*store_, 2, 0);
  BatchWorker worker(flaky, pool_, metrics_, *audit_, {50, "pod"});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(flaky, key_holder_, dispatcher, metrics_, *audit_, {2, 3, 1ms, 2ms});
  const auto done = coordinator.wait(coordinator.start(request(50)).id);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->error;
  EXPECT_EQ(done->records_signed, 100u);
}

TEST_F(SigningTest, AResetDuringAChunkReadIsRetriedWithinTheBatch) {
  store_->ingest(random_records(100));
  ResetOnceStore flaky(*store_, 0, 2);
  BatchWorker worker(flaky, pool_, metrics_, *audit_, {30, "pod"});
  const BatchResult r = worker.run({0, 1, 0, key_set_, kJob, "tester", "127.0.0.1"});
  EXPECT_EQ(r.signed_count, 100u);
  EXPECT_EQ(store_->count().unsigned_records, 0u);
}

TEST(StoreRetry, RetriesACallThatFailedAtOnceButNotOneThatWaitedOutTheStoreTimeout) {
  int calls = 0;
  auto reset = [&]() -> int {
    if (++calls < 3) throw store::StoreError(store::ErrorKind::kUnavailable, "reset");
    return 7;
  };
  EXPECT_EQ(with_store_retry({4, 1ms, 1ms, 1000ms}, {}, reset), 7);
  EXPECT_EQ(calls, 3);

  calls = 0;
  auto silent = [&]() -> int {
    ++calls;
    std::this_thread::sleep_for(60ms);  // a server selection waited out
    throw store::StoreError(store::ErrorKind::kUnavailable, "no suitable servers");
  };
  EXPECT_THROW(with_store_retry({4, 1ms, 1ms, 50ms}, {}, silent), store::StoreError);
  EXPECT_EQ(calls, 1);

  calls = 0;
  auto invalid = [&]() -> int {
    ++calls;
    throw store::StoreError(store::ErrorKind::kInvalid, "bad");
  };
  EXPECT_THROW(with_store_retry({4, 1ms, 1ms, {}}, {}, invalid), store::StoreError);
  EXPECT_EQ(calls, 1);
}

// Every batch fails because the store does not answer the pod, and the store does not answer
// this process either: a store that is down.
class DeadStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void ping() override {
    ++pings;
    throw store::StoreError(store::ErrorKind::kUnavailable, "postgres: connection refused");
  }
  std::atomic<int> pings{0};
};
class StoreDownDispatcher final : public BatchDispatcher {
 public:
  BatchResult dispatch(const BatchSpec&, std::stop_token) override {
    ++dispatched;
    std::this_thread::sleep_for(20ms);
    throw BatchError("peer answered 503: store unavailable: connection refused",
                     BatchFailure{.store = StoreFault::kUnavailable});
  }
  std::string mode() const override { return "http"; }
  std::atomic<int> dispatched{0};
};

TEST_F(SigningTest, AJobStopsWaitingOnADeadStoreAfterOneStoreTimeoutNotOnePerBatch) {
  store_->ingest(random_records(400));
  DeadStore dead(*store_);
  StoreDownDispatcher down;
  CoordinatorOptions options{2, 4, 10ms, 40ms};
  options.store_timeout = 300ms;
  Coordinator coordinator(dead, key_holder_, down, metrics_, *audit_, options);
  const auto started = std::chrono::steady_clock::now();
  const auto done = coordinator.wait(coordinator.start(request(10)).id);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_NE(done->error.find("store unavailable"), std::string::npos) << done->error;
  EXPECT_NE(done->error.find("did not answer"), std::string::npos) << done->error;
  // 40 batches of 4 attempts each would be 160 dispatches; the job stopped after the first.
  EXPECT_LE(down.dispatched.load(), 2 * options.concurrency);
  EXPECT_LT(done->batches_done + done->batches_failed, done->batches);
  EXPECT_LT(took, 10 * options.store_timeout);
  // Reported before its account and record: those wait for the store, and follow once it
  // answers (here its counts and saves do).
  EXPECT_FALSE(done->unsigned_at_end);
  std::optional<audit::JobRecord> saved;
  for (int i = 0; i < 200 && !(saved && saved->state == JobState::kFailed); ++i) {
    std::this_thread::sleep_for(25ms);
    saved = store_->find_job(done->id);
  }
  ASSERT_TRUE(saved && saved->state == JobState::kFailed);
  EXPECT_EQ(saved->unsigned_at_end, 400u);
  EXPECT_EQ(saved->error, done->error);
  EXPECT_EQ(coordinator.snapshot()->unsigned_at_end, 400u);
}

// The store answers this process, but the pod that ran the batch could not reach it: one pod
// cut off from the database. Such failures do not use up the batch's attempts.
class CutOffPodDispatcher final : public BatchDispatcher {
 public:
  explicit CutOffPodDispatcher(BatchDispatcher& inner) : inner_(inner) {}
  BatchResult dispatch(const BatchSpec& spec, std::stop_token stop) override {
    if (calls_++ % 3 != 2) {
      throw BatchError("peer answered 503: store unavailable: pod-2 cannot connect",
                       BatchFailure{.store = StoreFault::kUnavailable});
    }
    return inner_.dispatch(spec, stop);
  }
  std::string mode() const override { return "http"; }

 private:
  BatchDispatcher& inner_;
  std::atomic<int> calls_{0};
};

TEST_F(SigningTest, BatchesThatLandOnAPodCutOffFromTheStoreAreRetriedWithoutUsingAttempts) {
  store_->ingest(random_records(200));
  BatchWorker worker(*store_, pool_, metrics_, *audit_, {50, "pod"});
  InProcessDispatcher inner(worker);
  CutOffPodDispatcher cut_off(inner);
  Coordinator coordinator(*store_, key_holder_, cut_off, metrics_, *audit_, {1, 2, 1ms, 1ms});
  const auto done = coordinator.wait(coordinator.start(request(50)).id);
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->error;
  EXPECT_EQ(done->retries, 8u);  // two failures per batch, more than its two attempts
  EXPECT_EQ(done->records_signed, 200u);
}

// A full disk stops the job at once: no batch can move anything until space is freed.
class FullDiskDispatcher final : public BatchDispatcher {
 public:
  BatchResult dispatch(const BatchSpec&, std::stop_token) override {
    ++dispatched;
    throw BatchError("store full: sqlite: the disk holding /data/signer.db is full",
                     BatchFailure{.retryable = false, .store = StoreFault::kFull});
  }
  std::string mode() const override { return "in-process"; }
  std::atomic<int> dispatched{0};
};

TEST_F(SigningTest, AFullDiskEndsTheJobAtOnceNamingTheDisk) {
  store_->ingest(random_records(100));
  FullDiskDispatcher full;
  Coordinator coordinator(*store_, key_holder_, full, metrics_, *audit_, {1, 4, 1ms, 1ms});
  const auto done = coordinator.wait(coordinator.start(request(10)).id);
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_EQ(full.dispatched.load(), 1);
  EXPECT_NE(done->error.find("the disk holding /data/signer.db is full"), std::string::npos)
      << done->error;
}

// The same job against the PostgreSQL server of the contract stage (SIGNER_TEST_PG_URL).
class PostgresServerJob : public SigningTest {
 protected:
  void SetUp() override {
    if (testing::pg_url().empty()) {
      if (testing::pg_required()) FAIL() << testing::kPgMissing;
      GTEST_SKIP() << "SIGNER_TEST_PG_URL is not set";
    }
    SigningTest::SetUp();
    raw_ = std::make_unique<testing::RawPg>(testing::pg_url());
    raw_->drop_store_tables();
    pg_ = std::make_unique<store::PostgresStore>(
        store::StoreOptions{.url = testing::pg_url(), .timeout_ms = 5000});
    pg_audit_ = std::make_unique<audit::AuditLog>(*pg_);
  }
  std::unique_ptr<testing::RawPg> raw_;
  std::unique_ptr<store::PostgresStore> pg_;
  std::unique_ptr<audit::AuditLog> pg_audit_;
};

// The steps, measured on main: a valid record with a 600-byte msg, a record with a
// 500-byte id and a NULL msg, then 50 valid records, signed with chunks of 1024 bytes. The server
// cut the first read after the NULL row (its running sum counts that id); the worker, counting
// only the record it got back, took the range as exhausted: 1 signed, 50 left unsigned.
TEST_F(PostgresServerJob, ABatchReadsOnPastARowTheServerCountedButCouldNotReturn) {
  const std::string shard = "10000000";
  pg_->ingest(std::vector<records::UnsignedRecord>{{shard + "-a", std::string(600, 'm')}});
  raw_->query("INSERT INTO records (id, msg, shard) VALUES ($1, NULL, 268435456)",
              {shard + "-b" + std::string(490, 'x')});
  std::vector<records::UnsignedRecord> rest;
  for (int i = 0; i < 50; ++i) rest.push_back({shard + "-c" + std::to_string(100 + i), "m"});
  pg_->ingest(rest);
  BatchWorker worker(*pg_, pool_, metrics_, *pg_audit_, {2000, "pod", 1024});
  InProcessDispatcher dispatcher(worker);
  Coordinator coordinator(*pg_, key_holder_, dispatcher, metrics_, *pg_audit_, {});
  const auto done = coordinator.wait(coordinator.start(request(1000)).id);
  EXPECT_EQ(done->batches, 1u);
  EXPECT_EQ(done->records_signed, 51u);
  EXPECT_EQ(done->records_invalid, 1u);
  EXPECT_EQ(done->unsigned_at_end, 1u);  // the NULL msg, which stays
  EXPECT_EQ(done->state, JobState::kSucceeded) << done->error;
}

}  // namespace
}  // namespace signer::signing
