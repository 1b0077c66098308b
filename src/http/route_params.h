// Validation of the values that arrive in URL paths: /sign/:size, /batch/:batchId/:batchCount/:key
// and /records/:id. Each parser returns the value or a reason fit for a 400 response body.
// std::variant<T, std::string>: index 0 the value, index 1 the reason.
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

// /records/:id. `decoded` is the capture of the route regex on req.path, which cpp-httplib 0.11
// has already percent-decoded exactly once (so "/records/order%2F42" arrives as "order/42");
// this function must not decode again, or "%2541" would find the record "A" instead of "%41".
// Returns the id, or the reason of records::invalid_id_reason (the one id rule of ingest).
std::variant<std::string, std::string> parse_record_id(std::string_view decoded);

}  // namespace signer::http
