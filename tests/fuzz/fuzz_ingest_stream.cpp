// libFuzzer target: the streaming ingest parser. Whatever the bytes and wherever the body is cut
// into pieces, the parser must see the same records, rejections and verdict as when the body comes
// in one piece; nothing may crash or throw anything but MalformedInput.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "records/ingest_stream.h"

namespace {

struct Outcome {
  std::vector<std::string> seen;  // dumped objects and rejection reasons, in order
  bool malformed = false;
  bool operator==(const Outcome&) const = default;
};

Outcome parse(std::string_view body, std::size_t cut) {
  Outcome out;
  signer::records::IngestStream stream(
      [&](std::size_t index, const nlohmann::json& object) {
        out.seen.push_back(std::to_string(index) + " " + object.dump());
      },
      [&](signer::records::Rejection r) {
        out.seen.push_back(std::to_string(r.index) + " ! " + r.reason);
      });
  try {
    for (std::size_t at = 0; at < body.size(); at += cut) stream.feed(body.substr(at, cut));
    stream.finish();
  } catch (const signer::records::MalformedInput&) {
    out.malformed = true;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t cut = 1 + data[0] % 17;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Outcome whole = parse(body, body.size() + 1);
  const Outcome pieces = parse(body, cut);
  // A malformed array may be detected after different prefixes were delivered; otherwise the
  // records must match exactly.
  if (whole.malformed != pieces.malformed) std::abort();
  if (!whole.malformed && !(whole == pieces)) std::abort();
  return 0;
}
