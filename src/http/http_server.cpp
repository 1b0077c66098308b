#include "http/http_server.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <variant>

namespace signer::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// An idle connection holds only its Session and, once bytes arrive, a buffer that starts small:
// the first read of a head takes kFirstRead bytes, later ones up to kReadSize. Upload and drain
// buffers exist only while a connection uploads or lingers.
constexpr std::size_t kFirstRead = 1024;
constexpr std::size_t kReadSize = 16 * 1024;   // one read of the head or a drained body
constexpr std::size_t kPieceSize = 64 * 1024;  // one piece of an upload's body

std::string json_error(std::string_view message) {
  std::string out = "{\"error\":\"";
  for (const char c : message) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out + "\"}";
}

Response error_response(int status, std::string_view message) {
  Response res;
  res.status = status;
  res.set_content(json_error(message), "application/json");
  return res;
}

// Runs handlers on threads of their own, so a handler that waits (a store, a job) never holds an
// I/O thread. Refuses work past a bound instead of queueing without end.
class HandlerPool {
 public:
  HandlerPool(std::size_t threads, std::size_t max_queued)
      : work_(net::make_work_guard(ctx_)), max_(threads + max_queued) {
    for (std::size_t i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { ctx_.run(); });
    }
  }
  ~HandlerPool() { join(); }
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  // Queues `fn`; false when the pool already holds its bound of queued and running work.
  template <typename Fn>
  bool try_post(Fn fn) {
    if (pending_.fetch_add(1) >= max_) {
      pending_.fetch_sub(1);
      return false;
    }
    net::post(ctx_, [this, fn = std::move(fn)]() mutable {
      fn();
      pending_.fetch_sub(1);
    });
    return true;
  }

  // Lets queued work finish, then ends the threads.
  void join() {
    work_.reset();
    threads_.clear();  // jthreads join
  }

 private:
  net::io_context ctx_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::atomic<std::size_t> pending_{0};
  std::size_t max_;
  std::vector<std::jthread> threads_;
};

struct Listener {
  explicit Listener(net::io_context& io, ListenerConfig c)
      : config(std::move(c)),
        acceptor(io),
        pool(config.handler_threads, config.max_queued_requests) {}

  // Counts a new connection from `address`; false when a cap is reached.
  bool admit(const std::string& address) {
    std::lock_guard lock(mutex);
    const ConnectionPolicy& p = config.policy;
    if (p.max_connections != 0 && open >= p.max_connections) return false;
    std::size_t& mine = by_client[address];
    if (p.max_connections_per_client != 0 && mine >= p.max_connections_per_client) {
      if (mine == 0) by_client.erase(address);
      return false;
    }
    ++mine;
    ++open;
    return true;
  }
  void release(const std::string& address) {
    std::lock_guard lock(mutex);
    --open;
    const auto it = by_client.find(address);
    if (it != by_client.end() && --it->second == 0) by_client.erase(it);
  }

  ListenerConfig config;
  tcp::acceptor acceptor;
  HandlerPool pool;
  int port = -1;
  std::mutex mutex;
  std::size_t open = 0;
  std::unordered_map<std::string, std::size_t> by_client;
};

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Ends the connection if it waits for a request; otherwise it ends after its current answer.
  virtual void on_server_stop() = 0;
};

}  // namespace

struct HttpServer::Impl {
  Impl(const TlsContext* tls, std::size_t threads)
      : tls_for_listener(tls), io_threads(std::max<std::size_t>(1, threads)) {}

  const TlsContext* tls_for_listener;
  net::io_context io;
  std::size_t io_threads;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::atomic<bool> stopping{false};
  std::mutex sessions_mutex;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;

  void accept(Listener& listener);
  template <typename Stream>
  void start_session(Listener& listener, Stream stream, std::string address, int port);
  void forget(SessionBase* session) {
    std::lock_guard lock(sessions_mutex);
    sessions.erase(session);
  }
};

namespace {

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
    lowest().expires_after(policy_.write_timeout);
    bhttp::async_write(stream_, *msg,
                       [self = this->shared_from_this(), msg, keep, res = std::move(res)](
                           const error_code& ec, std::size_t) { self->on_written(ec, keep, res); });
  }

  void on_written(const error_code& ec, bool keep, const Response& res) {
    if (listener_.config.on_response) listener_.config.on_response(request_.get(), res);
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

}  // namespace

template <typename Stream>
void HttpServer::Impl::start_session(Listener& listener, Stream stream, std::string address,
                                     int port) {
  auto session = std::make_shared<Session<Stream>>(*this, listener, std::move(stream),
                                                   std::move(address), port);
  {
    std::lock_guard lock(sessions_mutex);
    sessions.emplace(session.get(), session);
  }
  session->start();
}

void HttpServer::Impl::accept(Listener& listener) {
  listener.acceptor.async_accept(
      net::make_strand(io), [this, &listener](const error_code& ec, tcp::socket socket) {
        if (stopping || !listener.acceptor.is_open()) return;
        if (ec) {
          // Out of file descriptors (EMFILE) or memory: accepting again at once would spin. Wait
          // a little; connections that close in the meantime make room.
          spdlog::warn("accept failed: {}; retrying in 100 ms", ec.message());
          auto timer = std::make_shared<net::steady_timer>(io, std::chrono::milliseconds(100));
          timer->async_wait([this, &listener, timer](const error_code&) {
            if (!stopping) accept(listener);
          });
          return;
        }
        {
          error_code addr_ec;
          const auto remote = socket.remote_endpoint(addr_ec);
          std::string address = addr_ec ? std::string() : remote.address().to_string();
          const int port = addr_ec ? 0 : remote.port();
          if (!listener.admit(address)) {
            // Past a cap: a short answer on plain HTTP (under TLS the close says enough), on a
            // socket that is not kept.
            static const std::string kBusy = [] {
              const std::string body =
                  json_error("too many connections from this address or in all; try later");
              return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                     "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body;
            }();
            if (tls_for_listener == nullptr) {
              error_code ignored;
              socket.non_blocking(true, ignored);
              socket.write_some(net::buffer(kBusy), ignored);
            }
            error_code ignored;
            socket.shutdown(tcp::socket::shutdown_both, ignored);
            socket.close(ignored);
          } else if (tls_for_listener != nullptr) {
            SSL* ssl = SSL_new(tls_for_listener->current().get());
            if (ssl == nullptr) {
              listener.release(address);
            } else {
              start_session(
                  listener,
                  net::ssl::stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), ssl),
                  std::move(address), port);
            }
          } else {
            start_session(listener, beast::tcp_stream(std::move(socket)), std::move(address), port);
          }
        }
        accept(listener);
      });
}

HttpServer::HttpServer(const TlsContext* tls, std::size_t io_threads)
    : tls_(tls), impl_(std::make_unique<Impl>(tls, io_threads)) {}

HttpServer::~HttpServer() {
  stop();
  // Handler threads end before the listeners they serve are destroyed.
  for (auto& listener : impl_->listeners) listener->pool.join();
}

std::size_t HttpServer::add_listener(ListenerConfig config) {
  impl_->listeners.push_back(std::make_unique<Listener>(impl_->io, std::move(config)));
  return impl_->listeners.size() - 1;
}

bool HttpServer::bind() {
  for (auto& listener : impl_->listeners) {
    error_code ec;
    const auto address = net::ip::make_address(listener->config.host, ec);
    if (ec) {
      spdlog::error("cannot listen on {}: not an IP address", listener->config.host);
      return false;
    }
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(listener->config.port));
    tcp::acceptor& acceptor = listener->acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      spdlog::error("cannot listen on {}:{}: {}", listener->config.host, listener->config.port,
                    ec.message());
      return false;
    }
    listener->port = acceptor.local_endpoint().port();
  }
  return true;
}

int HttpServer::port(std::size_t index) const { return impl_->listeners.at(index)->port; }

void HttpServer::run() {
  for (auto& listener : impl_->listeners) impl_->accept(*listener);
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 1; i < impl_->io_threads; ++i) {
      threads.emplace_back([this] { impl_->io.run(); });
    }
    impl_->io.run();
  }  // the I/O threads end once no connection and no accept is left
  for (auto& listener : impl_->listeners) listener->pool.join();
}

void HttpServer::stop() {
  if (impl_->stopping.exchange(true)) return;
  net::post(impl_->io, [impl = impl_.get()] {
    for (auto& listener : impl->listeners) {
      error_code ignored;
      listener->acceptor.close(ignored);
    }
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard lock(impl->sessions_mutex);
      for (auto& [raw, weak] : impl->sessions) {
        if (auto session = weak.lock()) live.push_back(std::move(session));
      }
    }
    for (auto& session : live) session->on_server_stop();
  });
}

}  // namespace signer::http
