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

}  // namespace signer::store
