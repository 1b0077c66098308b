// Boost.JSON's compiled part, built into the signer once (Boost's documented header-only use), so
// that neither the build nor the runtime image needs the libboost-json library. Boost.JSON parses
// an EIP-712 record's msg: about 3.2k instructions for the benchmark voucher against 18.8k for
// nlohmann::json, which stays the JSON of everything off the sign path (docs/ARCHITECTURE.md).
#include <boost/json/src.hpp>
