// The framing rules of a request head (http/request_head.h), one case per desync trick from the
// security review (issue 19), fed whole and byte by byte: the scanner must refuse at the byte
// that breaks a rule whatever the reads' boundaries, and the parse must refuse what the scanner
// leaves to Beast.
#include "http/request_head.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace signer::http {
namespace {

struct Outcome {
  int status = 0;  // 0: accepted
  Request request;
};

// Scans `head` (fed `step` bytes at a time), then parses it as the front door does.
Outcome run(const std::string& head, std::size_t step = 0, HeadLimits limits = {}) {
  HeadScanner scanner(limits);
  HeadScanner::State state = HeadScanner::State::kNeedMore;
  for (std::size_t end = step == 0 ? head.size() : step;; end += step) {
    state = scanner.scan(std::string_view(head).substr(0, std::min(end, head.size())));
    if (state != HeadScanner::State::kNeedMore || end >= head.size()) break;
  }
  if (state == HeadScanner::State::kRefused) return {scanner.refusal().status, {}};
  if (state == HeadScanner::State::kNeedMore) return {-1, {}};
  RequestParser parser;
  Outcome out;
  if (auto refusal = parse_head(std::string_view(head).substr(0, scanner.head_size()), limits,
                                parser, out.request)) {
    out.status = refusal->status;
  }
  return out;
}

const std::string kStart = "POST /records HTTP/1.1\r\nHost: 127.0.0.1\r\n";

struct Case {
  const char* name;
  std::string head;
  int status;
};

std::vector<Case> cases() {
  return {
      {"plain", kStart + "Content-Length: 24\r\n\r\n", 0},
      {"chunked", kStart + "Transfer-Encoding: chunked\r\n\r\n", 0},
      {"length-and-chunked", kStart + "Content-Length: 24\r\nTransfer-Encoding: chunked\r\n\r\n",
       400},
      {"chunked-and-length", kStart + "Transfer-Encoding: chunked\r\nContent-Length: 24\r\n\r\n",
       400},
      {"two-lengths", kStart + "Content-Length: 24\r\nContent-Length: 24\r\n\r\n", 400},
      {"length-list", kStart + "Content-Length: 24, 24\r\n\r\n", 400},
      {"length-plus", kStart + "Content-Length: +24\r\n\r\n", 400},
      {"length-suffix", kStart + "Content-Length: 24abc\r\n\r\n", 400},
      {"two-encodings", kStart + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       400},
      {"identity-then-chunked",
       kStart + "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"obs-fold", kStart + "X-Note: a\r\n folded\r\nContent-Length: 1\r\n\r\n", 400},
      {"obs-fold-tab", kStart + "Transfer-Encoding:\r\n\tchunked\r\n\r\n", 400},
      {"space-before-colon", kStart + "Content-Length : 24\r\n\r\n", 400},
      {"nul", kStart + std::string("X-Note: a\0b\r\n\r\n", 15), 400},
      {"del",
       kStart + "X-Note: a\x7f"
                "b\r\n\r\n",
       400},
      {"bare-lf", "POST /records HTTP/1.1\nHost: 127.0.0.1\n\n", 400},
      {"bare-cr", "GET / HTTP/1.1\rHost: x\r\n\r\n", 400},
      {"lf-inside-a-field", kStart + "X-Note: a\nb\r\n\r\n", 400},
      {"empty-request-line", "\r\nGET / HTTP/1.1\r\n\r\n", 400},
      {"lowercase-method", "get / HTTP/1.1\r\nHost: x\r\n\r\n", 0},  // methods are case-sensitive
      {"bad-version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400},
      {"space-in-name", kStart + "Bad Name: x\r\n\r\n", 400},
  };
}

TEST(RequestHead, EachDesyncTrickIsRefusedWholeAndByteByByte) {
  for (const Case& c : cases()) {
    for (std::size_t step : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
      EXPECT_EQ(run(c.head, step).status, c.status) << c.name << " step " << step;
    }
  }
}

TEST(RequestHead, HeaderValuesAreNeverPercentDecoded) {
  const Outcome out = run(kStart +
                          "Transfer-Encoding: %63hunked\r\n"
                          "Authorization: Bearer tok%00junk\r\n\r\n");
  ASSERT_EQ(out.status, 0);
  EXPECT_EQ(out.request.get_header_value("Transfer-Encoding"), "%63hunked");
  EXPECT_EQ(out.request.get_header_value("authorization"), "Bearer tok%00junk");
}

TEST(RequestHead, PathAndQueryAreDecodedOnce) {
  const Outcome out =
      run("GET /records/order%2F42%2541?job=j%2D1&x=a+b HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(out.status, 0);
  EXPECT_EQ(out.request.path, "/records/order/42%41");
  EXPECT_EQ(out.request.get_param_value("job"), "j-1");
  EXPECT_EQ(out.request.get_param_value("x"), "a b");
  EXPECT_EQ(out.request.target, "/records/order%2F42%2541?job=j%2D1&x=a+b");
}

TEST(RequestHead, BoundsOnBytesFieldsAndTheRequestLine) {
  HeadLimits limits;
  limits.max_head_bytes = 256;
  limits.max_fields = 4;
  limits.max_request_line_bytes = 64;
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 5; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(run(many + "\r\n", 0, limits).status, 431);
  EXPECT_EQ(run("GET / HTTP/1.1\r\nX-Big: " + std::string(300, 'a'), 1, limits).status, 431);
  EXPECT_EQ(run("GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n", 0, limits).status, 414);
  // The refusal comes as soon as a bound is crossed, without waiting for the head to end.
  EXPECT_EQ(run("GET / HTTP/1.1\r\nX-Big: " + std::string(300, 'a'), 0, limits).status, 431);
  EXPECT_EQ(run("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, limits).status, 0);
}

TEST(RequestHead, AnUnfinishedHeadAsksForMore) {
  EXPECT_EQ(run("GET / HTTP/1.1\r\nHost: x\r\n").status, -1);
  EXPECT_EQ(run("GET / HTTP/1.1\r").status, -1);
}

}  // namespace
}  // namespace signer::http
