// The front door's internals, shared by http_server.cpp (listeners, accepting, stopping) and the
// two kinds of connection, each instantiated in a translation unit of its own
// (http_session_plain.cpp, http_session_tls.cpp): Beast's and Asio's templates for one Session take
// minutes to compile under the sanitizers, and apart the two build on two cores at once. Only
// those three files include this header.
#pragma once

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "http/http_server.h"

namespace signer::http::front_door {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// An idle connection holds only its Session and, once bytes arrive, a buffer that starts small:
// the first read of a head takes kFirstRead bytes, later ones up to kReadSize. Upload and drain
// buffers exist only while a connection uploads or lingers.
constexpr std::size_t kFirstRead = 1024;
constexpr std::size_t kReadSize = 16 * 1024;   // one read of the head or a drained body
constexpr std::size_t kPieceSize = 64 * 1024;  // one piece of an upload's body

// {"error": message}, and an answer carrying it.
std::string json_error(std::string_view message);
Response error_response(int status, std::string_view message);

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

// Start serving an accepted connection, plain or over TLS (`ssl`, a fresh SSL of the listener's
// context, owned by the session from here on).
void start_plain_session(HttpServer::Impl& server, Listener& listener, tcp::socket socket,
                         std::string address, int port);
void start_tls_session(HttpServer::Impl& server, Listener& listener, tcp::socket socket, SSL* ssl,
                       std::string address, int port);

}  // namespace signer::http::front_door

namespace signer::http {

struct HttpServer::Impl {
  Impl(const TlsContext* tls, std::size_t threads)
      : tls_for_listener(tls), io_threads(std::max<std::size_t>(1, threads)) {}

  const TlsContext* tls_for_listener;
  boost::asio::io_context io;
  std::size_t io_threads;
  std::vector<std::unique_ptr<front_door::Listener>> listeners;
  std::atomic<bool> stopping{false};
  std::mutex sessions_mutex;
  std::unordered_map<front_door::SessionBase*, std::weak_ptr<front_door::SessionBase>> sessions;

  void accept(front_door::Listener& listener);
  // Keeps `session` reachable by stop() while it lives.
  void track(const std::shared_ptr<front_door::SessionBase>& session) {
    std::lock_guard lock(sessions_mutex);
    sessions.emplace(session.get(), session);
  }
  void forget(front_door::SessionBase* session) {
    std::lock_guard lock(sessions_mutex);
    sessions.erase(session);
  }
};

}  // namespace signer::http
