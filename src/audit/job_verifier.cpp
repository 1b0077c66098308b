#include "audit/job_verifier.h"

#include <unordered_set>

#include "crypto/message_signer.h"
#include "crypto/signature_verifier.h"

namespace signer::audit {
namespace {

constexpr std::size_t kMaxEventsRead = 10'000'000;

}  // namespace

std::string VerifyReport::summary() const {
  return std::to_string(found) + " records carry its id, " + std::to_string(expected) +
         " recorded signed, " + std::to_string(valid) + " valid, " + std::to_string(mismatches) +
         " mismatches";
}

VerifyReport verify_job(store::Store& store, const JobRecord& job,
                        const std::function<void(const Mismatch&)>& on_mismatch) {
  VerifyReport report;
  if (job.state != JobState::kRunning) {
    report.expected = job.records_signed;
  } else {
    // An attempt that failed after moving some chunks is retried; its moved records carry the
    // job id but only its "/batch" error event (written by the pod that ran it) counts them.
    for (const BatchOutcome& b : job.results) report.expected += b.signed_count;
    for (const AuditEvent& e : store.list_audit(job.id, kMaxEventsRead)) {
      if (e.route == "/batch" && e.outcome == "error") report.expected += e.count;
    }
  }
  std::unordered_set<std::string> allowed;
  for (const KeyGrant& k : job.keys) allowed.insert(k.public_key);

  auto mismatch = [&](std::string record_id, std::string reason) {
    ++report.mismatches;
    on_mismatch({std::move(record_id), std::move(reason)});
  };
  crypto::MessageSigner signer;  // its own randomized context; this thread only
  store.for_each_signed_of_job(job.id, [&](const records::SignedRecord& r) {
    ++report.found;
    if (!allowed.contains(r.key)) {
      mismatch(r.id, "signed with key " + r.key.substr(0, 18) + "…, not one the job could use");
      return;
    }
    const crypto::Verdict verdict = crypto::verify_signature(signer, r.salt, r.msg, r.sign, r.key);
    if (verdict != crypto::Verdict::kValid) {
      // A bad salt is reported as such: the signature over those bytes may well recover the key.
      const char* what = verdict == crypto::Verdict::kMalformedSalt ? "" : "signature ";
      mismatch(r.id, what + std::string(crypto::describe(verdict)));
      return;
    }
    ++report.valid;
  });
  if (report.found != report.expected) {
    mismatch("", "the job and its audit events account for " + std::to_string(report.expected) +
                     " signed records, " + std::to_string(report.found) + " carry its id");
  }
  return report;
}

}  // namespace signer::audit
