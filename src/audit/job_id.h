// Job ids unique across pods without coordination: "j-" + 12 hex of the Unix time in ms + "-" +
// 16 hex from getrandom. They sort by start time, and two pods starting a job in the same
// millisecond still differ (64 random bits).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace signer::audit {

// Length of a job id: "j-" (2) + 12 hex + "-" (1) + 16 hex.
constexpr std::size_t kJobIdLength = 31;

// Returns a new id for a job started at `unix_ms`. Throws std::system_error when the kernel's
// random source fails (never in practice).
std::string new_job_id(std::int64_t unix_ms);

// True when `id` has exactly the shape new_job_id makes (lowercase hex). Every id that arrives
// from outside (a URL, a query parameter, a CLI flag) is checked with this before use.
bool is_valid_job_id(std::string_view id);

}  // namespace signer::audit
