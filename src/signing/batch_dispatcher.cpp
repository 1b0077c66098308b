#include "signing/batch_dispatcher.h"

#include "keys/key_set.h"
#include "store/store.h"

namespace signer::signing {

BatchResult InProcessDispatcher::dispatch(const BatchSpec& spec, std::stop_token stop) {
  try {
    return worker_.run(spec, stop);
  } catch (const store::StoreError& e) {
    throw BatchError(
        std::string("store ") + std::string(store::to_string(e.kind())) + ": " + e.what(),
        e.kind() != store::ErrorKind::kInvalid);
  } catch (const keys::SigningError& e) {
    throw BatchError(e.what(), true);
  }
}

}  // namespace signer::signing
