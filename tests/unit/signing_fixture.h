// The job model's test fixture, against a real SQLite file: a store, an audit log, a metrics
// registry, three generated keys and a worker pool; plus the records and job requests the
// signing tests make, and raw SQL for playing another tool that writes the same database.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "audit/audit_log.h"
#include "crypto/salt_generator.h"
#include "keys/key_set_holder.h"
#include "metrics/signer_metrics.h"
#include "signing/batch_dispatcher.h"
#include "signing/batch_worker.h"
#include "signing/coordinator.h"
#include "signing/worker_pool.h"
#include "store/sqlite/sqlite_store.h"
#include "test_support.h"

namespace signer::signing {

inline std::vector<records::UnsignedRecord> random_records(std::size_t n) {
  crypto::SaltGenerator salts;
  std::vector<records::UnsignedRecord> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string id = salts.next();
    id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
    out.push_back({id, "msg-" + std::to_string(i)});
  }
  return out;
}

// What a job's outcomes add up to: the batches they name, and the records they signed.
struct OutcomeTally {
  std::set<std::uint64_t> batches;
  std::uint64_t signed_count = 0;
};
inline OutcomeTally tally(const std::vector<audit::BatchOutcome>& outcomes) {
  OutcomeTally t;
  for (const audit::BatchOutcome& b : outcomes) {
    t.batches.insert(b.batch);
    t.signed_count += b.signed_count;
  }
  return t;
}

// Fails the first `failures` attempts of each batch with `failure`, then passes the batch on.
class FlakyDispatcher final : public BatchDispatcher {
 public:
  FlakyDispatcher(BatchDispatcher& inner, int failures, BatchFailure failure,
                  std::string message = "injected failure")
      : inner_(inner), failures_(failures), failure_(failure), message_(std::move(message)) {}
  BatchResult dispatch(const BatchSpec& spec, std::stop_token stop) override {
    {
      std::lock_guard lock(m_);
      if (attempts_[spec.batch]++ < failures_) throw BatchError(message_, failure_);
    }
    return inner_.dispatch(spec, stop);
  }
  std::string mode() const override { return "flaky"; }

 private:
  BatchDispatcher& inner_;
  int failures_;
  BatchFailure failure_;
  std::string message_;
  std::mutex m_;
  std::map<std::uint64_t, int> attempts_;
};

inline constexpr const char* kJob = "j-0123456789ab-0123456789abcdef";

// A job request as the HTTP layer makes one, every key allowed.
inline JobRequest request(std::uint64_t batch_size, std::vector<std::size_t> key_indexes = {}) {
  std::vector<std::string> selectors;
  for (const std::size_t i : key_indexes) selectors.push_back(std::to_string(i));
  return {batch_size, "tester", "127.0.0.1", std::move(selectors)};
}

class SigningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics::declare_signer_metrics(metrics_);
    store_ = std::make_unique<store::SqliteStore>(dir_ / "signer.db");
    audit_ = std::make_unique<audit::AuditLog>(*store_);
  }
  // Ingests `batches` records and runs a job of one-record batches on `wrapped` (a store over
  // store_), its running record saved at most once per `save_interval`, with the keys
  // `key_indexes` (all when empty). Returns the ended job.
  std::optional<JobSnapshot> run_one_record_batches(store::Store& wrapped, std::size_t batches,
                                                    std::chrono::milliseconds save_interval,
                                                    std::vector<std::size_t> key_indexes = {}) {
    store_->ingest(random_records(batches));
    BatchWorker worker(wrapped, pool_, metrics_, *audit_, {50, "pod"});
    InProcessDispatcher dispatcher(worker);
    CoordinatorOptions options{2, 3, std::chrono::milliseconds(1), std::chrono::milliseconds(2)};
    options.progress_save_interval = save_interval;
    Coordinator coordinator(wrapped, key_holder_, dispatcher, metrics_, *audit_, options);
    return coordinator.wait(coordinator.start(request(1, std::move(key_indexes))).id);
  }
  std::map<std::string, records::SignedRecord> signed_records() {
    std::map<std::string, records::SignedRecord> out;
    store_->for_each_signed([&](const records::SignedRecord& r) { out.emplace(r.id, r); });
    return out;
  }

  testing::TempDir dir_;
  metrics::Registry metrics_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::shared_ptr<const crypto::KeyRing> ring_ =
      std::make_shared<const crypto::KeyRing>(crypto::KeyRing::generate(3));
  const crypto::KeyRing& keys_ = *ring_;  // the private halves, for the assertions
  keys::KeySetHolder key_holder_{[ring = ring_](std::uint64_t version) {
    return keys::KeySetHolder::Loaded{
        std::make_shared<const keys::KeySet>(
            keys::KeySet::keys_of(ring, keys::KeySource::kCsv, "generated"), version),
        {}};
  }};
  std::shared_ptr<const keys::KeySet> key_set_ = key_holder_.current();
  WorkerPool pool_{2};
};

// Runs SQL on the test's database the way another tool would.
inline void exec_raw(const std::filesystem::path& db_path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

}  // namespace signer::signing
