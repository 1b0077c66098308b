#include "store/store.h"

namespace signer::store {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUnavailable: return "unavailable";
    case ErrorKind::kConflict: return "conflict";
    case ErrorKind::kInvalid: return "invalid";
  }
  return "unknown";
}

void add_conflict(IngestResult& result, std::size_t position, std::string_view id,
                  bool within_call) {
  ++result.conflicts;
  if (result.conflict_list.size() < kMaxListedConflicts) {
    result.conflict_list.push_back({position, std::string(id), within_call});
  }
}

}  // namespace signer::store
