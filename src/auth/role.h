// The roles a caller can hold. Each state-changing or record-reading route needs one; probes and
// the liveness route need none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace signer::auth {

enum class Role : std::uint8_t {
  kIngest = 1,  // POST /records
  kSign = 2,    // start jobs (GET /sign/:size); pods running /batch for a job
  kRead = 4,    // stats, records, keys, jobs, audit, and /metrics when it requires auth
};

// A set of roles as a bit mask.
class Roles {
 public:
  Roles() = default;
  void add(Role role) {
    bits_ = static_cast<std::uint8_t>(bits_ | static_cast<std::uint8_t>(role));
  }
  bool has(Role role) const { return (bits_ & static_cast<std::uint8_t>(role)) != 0; }
  bool empty() const { return bits_ == 0; }
  static Roles all();
  // "ingest,sign,read" order, comma-separated.
  std::string to_string() const;

 private:
  std::uint8_t bits_ = 0;
};

std::string_view to_string(Role role);
// Parses "ingest", "sign" or "read". Returns nullopt for anything else.
std::optional<Role> parse_role(std::string_view name);

}  // namespace signer::auth
