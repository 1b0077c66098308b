// A signing job as the store keeps it, so that every pod and every restart sees one history:
// who started it, with which parameters and keys, how each batch ended, and how the job ended.
// Plain data: the Store persists it (store/store.h), the Coordinator fills it (signing/), the
// HTTP layer and `signer audit verify` read it. It never holds a token or a private key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signer::audit {

enum class JobState { kRunning, kSucceeded, kFailed, kInterrupted };

// "running", "succeeded", "failed" or "interrupted".
std::string_view to_string(JobState state);
// The inverse of to_string; nullopt for any other text.
std::optional<JobState> job_state_from_string(std::string_view text);

// A key the job was allowed to sign with: its index in the key ring that planned the job, and
// its public identity (never the private half).
struct KeyGrant {
  std::size_t index = 0;
  std::string address;     // EIP-55 address, "0x" + 40 hex
  std::string public_key;  // "0x04" + 128 hex
};

// How one batch of the job ended (its last attempt; counts summed over attempts that returned).
struct BatchOutcome {
  std::uint64_t batch = 0;
  std::string pod;  // the process that ran the last attempt that answered; "" if none did
  std::size_t key_index = 0;
  std::string key_address;
  std::uint64_t signed_count = 0;    // records this batch wrote to signedrecords
  std::uint64_t already_signed = 0;  // records found signed already (interrupted moves)
  int attempts = 0;
  std::string error;  // "" when the batch succeeded
};

struct JobRecord {
  std::string id;  // see audit/job_id.h
  std::string started_by;
  std::string remote_addr;
  std::uint64_t batch_size = 0;
  std::vector<KeyGrant> keys;  // in round-robin order: batch b uses keys[b % keys.size()]
  // How its records are signed: "raw" (the original's scheme; also what a job saved before the
  // schemes says), "eip191" or "eip712:<name>" (schemes/signing_scheme.h); and for eip712 the
  // scheme file's fingerprint (TypedDataScheme::fingerprint), "" otherwise.
  std::string scheme = "raw";
  std::string scheme_fingerprint;
  JobState state = JobState::kRunning;
  std::uint64_t unsigned_at_start = 0;
  std::uint64_t batches = 0;
  std::vector<BatchOutcome> results;  // one per batch that ended, in the order they ended
  // While running, what the batches reported; once ended, the records stamped with the job's id
  // as the store counted them then (see Coordinator).
  std::uint64_t records_signed = 0;
  std::uint64_t already_signed = 0;   // moves that found the record signed already
  std::uint64_t records_invalid = 0;  // records the batches could not sign (they stay unsigned)
  std::int64_t started_unix_ms = 0;
  std::int64_t ended_unix_ms = 0;  // 0 while running
  // Set once ended (when the store could be counted): every unsigned record then, and those of
  // them that were there at the start (invalid ones included).
  std::optional<std::uint64_t> unsigned_at_end;
  std::optional<std::uint64_t> left_from_start;
  std::string error;  // why it did not succeed; "" while running or when it did
};

}  // namespace signer::audit
