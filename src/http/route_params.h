// Validation of the values that arrive in URL paths: /sign/:size, /batch/:batchId/:batchCount/:key
// and /records/:id. Each parser returns the value or a reason fit for a 400 response body.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace signer::http {

// An unsigned decimal that fits 64 bits: digits only, no sign, no spaces, no leading '+'.
// Returns nullopt-like failure as std::string reason.
std::variant<std::uint64_t, std::string> parse_u64(std::string_view text, std::string_view what);

// /sign/:size: a u64 >= 1.
std::variant<std::uint64_t, std::string> parse_batch_size(std::string_view text);

struct BatchParams {
  std::uint64_t batch = 0;
  std::uint64_t batch_count = 0;
};

// /batch/:batchId/:batchCount: both u64, batchCount >= 1, batchId < batchCount.
std::variant<BatchParams, std::string> parse_batch_params(std::string_view batch_id,
                                                          std::string_view batch_count);

}  // namespace signer::http
