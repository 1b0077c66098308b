// Jobs under a signing scheme (issue 23): the coordinator carries the job's scheme to every batch
// (and into the job's record), the batch worker signs each record under it, a record whose msg
// does not fit an eip712 type stays unsigned and is counted invalid with its reason, and
// `signer audit verify` checks every scheme with the job's own scheme file.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "audit/job_verifier.h"
#include "crypto/hex.h"
#include "schemes/record_verifier.h"
#include "schemes/scheme_file.h"
#include "signing/batch_dispatcher.h"
#include "signing_fixture.h"

namespace signer::signing {
namespace {

const std::string kVoucher = R"({"name": "voucher",
  "domain": {"name": "Vouchers", "version": "1", "chainId": 1,
             "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
  "primaryType": "Voucher",
  "types": {"Voucher": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"},
                        {"name": "nonce", "type": "bytes32"}]},
  "saltField": "nonce"})";

// `n` vouchers, and `misfits` records whose msg is not a voucher, their ids starting "bad".
std::vector<records::UnsignedRecord> vouchers(std::size_t n, std::size_t misfits) {
  std::vector<records::UnsignedRecord> out = random_records(n + misfits);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i < n) {
      out[i].msg = R"({"to": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", "amount": )" +
                   std::to_string(i + 1) + "}";
    } else {
      out[i].id = "bad" + out[i].id;
      out[i].msg = i % 2 ? R"({"to": "0x12", "amount": 1})" : "not json";
    }
  }
  return out;
}

// Records what each dispatched batch was asked to sign under, then runs it.
class RecordingDispatcher final : public BatchDispatcher {
 public:
  explicit RecordingDispatcher(BatchWorker& worker) : inner_(worker) {}
  BatchResult dispatch(const BatchSpec& spec, std::stop_token stop) override {
    {
      std::lock_guard lock(mutex_);
      schemes_.insert(spec.scheme.name());
    }
    return inner_.dispatch(spec, stop);
  }
  std::string mode() const override { return "recording"; }
  std::set<std::string> schemes() const {
    std::lock_guard lock(mutex_);
    return schemes_;
  }

 private:
  InProcessDispatcher inner_;
  mutable std::mutex mutex_;
  std::set<std::string> schemes_;
};

class SchemeJobTest : public SigningTest {
 protected:
  void SetUp() override {
    SigningTest::SetUp();  // the store and the audit log
    worker_ = std::make_unique<BatchWorker>(*store_, pool_, metrics_, *audit_,
                                            BatchWorkerOptions{16, "pod"});
    dispatcher_ = std::make_unique<RecordingDispatcher>(*worker_);
    coordinator_ = std::make_unique<Coordinator>(*store_, key_holder_, *dispatcher_, metrics_,
                                                 *audit_, CoordinatorOptions{});
  }
  void TearDown() override { coordinator_.reset(); }

  JobSnapshot run(const schemes::SigningScheme& scheme, std::size_t batch_size = 40) {
    JobRequest r = request(batch_size);
    r.scheme = scheme;
    return *coordinator_->wait(coordinator_->start(r).id);
  }

  std::shared_ptr<const schemes::TypedDataScheme> voucher_ =
      schemes::parse_scheme_file(kVoucher, "voucher");
  schemes::SchemeRegistry registry_{{voucher_}};
  std::unique_ptr<BatchWorker> worker_;
  std::unique_ptr<RecordingDispatcher> dispatcher_;
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(SchemeJobTest, EveryBatchOfAnEip712JobSignsUnderItsSchemeAndTheJobRecordSaysSo) {
  store_->ingest(vouchers(200, 0));
  const JobSnapshot done = run(schemes::SigningScheme::eip712(voucher_));
  EXPECT_EQ(done.state, JobState::kSucceeded) << done.error;
  EXPECT_EQ(done.scheme, "eip712:voucher");
  EXPECT_GT(done.batches, 1u);
  EXPECT_EQ(dispatcher_->schemes(), std::set<std::string>{"eip712:voucher"});
  const auto job = store_->find_job(done.id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->scheme, "eip712:voucher");
  EXPECT_EQ(job->scheme_fingerprint, voucher_->fingerprint());

  const schemes::RecordVerifier verifier({voucher_});
  crypto::MessageSigner signer;
  const auto all = signed_records();
  ASSERT_EQ(all.size(), 200u);
  for (const auto& [id, r] : all) {
    EXPECT_EQ(r.scheme, "eip712") << id;
    EXPECT_EQ(r.job_id, done.id);
    EXPECT_EQ(r.digest,
              crypto::to_prefixed_hex(std::get<crypto::Hash256>(voucher_->digest(r.salt, r.msg))));
    EXPECT_EQ(verifier.check(signer, r), std::nullopt) << id;
    EXPECT_TRUE(r.sign.ends_with("1b") || r.sign.ends_with("1c")) << r.sign;  // V 27 or 28
  }
}

TEST_F(SchemeJobTest, AMsgThatDoesNotFitTheTypeStaysUnsignedWithItsReasonAndTheRestIsSigned) {
  store_->ingest(vouchers(100, 6));
  const JobSnapshot done = run(schemes::SigningScheme::eip712(voucher_), 30);
  EXPECT_EQ(done.state, JobState::kSucceeded) << done.error;
  EXPECT_EQ(done.records_signed, 100u);
  EXPECT_EQ(done.records_invalid, 6u);
  ASSERT_EQ(done.invalid_ids.size(), 6u);
  for (const std::string& id : done.invalid_ids) EXPECT_TRUE(id.starts_with("bad")) << id;
  EXPECT_EQ(store_->count().unsigned_records, 6u);
  bool reason_audited = false;
  for (const audit::AuditEvent& e : store_->list_audit(done.id, 100)) {
    if (e.outcome == "invalid" &&
        e.detail.find("eip712:voucher: msg is not JSON") != std::string::npos) {
      reason_audited = true;
    }
  }
  EXPECT_TRUE(reason_audited);
}

// A batch reuses a moved chunk's records for a later chunk: a misfit leaves nothing behind for
// the record that takes its place. One batch of 8 chunks of 16; the misfits' ids sort first, so
// they are the first chunk's first 6 records, and vouchers take their places in the third.
TEST_F(SchemeJobTest, AMisfitLeavesNothingBehindForTheRecordAtItsPlaceInALaterChunk) {
  std::vector<records::UnsignedRecord> records = vouchers(120, 0);
  for (int i = 0; i < 6; ++i) records.push_back({"00000000-bad-" + std::to_string(i), "not json"});
  store_->ingest(records);
  const JobSnapshot done = run(schemes::SigningScheme::eip712(voucher_), 1000);
  EXPECT_EQ(done.state, JobState::kSucceeded) << done.error;
  EXPECT_EQ(done.batches, 1u);
  EXPECT_EQ(done.records_signed, 120u);
  EXPECT_EQ(done.records_invalid, 6u);
  EXPECT_EQ(store_->count().unsigned_records, 6u);
}

TEST_F(SchemeJobTest, AnEip191JobSignsPersonalMessagesAndARawJobKeepsTheOriginalLayout) {
  const auto first = random_records(60);
  store_->ingest(first);
  const JobSnapshot eip191 = run(schemes::SigningScheme::eip191());
  EXPECT_EQ(eip191.scheme, "eip191");
  EXPECT_EQ(eip191.records_signed, 60u);
  const auto second = random_records(60);
  store_->ingest(second);
  const JobSnapshot raw = run(schemes::SigningScheme::raw());
  EXPECT_EQ(raw.scheme, "raw");
  EXPECT_EQ(store_->find_job(raw.id)->scheme, "raw");
  for (const auto& [id, r] : signed_records()) {
    EXPECT_EQ(r.scheme, r.job_id == eip191.id ? "eip191" : "") << id;
    EXPECT_EQ(r.digest, "") << id;
  }
  for (const auto& id : {eip191.id, raw.id}) {
    const audit::VerifyReport report = audit::verify_job(
        *store_, *store_->find_job(id), {},
        [](const audit::Mismatch& m) { ADD_FAILURE() << m.record_id << ": " << m.reason; });
    EXPECT_EQ(report.valid, 60u);
  }
}

// One worker runs the batches of every job in turn: a raw job right after an eip712 job with
// misfits inherits no scheme, no digest and no misfit from it.
TEST_F(SchemeJobTest, ARawJobAfterAnEip712JobOnTheSameWorkerSignsEveryRecordRaw) {
  store_->ingest(vouchers(50, 4));
  const JobSnapshot typed = run(schemes::SigningScheme::eip712(voucher_), 20);
  EXPECT_EQ(typed.records_signed, 50u);
  EXPECT_EQ(typed.records_invalid, 4u);
  const auto plain = random_records(70);
  store_->ingest(plain);
  const JobSnapshot raw = run(schemes::SigningScheme::raw(), 20);
  EXPECT_EQ(raw.state, JobState::kSucceeded) << raw.error;
  EXPECT_EQ(raw.records_invalid, 0u);
  // The four misfits are signed raw too: any msg is a raw message.
  EXPECT_EQ(raw.records_signed, 74u);
  std::size_t typed_records = 0;
  for (const auto& [id, r] : signed_records()) {
    if (r.job_id == typed.id) {
      ++typed_records;
      EXPECT_EQ(r.scheme, "eip712") << id;
      EXPECT_EQ(r.digest.size(), 66u) << id;
    } else {
      EXPECT_EQ(r.job_id, raw.id) << id;
      EXPECT_EQ(r.scheme, "") << id;
      EXPECT_EQ(r.digest, "") << id;
    }
  }
  EXPECT_EQ(typed_records, 50u);
  const audit::VerifyReport report = audit::verify_job(
      *store_, *store_->find_job(raw.id), {},
      [](const audit::Mismatch& m) { ADD_FAILURE() << m.record_id << ": " << m.reason; });
  EXPECT_EQ(report.valid, 74u);
}

TEST_F(SchemeJobTest, AuditVerifyChecksAnEip712JobWithItsSchemeFileAndOnlyThatOne) {
  store_->ingest(vouchers(50, 0));
  const JobSnapshot done = run(schemes::SigningScheme::eip712(voucher_));
  const audit::JobRecord job = *store_->find_job(done.id);
  std::vector<audit::Mismatch> found;
  auto collect = [&](const audit::Mismatch& m) { found.push_back(m); };
  EXPECT_EQ(audit::verify_job(*store_, job, registry_, collect).valid, 50u);
  EXPECT_TRUE(found.empty());

  // Without the scheme file nothing can be checked, and the report says why.
  const audit::VerifyReport without = audit::verify_job(*store_, job, {}, collect);
  EXPECT_EQ(without.valid, 0u);
  ASSERT_FALSE(found.empty());
  EXPECT_NE(found.front().reason.find("no scheme file of that name"), std::string::npos);

  // Another file of the same name (another domain): its fingerprint is not the job's.
  std::string other_text = kVoucher;
  other_text.replace(other_text.find("\"Vouchers\""), 10, "\"Other\"");
  found.clear();
  const audit::VerifyReport other = audit::verify_job(
      *store_, job, schemes::SchemeRegistry({schemes::parse_scheme_file(other_text, "o")}),
      collect);
  EXPECT_EQ(other.valid, 0u);
  ASSERT_FALSE(found.empty());
  EXPECT_NE(found.front().reason.find("is not the one the job signed under"), std::string::npos);

  // A record of the job re-signed raw behind its back is named.
  const std::string victim = signed_records().begin()->first;
  exec_raw(dir_ / "signer.db",
           ("UPDATE signedrecords SET scheme = NULL, digest = NULL WHERE id = '" + victim + "'")
               .c_str());
  found.clear();
  EXPECT_EQ(audit::verify_job(*store_, job, registry_, collect).valid, 49u);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found.front().record_id, victim);
  EXPECT_NE(found.front().reason.find("signed under raw, the job under eip712:voucher"),
            std::string::npos);
}

}  // namespace
}  // namespace signer::signing
