// libFuzzer target: path parameters of /sign/:size, /batch/:batchId/:batchCount/:key and
// /records/:id. The input is split on '/' into the segments a request could carry.
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "http/route_params.h"
#include "records/record_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = input.find('/', start);
    parts.push_back(input.substr(start, slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  while (parts.size() < 2) parts.emplace_back();

  const auto size_param = signer::http::parse_batch_size(parts[0]);
  if (const auto* v = std::get_if<std::uint64_t>(&size_param)) {
    if (*v == 0) std::abort();
    // Round trip: the accepted text is the decimal of the value, give or take leading zeros.
    char buf[32];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), *v);
    const std::size_t first = parts[0].find_first_not_of('0');
    if (ec != std::errc() || first == std::string::npos ||
        std::string(buf, end) != parts[0].substr(first)) {
      std::abort();
    }
  }
  const auto batch = signer::http::parse_batch_params(parts[0], parts[1]);
  if (const auto* p = std::get_if<signer::http::BatchParams>(&batch)) {
    if (p->batch_count == 0 || p->batch >= p->batch_count) std::abort();
  }
  // The GET /records/:id parser applies the ingest rule and never rewrites (re-decodes) the id.
  const auto id = signer::http::parse_record_id(input);
  if ((id.index() == 0) != !signer::records::invalid_id_reason(input)) std::abort();
  if (id.index() == 0 && std::get<0>(id) != input) std::abort();
  return 0;
}
