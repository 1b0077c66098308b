// libFuzzer target: the bytes a connection receives, through the front door's framing rules
// (http/request_head.h) and Beast's parser, as http_server.cpp drives them: the head scanned as it
// arrives, parsed once whole, then what follows read as the body. The first input byte picks the
// size of the reads, so every boundary between reads is tried. Checked, beyond not crashing:
//   - the scanner reaches the same verdict whatever the read size;
//   - an accepted head never carries CR, LF or NUL inside a field, a repeated Content-Length or
//     Transfer-Encoding, or both, and is no longer than its limit;
//   - the body parse never claims more bytes than it was given, or more body than the limit.
// The body is parsed from everything that follows the head at once, as the connection's buffer
// holds it.
#include <boost/asio/buffer.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/request_head.h"

namespace {

using signer::http::HeadLimits;
using signer::http::HeadScanner;

HeadScanner::State scan_in_reads(std::string_view input, std::size_t read, HeadScanner& scanner) {
  HeadScanner::State state = HeadScanner::State::kNeedMore;
  for (std::size_t end = read;; end += read) {
    state = scanner.scan(input.substr(0, std::min(end, input.size())));
    if (state != HeadScanner::State::kNeedMore || end >= input.size()) return state;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t read = 1 + data[0] % 64;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  HeadLimits limits;
  limits.max_head_bytes = 2048;
  limits.max_fields = 20;
  limits.max_request_line_bytes = 512;

  HeadScanner whole(limits);
  HeadScanner pieces(limits);
  const HeadScanner::State a = whole.scan(input);
  const HeadScanner::State b = scan_in_reads(input, read, pieces);
  if (a != b) std::abort();
  if (a != HeadScanner::State::kComplete) return 0;
  if (whole.head_size() != pieces.head_size() || whole.head_size() > limits.max_head_bytes + 1) {
    std::abort();
  }

  signer::http::RequestParser parser;
  signer::http::Request req;
  const std::string_view head = input.substr(0, whole.head_size());
  if (signer::http::parse_head(head, limits, parser, req)) return 0;
  for (const auto& [name, value] : req.headers) {
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) std::abort();
  }
  if (req.header_count("Content-Length") > 1 || req.header_count("Transfer-Encoding") > 1 ||
      (req.has_header("Content-Length") && req.has_header("Transfer-Encoding"))) {
    std::abort();
  }

  // The body, as an upload reads it: what has arrived, parsed into a small body buffer at a time.
  constexpr std::uint64_t kBodyLimit = 4096;
  parser.body_limit(kBodyLimit);
  std::string_view rest = input.substr(whole.head_size());
  std::uint64_t body_bytes = 0;
  char piece[256];
  while (!parser.is_done() && !rest.empty()) {
    auto& body = parser.get().body();
    body.data = piece;
    body.size = sizeof(piece);
    boost::system::error_code ec;
    const std::size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    if (used > rest.size()) std::abort();
    body_bytes += sizeof(piece) - parser.get().body().size;
    rest.remove_prefix(used);
    if (ec == boost::beast::http::error::need_buffer) continue;
    if (ec || used == 0) break;  // malformed, over the limit, or waiting for more bytes
  }
  if (body_bytes > kBodyLimit) std::abort();
  return 0;
}
