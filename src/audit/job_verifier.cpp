#include "audit/job_verifier.h"

#include <unordered_set>

#include "crypto/message_signer.h"
#include "schemes/record_verifier.h"

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
                        const schemes::SchemeRegistry& schemes,
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
  // The scheme the job's records must carry ("" for raw, as records::SignedRecord keeps it), and
  // for eip712 the job's own scheme file, by name and fingerprint.
  const std::string job_kind = job.scheme.substr(0, job.scheme.find(':'));
  const std::string record_scheme = job_kind == "raw" ? std::string() : job_kind;
  std::vector<std::shared_ptr<const schemes::TypedDataScheme>> typed;
  if (job_kind == "eip712") {
    const std::string name = job.scheme.size() > 7 ? job.scheme.substr(7) : std::string();
    auto file = schemes.find(name);
    if (!file) {
      mismatch("", "the job signed under " + job.scheme +
                       ", and no scheme file of that name is loaded (--scheme-file)");
    } else if (!job.scheme_fingerprint.empty() && file->fingerprint() != job.scheme_fingerprint) {
      mismatch("", "the loaded scheme file " + job.scheme + " (" + file->fingerprint() +
                       ") is not the one the job signed under (" + job.scheme_fingerprint + ")");
    } else {
      typed.push_back(std::move(file));
    }
  }
  const schemes::RecordVerifier verifier(std::move(typed));
  crypto::MessageSigner signer;  // its own randomized context; this thread only
  store.for_each_signed_of_job(job.id, [&](const records::SignedRecord& r) {
    ++report.found;
    if (!allowed.contains(r.key)) {
      mismatch(r.id, "signed with key " + r.key.substr(0, 18) + "…, not one the job could use");
      return;
    }
    if (r.scheme != record_scheme) {
      mismatch(r.id, "signed under " + (r.scheme.empty() ? std::string("raw") : r.scheme) +
                         ", the job under " + job.scheme);
      return;
    }
    if (auto reason = verifier.check(signer, r)) {
      mismatch(r.id, std::move(*reason));
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
