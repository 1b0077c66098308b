// One entry of the audit trail: who did what through which route, with what outcome. The store
// keeps events (Store::append_audit) and AuditLog also writes each as one JSON log line.
// Plain data; it never holds a token or a private key, only names, addresses and counts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace signer::audit {

// Every member has a default, so events can be written with designated initializers naming only
// what applies.
struct AuditEvent {
  std::int64_t time_unix_ms = 0;  // 0: AuditLog::record fills in the current time
  std::string client{};           // caller name, "anonymous" without auth
  std::string remote_addr{};
  std::string route{};      // "/sign", "/batch", "/records", …
  std::string outcome{};    // "started", "ok", "error", "succeeded", …
  std::uint64_t count = 0;  // records concerned: unsigned at start, signed, accepted
  std::string job_id{};     // "" when the event belongs to no job
  std::optional<std::uint64_t> batch{};
  std::vector<std::string> key_addresses{};
  std::string detail{};  // free text: pod, error message, duplicates
};

}  // namespace signer::audit
