#include "http/request_head.h"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

namespace signer::http {

namespace bhttp = boost::beast::http;

HeadRefusal refusal_for(const boost::system::error_code& ec) {
  if (ec == bhttp::error::header_limit) return {431, "request head too large"};
  if (ec == bhttp::error::body_limit) return {413, "request body too large (--max-body-bytes)"};
  if (ec == bhttp::error::bad_method) return {400, "bad request method"};
  if (ec == bhttp::error::bad_target) return {400, "bad request target"};
  if (ec == bhttp::error::bad_version) return {400, "bad HTTP version"};
  if (ec == bhttp::error::bad_field) return {400, "bad header field name"};
  if (ec == bhttp::error::bad_value) return {400, "bad header field value"};
  if (ec == bhttp::error::bad_content_length || ec == bhttp::error::multiple_content_length) {
    return {400, "bad Content-Length"};
  }
  if (ec == bhttp::error::bad_transfer_encoding) {
    return {400, "bad Transfer-Encoding (or together with Content-Length)"};
  }
  if (ec == bhttp::error::bad_chunk || ec == bhttp::error::bad_chunk_extension) {
    return {400, "bad chunk in a chunked body"};
  }
  return {400, "malformed request: " + ec.message()};
}

std::optional<HeadRefusal> parse_head(std::string_view head, const HeadLimits& limits,
                                      RequestParser& parser, Request& req) {
  parser.header_limit(static_cast<std::uint32_t>(limits.max_head_bytes + 1));
  parser.body_limit(boost::none);
  parser.eager(false);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (!ec && !parser.is_header_done()) ec = bhttp::error::partial_message;
  if (ec) return refusal_for(ec);
  const auto& msg = parser.get();
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  const std::size_t query = req.target.find('?');
  req.path = percent_decode(std::string_view(req.target).substr(0, query), false);
  if (query != std::string::npos) {
    req.params = parse_query(std::string_view(req.target).substr(query + 1));
  }
  for (const auto& field : msg) {
    req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  return head_framing_error(req);
}

HeadScanner::State HeadScanner::refuse(int status, std::string message) {
  refusal_ = {status, std::move(message)};
  return State::kRefused;
}

HeadScanner::State HeadScanner::scan(std::string_view head) {
  if (!refusal_.message.empty()) return State::kRefused;
  for (; scanned_ < head.size(); ++scanned_) {
    const auto c = static_cast<unsigned char>(head[scanned_]);
    const std::size_t line_length = scanned_ - line_start_;
    if (c == '\n') {
      if (line_length == 0 || head[scanned_ - 1] != '\r') {
        return refuse(400, "bare LF in the request head: lines end with CRLF");
      }
      if (line_length == 1) {  // the empty line: the head is complete
        if (lines_ == 0) return refuse(400, "empty request line");
        head_size_ = scanned_ + 1;
        ++scanned_;
        return State::kComplete;
      }
      ++lines_;
      if (lines_ > limits_.max_fields + 1) {
        return refuse(
            431, "too many header fields (at most " + std::to_string(limits_.max_fields) + ")");
      }
      line_start_ = scanned_ + 1;
      continue;
    }
    if (scanned_ > 0 && head[scanned_ - 1] == '\r') {
      return refuse(400, "bare CR in the request head");
    }
    if (line_length == 0 && lines_ > 0 && (c == ' ' || c == '\t')) {
      return refuse(400, "obsolete line folding (a header line that starts with a space or tab)");
    }
    if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
      return refuse(400, "control character in the request head");
    }
    if (lines_ == 0 && line_length >= limits_.max_request_line_bytes) {
      return refuse(414, "request line longer than " +
                             std::to_string(limits_.max_request_line_bytes) + " bytes");
    }
    if (scanned_ >= limits_.max_head_bytes) {
      return refuse(
          431, "request head larger than " + std::to_string(limits_.max_head_bytes) + " bytes");
    }
  }
  return State::kNeedMore;
}

std::optional<HeadRefusal> head_framing_error(const Request& req) {
  const std::size_t lengths = req.header_count("Content-Length");
  if (lengths > 1) return HeadRefusal{400, "Content-Length given more than once"};
  if (lengths == 1) {
    const std::string value = req.get_header_value("Content-Length");
    if (value.empty() || value.size() > 19 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return HeadRefusal{400, "Content-Length must be a decimal number"};
    }
  }
  if (req.header_count("Transfer-Encoding") > 1) {
    return HeadRefusal{400, "Transfer-Encoding given more than once"};
  }
  if (lengths > 0 && req.has_header("Transfer-Encoding")) {
    return HeadRefusal{400, "Content-Length together with Transfer-Encoding"};
  }
  return std::nullopt;
}

}  // namespace signer::http
