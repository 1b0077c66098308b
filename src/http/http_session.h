// One connection of the front door (http_server.h), as a template over its stream: a plain
// beast::tcp_stream or an ssl::stream over one. Included only by http_session_plain.cpp and
// http_session_tls.cpp, which each instantiate one kind.
#pragma once

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <optional>
#include <type_traits>

#include "http/http_server_internal.h"

namespace signer::http::front_door {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

// One connection: reads request heads and bodies, hands complete heads to the listener's handler
// threads, writes the answers, and closes. Every step runs on the connection's strand.
template <typename Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::Impl& server, Listener& listener, Stream stream, std::string address,
          int port)
      : server_(server),
        listener_(listener),
        policy_(listener.config.policy),
        stream_(std::move(stream)),
        address_(std::move(address)),
        port_(port),
        buffer_(policy_.head.max_head_bytes + kPieceSize) {}

  ~Session() override {
    listener_.release(address_);
    server_.forget(this);
  }

  void start() {
    if constexpr (kTls) {
      lowest().expires_after(policy_.head_deadline);
      stream_.async_handshake(
          net::ssl::stream_base::server,
          [self = this->shared_from_this()](const error_code& ec) { self->on_handshake(ec); });
    } else {
      read_head();
    }
  }

  void on_server_stop() override {
    net::post(lowest().get_executor(), [self = this->shared_from_this()] {
      if (self->idle_) self->close();
    });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void on_handshake(const error_code& ec) {
    if (ec) return close();
    if (auto peer = verified_peer_certificate(stream_.native_handle())) {
      peer_ = std::make_shared<const PeerCertificate>(std::move(*peer));
    }
    read_head();
  }

  // ---- the head ---------------------------------------------------------------------------
  void read_head() {
    if (server_.stopping) return close();
    if (buffer_.size() == 0) buffer_.shrink_to_fit();  // idle: give the last request's bytes back
    scanner_.emplace(policy_.head);
    idle_ = true;
    lowest().expires_after(policy_.keep_alive_timeout);
    scan_head();
  }

  // Scans what the buffer holds (pipelined bytes first), reading more until the head is whole.
  void scan_head() {
    const std::string_view bytes(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    const bool had_started = scanner_->started();
    switch (scanner_->scan(bytes)) {
      case HeadScanner::State::kRefused: return refuse_head(scanner_->refusal());
      case HeadScanner::State::kComplete: return on_head(bytes.substr(0, scanner_->head_size()));
      case HeadScanner::State::kNeedMore: break;
    }
    if (scanner_->started() && !had_started) {
      idle_ = false;
      lowest().expires_after(policy_.head_deadline);  // one deadline for the whole head
    }
    const std::size_t room = buffer_.max_size() - buffer_.size();
    const std::size_t want = buffer_.size() == 0 ? kFirstRead : kReadSize;
    stream_.async_read_some(buffer_.prepare(std::min(want, room)),
                            [self = this->shared_from_this()](const error_code& ec, std::size_t n) {
                              self->on_head_bytes(ec, n);
                            });
  }

  void on_head_bytes(const error_code& ec, std::size_t n) {
    // A timeout (Beast has closed the socket), the client's close, or an error: nothing to answer.
    if (ec) return close();
    buffer_.commit(n);
    scan_head();
  }

  void on_head(std::string_view head) {
    idle_ = false;
    parser_.emplace();
    request_ = std::make_shared<Request>();
    if (auto refusal = parse_head(head, policy_.head, *parser_, *request_)) {
      return refuse_head(*refusal);
    }
    buffer_.consume(head.size());
    lowest().expires_never();  // the handler may take long (a job, a batch)
    request_->remote_addr = address_;
    request_->remote_port = port_;
    request_->tls = kTls;
    request_->peer_certificate = peer_;
    ++served_;

    const bool posted = listener_.pool.try_post(
        [self = this->shared_from_this(), guard = net::make_work_guard(server_.io)]() mutable {
          self->decide();
        });
    if (!posted) {
      Response busy = error_response(503, "server busy: too many requests waiting");
      busy.set_header("Retry-After", "1");
      write(std::move(busy), true);
    }
  }

  // ---- on a handler thread: the gate, the route, and the handler or the upload's sink -------
  void decide() {
    Response res;
    std::unique_ptr<BodySink> sink;
    Request& req = *request_;
    try {
      if (auto refusal = listener_.config.gate ? listener_.config.gate(req) : std::nullopt) {
        res = std::move(*refusal);
      } else if (const Route* route = listener_.config.router->find(req); route == nullptr) {
        res.status = 404;
      } else if (route->takes_body()) {
        const auto declared = parser_->content_length();
        if (declared && *declared > listener_.config.max_body_bytes) {
          res = error_response(413, "request body too large: Content-Length " +
                                        std::to_string(*declared) + " is over the limit of " +
                                        std::to_string(listener_.config.max_body_bytes) +
                                        " bytes (--max-body-bytes)");
        } else {
          sink = route->upload(req, res);
        }
      } else {
        route->handler(req, res);
      }
    } catch (const std::exception& e) {
      spdlog::error("{} {} failed: {}", req.method, req.path, e.what());
      res = error_response(500, "internal error");
      sink.reset();
    }
    net::post(lowest().get_executor(),
              [self = this->shared_from_this(), res = std::move(res), sink = std::move(sink),
               guard = net::make_work_guard(server_.io)]() mutable {
                if (sink) return self->start_body(std::move(sink));
                self->write(std::move(res), false);
              });
  }

  // ---- an upload's body ---------------------------------------------------------------------
  void start_body(std::unique_ptr<BodySink> sink) {
    sink_ = std::move(sink);
    parser_->body_limit(listener_.config.max_body_bytes);
    const auto& msg = parser_->get();
    if (msg.version() == 11 && iequals(msg[bhttp::field::expect], "100-continue")) {
      auto interim =
          std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, 11);
      lowest().expires_after(policy_.write_timeout);
      return bhttp::async_write(
          stream_, *interim,
          [self = this->shared_from_this(), interim](const error_code& ec, std::size_t) {
            if (ec) return self->close();
            self->read_body();
          });
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return end_body({BodyEnd::How::kComplete, 0, {}});
    auto& body = parser_->get().body();
    if (!piece_) piece_ = std::make_unique<std::array<char, kPieceSize>>();
    body.data = piece_->data();
    body.size = piece_->size();
    body.more = true;
    lowest().expires_after(policy_.read_timeout);
    bhttp::async_read_some(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_body(ec); });
  }

  void on_body(error_code ec) {
    if (ec == bhttp::error::need_buffer) ec = {};
    const std::size_t n = kPieceSize - parser_->get().body().size;
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        return end_body({BodyEnd::How::kTransport, 413,
                         "request body too large: more than " +
                             std::to_string(listener_.config.max_body_bytes) +
                             " bytes (--max-body-bytes)"});
      }
      if (ec == beast::error::timeout) {
        return end_body({BodyEnd::How::kTransport, 408, "request body not received in time"});
      }
      if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
          ec == bhttp::error::partial_message) {
        return end_body({BodyEnd::How::kTransport, 400, "the request body ended early"});
      }
      return end_body({BodyEnd::How::kTransport, 400, refusal_for(ec).message});
    }
    if (n == 0) return read_body();
    const bool posted = listener_.pool.try_post(
        [self = this->shared_from_this(), n, guard = net::make_work_guard(server_.io)]() mutable {
          bool more = false;
          try {
            more = self->sink_->feed(std::string_view(self->piece_->data(), n));
          } catch (const std::exception& e) {
            spdlog::error("{} {} failed: {}", self->request_->method, self->request_->path,
                          e.what());
          }
          net::post(self->lowest().get_executor(), [self, more]() {
            if (more) return self->read_body();
            self->end_body({BodyEnd::How::kStopped, 0, {}});
          });
        });
    if (!posted) end_body({BodyEnd::How::kTransport, 503, "server busy"});
  }

  void end_body(BodyEnd end) {
    const bool posted =
        listener_.pool.try_post([self = this->shared_from_this(), end = std::move(end),
                                 guard = net::make_work_guard(server_.io)]() mutable {
          Response res;
          try {
            self->sink_->finish(end, res);
          } catch (const std::exception& e) {
            spdlog::error("{} {} failed: {}", self->request_->method, self->request_->path,
                          e.what());
            res = error_response(500, "internal error");
          }
          net::post(self->lowest().get_executor(), [self, res = std::move(res)]() mutable {
            self->sink_.reset();
            self->piece_.reset();
            self->write(std::move(res), false);
          });
        });
    if (!posted) {
      sink_.reset();
      write(error_response(503, "server busy"), true);
    }
  }

  // ---- answers ------------------------------------------------------------------------------
  void refuse_head(const HeadRefusal& refusal) { refuse(refusal.status, refusal.message); }

  void refuse(int status, std::string_view message) {
    request_.reset();
    write(error_response(status, message), true);
  }

  void write(Response res, bool close_after) {
    idle_ = false;
    const Request* req = request_.get();
    if (res.status >= 400 && res.body.empty() && listener_.config.render_error) {
      listener_.config.render_error(req, res);
    }
    const bool head_only = req != nullptr && req->method == "HEAD";
    // A refusal, or a body left unread, ends the connection: nothing after it is a request.
    const bool body_read = parser_ && parser_->is_done();
    const bool keep = !close_after && res.status < 400 && req != nullptr && body_read &&
                      parser_->get().keep_alive() && !server_.stopping &&
                      served_ < policy_.keep_alive_max_requests;
    auto msg = std::make_shared<bhttp::response<bhttp::string_body>>();
    msg->version(parser_ && parser_->is_header_done() ? parser_->get().version() : 11);
    msg->result(static_cast<unsigned>(res.status));
    for (const auto& [name, value] : res.headers) msg->insert(name, value);
    if (!res.content_type.empty()) msg->set(bhttp::field::content_type, res.content_type);
    msg->keep_alive(keep);
    if (!keep) msg->set(bhttp::field::connection, "close");
    if (head_only) {
      msg->content_length(res.body.size());
    } else {
      msg->body() = std::move(res.body);
      msg->prepare_payload();
    }
    res.body.clear();
    // Observed before the first byte goes out: a client that has read this answer finds it
    // counted (the request metrics), whatever it asks next.
    if (listener_.config.on_response) listener_.config.on_response(req, res);
    lowest().expires_after(policy_.write_timeout);
    bhttp::async_write(stream_, *msg,
                       [self = this->shared_from_this(), msg, keep](
                           const error_code& ec, std::size_t) { self->on_written(ec, keep); });
  }

  void on_written(const error_code& ec, bool keep) {
    request_.reset();
    if (ec) return close();
    if (!keep) return linger();
    parser_.reset();
    read_head();
  }

  // Closes after a refusal without resetting the connection under the client: our side stops
  // writing, then what the client still sends is read and dropped for a bounded time, so it
  // reads the answer instead of a reset.
  void linger() {
    lowest().expires_after(policy_.linger);
    if constexpr (kTls) {
      stream_.async_shutdown(
          [self = this->shared_from_this()](const error_code&) { self->drain_tcp(); });
    } else {
      drain_tcp();
    }
  }

  void drain_tcp() {
    error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    drain();
  }

  void drain() {
    if (!discard_) discard_ = std::make_unique<std::array<char, kReadSize>>();
    lowest().async_read_some(net::buffer(*discard_),
                             [self = this->shared_from_this()](const error_code& ec, std::size_t) {
                               if (ec) return self->close();
                               self->drain();
                             });
  }

  void close() {
    idle_ = false;
    error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

  HttpServer::Impl& server_;
  Listener& listener_;
  const ConnectionPolicy& policy_;
  Stream stream_;
  std::string address_;
  int port_;
  std::shared_ptr<const PeerCertificate> peer_;
  beast::flat_buffer buffer_;  // the head being read, then what follows it (body, next request)
  std::optional<HeadScanner> scanner_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> parser_;
  std::shared_ptr<Request> request_;
  std::unique_ptr<BodySink> sink_;
  std::unique_ptr<std::array<char, kPieceSize>> piece_;   // while an upload is read
  std::unique_ptr<std::array<char, kReadSize>> discard_;  // while a refusal lingers
  std::size_t served_ = 0;
  bool idle_ = false;  // waiting for the first byte of a request
};

template <typename Stream>
void start_session(HttpServer::Impl& server, Listener& listener, Stream stream, std::string address,
                   int port) {
  auto session = std::make_shared<Session<Stream>>(server, listener, std::move(stream),
                                                   std::move(address), port);
  server.track(session);
  session->start();
}

}  // namespace signer::http::front_door
