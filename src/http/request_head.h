// The framing rules of a request head, applied before anything else looks at it (RFC 9112, read
// strictly). A proxy in front of us and we must agree on where each request ends; every
// ambiguity one of us could resolve differently is refused, with the connection closed, rather
// than guessed at.
//
// HeadScanner sees the bytes as they arrive, so a hostile head is refused at the first byte that
// breaks a rule, before it grows: a bare CR or LF, a control character (NUL, …), obs-fold (a
// line that starts with a space or tab), a request line over the target limit, more fields than
// allowed, or more bytes than allowed. Boost.Beast's parser then reads the complete head, which
// refuses what remains of the grammar (a space before a colon, a bad method or version, a bad or
// conflicting Content-Length or Transfer-Encoding), and head_framing_error() refuses the
// repetitions Beast tolerates: a repeated Content-Length (even with equal values, or as a list),
// and a repeated Transfer-Encoding.
#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "http/request.h"

namespace signer::http {

struct HeadLimits {
  std::size_t max_head_bytes = 16 * 1024;     // request line + fields + the empty line
  std::size_t max_fields = 100;               // header field lines
  std::size_t max_request_line_bytes = 8192;  // "GET <target> HTTP/1.1"
};

// A refusal of the head: the status (400, 414, 431) and a message fit for the client.
struct HeadRefusal {
  int status = 400;
  std::string message;
};

class HeadScanner {
 public:
  explicit HeadScanner(HeadLimits limits) : limits_(limits) {}

  enum class State { kNeedMore, kComplete, kRefused };

  // Scans the head received so far (`head` grows between calls; its first bytes are never
  // changed). kComplete: the head ends at head_size(), just past its empty line. kRefused:
  // refusal() says why; nothing more will be accepted.
  State scan(std::string_view head);

  std::size_t head_size() const { return head_size_; }
  const HeadRefusal& refusal() const { return refusal_; }
  // True once a byte of this request arrived (the head deadline runs from then).
  bool started() const { return scanned_ > 0; }

 private:
  State refuse(int status, std::string message);

  HeadLimits limits_;
  std::size_t scanned_ = 0;     // bytes of the head already checked
  std::size_t line_start_ = 0;  // offset of the line being scanned
  std::size_t lines_ = 0;       // complete lines so far (the request line is the first)
  std::size_t head_size_ = 0;
  HeadRefusal refusal_;
};

// The repetitions of framing fields that Beast's parser accepts but that a proxy may read
// differently: more than one Content-Length field, a Content-Length that is not plain digits, more
// than one Transfer-Encoding field. Returns the refusal (400), or nullopt.
std::optional<HeadRefusal> head_framing_error(const Request& req);

// The parser of one request: its head, then (for an upload) its body in pieces.
using RequestParser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;

// Parses `head`, a complete head as HeadScanner found it, into `parser` (a fresh one) and `req`:
// method, target, the path and query decoded once, the header fields as sent. Returns the
// refusal when Beast's grammar or head_framing_error() refuses it. `limits` bounds the head as
// HeadScanner does; the body limit is left unset for the caller to choose once the route is known.
std::optional<HeadRefusal> parse_head(std::string_view head, const HeadLimits& limits,
                                      RequestParser& parser, Request& req);

// The refusal for an error of Beast's parser (on a head or a body).
HeadRefusal refusal_for(const boost::system::error_code& ec);

}  // namespace signer::http
