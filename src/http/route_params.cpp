#include "http/route_params.h"

#include <charconv>

#include "records/record_json.h"

namespace signer::http {

std::variant<std::uint64_t, std::string> parse_u64(std::string_view text, std::string_view what) {
  const std::string name(what);
  if (text.empty()) return name + " is empty";
  for (char c : text) {
    if (c < '0' || c > '9') return name + " must be a non-negative decimal integer";
  }
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) return name + " does not fit in 64 bits";
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return name + " must be a non-negative decimal integer";
  }
  return value;
}

std::variant<std::uint64_t, std::string> parse_batch_size(std::string_view text) {
  auto parsed = parse_u64(text, "batch size");
  if (auto* value = std::get_if<std::uint64_t>(&parsed); value && *value == 0) {
    return std::string("batch size must be at least 1");
  }
  return parsed;
}

std::variant<BatchParams, std::string> parse_batch_params(std::string_view batch_id,
                                                          std::string_view batch_count) {
  auto id = parse_u64(batch_id, "batchId");
  if (auto* err = std::get_if<std::string>(&id)) return *err;
  auto count = parse_u64(batch_count, "batchCount");
  if (auto* err = std::get_if<std::string>(&count)) return *err;
  BatchParams params{std::get<std::uint64_t>(id), std::get<std::uint64_t>(count)};
  if (params.batch_count == 0) return std::string("batchCount must be at least 1");
  if (params.batch >= params.batch_count) return std::string("batchId must be below batchCount");
  return params;
}

std::variant<std::string, std::string> parse_record_id(std::string_view decoded) {
  if (auto reason = records::invalid_id_reason(decoded)) {
    return std::variant<std::string, std::string>(std::in_place_index<1>, std::move(*reason));
  }
  return std::variant<std::string, std::string>(std::in_place_index<0>, decoded);
}

}  // namespace signer::http
