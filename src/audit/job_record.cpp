#include "audit/job_record.h"

namespace signer::audit {

std::string_view to_string(JobState state) {
  switch (state) {
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kInterrupted: return "interrupted";
  }
  return "unknown";
}

std::optional<JobState> job_state_from_string(std::string_view text) {
  for (JobState s :
       {JobState::kRunning, JobState::kSucceeded, JobState::kFailed, JobState::kInterrupted}) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

}  // namespace signer::audit
