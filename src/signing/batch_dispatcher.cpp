#include "signing/batch_dispatcher.h"

#include "keys/key_set.h"
#include "store/store.h"

namespace signer::signing {

StoreFault store_fault_of(store::ErrorKind kind) {
  switch (kind) {
    case store::ErrorKind::kUnavailable: return StoreFault::kUnavailable;
    case store::ErrorKind::kFull: return StoreFault::kFull;
    case store::ErrorKind::kConflict:
    case store::ErrorKind::kInvalid: return StoreFault::kNone;
  }
  return StoreFault::kNone;
}

BatchResult InProcessDispatcher::dispatch(const BatchSpec& spec, std::stop_token stop) {
  try {
    return worker_.run(spec, stop);
  } catch (const store::StoreError& e) {
    BatchFailure failure{.retryable = e.kind() == store::ErrorKind::kUnavailable ||
                                      e.kind() == store::ErrorKind::kConflict,
                         .store = store_fault_of(e.kind())};
    if (const auto* run = dynamic_cast<const BatchRunError*>(&e)) {
      failure.signed_before = run->signed_count();
      failure.already_signed_before = run->already_signed();
    }
    throw BatchError(
        std::string("store ") + std::string(store::to_string(e.kind())) + ": " + e.what(), failure);
  } catch (const keys::SigningError& e) {
    throw BatchError(e.what(), true);
  }
}

}  // namespace signer::signing
