// `signer audit verify`: checks a job's signed records against what its record says. The records
// stamped with the job's id must be as many as the job accounts for: once it has ended, the
// records_signed it recorded (what carried its id when it ended); while it runs, the sum of its
// per-batch signed counts plus what failed attempts moved before failing, from their "/batch"
// error audit events. Each record must have been signed under the job's scheme, its signature
// must verify under it (schemes/record_verifier.h: an eip712 record's digest is recomputed from
// its msg and salt with the scheme file, never trusted), and its key must be one the job was
// allowed to use. Reads the store only; never writes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "audit/job_record.h"
#include "schemes/scheme_registry.h"
#include "store/store.h"

namespace signer::audit {

// One disagreement: the record's id ("" for a job-level problem such as a count) and why.
struct Mismatch {
  std::string record_id;
  std::string reason;
};

struct VerifyReport {
  std::uint64_t expected = 0;    // what the job accounts for (see above)
  std::uint64_t found = 0;       // signed records stamped with the job's id
  std::uint64_t valid = 0;       // of those, signature valid and key allowed
  std::uint64_t mismatches = 0;  // everything on_mismatch was called for
  bool ok() const { return mismatches == 0; }
  // "F records carry its id, E recorded signed, V valid, M mismatches": the summary line of
  // `signer audit verify` and of POST /jobs/:id/verify.
  std::string summary() const;
};

// Streams the signed records of `job` from `store`, calls `on_mismatch` for each disagreement as
// it is found, and returns the totals. An eip712 job is checked with the scheme file of its name
// in `schemes`; one that is missing, or whose fingerprint is not the job's, is a job-level
// mismatch (and its records cannot be valid). Throws store::StoreError when the store fails.
VerifyReport verify_job(store::Store& store, const JobRecord& job,
                        const schemes::SchemeRegistry& schemes,
                        const std::function<void(const Mismatch&)>& on_mismatch);

}  // namespace signer::audit
