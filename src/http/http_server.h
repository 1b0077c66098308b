// The front door: an event-driven HTTP/1.1 server on Boost.Beast and Asio, plain or TLS. A few
// I/O threads drive every connection with asynchronous reads and writes, so a connection that is
// idle, trickles its head or stalls its body costs memory (its buffers), never a thread. Only a
// complete head reaches a handler thread; an upload's body then goes to its BodySink piece by
// piece as it arrives, each piece fed on a handler thread while the connection reads the next.
//
// What every connection gets, whatever the route:
//   - the framing rules of request_head.h, at the byte that breaks one;
//   - one deadline for the whole request head (from its first byte), one for the TLS handshake,
//     an idle timeout between requests, and a timeout on each body read and each write;
//   - the gate before the router and before any body byte is read; `Expect: 100-continue` is
//     answered only once the gate and the route let the request through;
//   - a body is read only by a route that takes one, and counted against the limit as it is
//     read (a declared Content-Length over it is refused before a byte is read);
//   - after every answer with a status >= 400, and after any request whose body was not read to
//     its end, `Connection: close` and a lingering close: no byte after that answer is ever
//     parsed as a request (request smuggling);
//   - caps on connections in all and per remote address, answered 503 past them.
// Listeners share the I/O threads; each has its own handler threads, so a flood on one port
// cannot delay the other's probes and batches.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/request.h"
#include "http/request_head.h"
#include "http/router.h"
#include "http/tls_context.h"

namespace signer::http {

struct ConnectionPolicy {
  std::chrono::milliseconds head_deadline{10'000};      // the whole request head, and TLS handshake
  std::chrono::milliseconds read_timeout{30'000};       // each body read
  std::chrono::milliseconds write_timeout{30'000};      // each write
  std::chrono::milliseconds keep_alive_timeout{5'000};  // idle wait for the next request
  std::size_t keep_alive_max_requests = 100;            // then the connection is closed
  std::chrono::milliseconds linger{2'000};              // after a refusal, see the file comment
  std::size_t max_connections_per_client = 0;           // per remote address; 0: no limit
  std::size_t max_connections = 0;                      // on this listener in all; 0: no limit
  HeadLimits head;
};

// A check every request passes once its head is read, before routing and before its body is read.
// Returns the refusal to send, or nullopt to let the request through.
using GateFn = std::function<std::optional<Response>(const Request&)>;
// Fills the body of an answer with status >= 400 that has none (req is null for a refusal of the
// head itself).
using ErrorRendererFn = std::function<void(const Request* req, Response& res)>;
// Runs as each answer is handed to its connection, before its first byte is written, so that a
// client that has read an answer finds it observed (req is null for a refusal of the head itself).
using ResponseObserverFn = std::function<void(const Request* req, const Response& res)>;

struct ListenerConfig {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  ConnectionPolicy policy;
  std::size_t handler_threads = 4;
  std::size_t max_queued_requests = 256;  // waiting for a handler thread; past it 503
  std::size_t max_body_bytes = 64u << 20;
  const Router* router = nullptr;  // must outlive the server
  GateFn gate;
  ErrorRendererFn render_error;
  ResponseObserverFn on_response;
};

class HttpServer {
 public:
  // `tls` may be null (plain HTTP); it must outlive the server. `io_threads` drive every
  // connection of every listener.
  HttpServer(const TlsContext* tls, std::size_t io_threads);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Adds a listener; call before bind(). Returns its index.
  std::size_t add_listener(ListenerConfig config);

  // Binds every listener. Returns false (logging which) when an address is taken or invalid.
  bool bind();
  // The bound port of listener `index`.
  int port(std::size_t index) const;

  // Serves until stop(); returns once every connection has ended and every handler returned.
  void run();
  // Stops accepting, closes idle connections, and lets requests in progress finish. Safe from
  // any thread, and more than once.
  void stop();

  bool tls() const { return tls_ != nullptr; }

  struct Impl;  // the I/O context, the listeners and their connections (http_server.cpp)

 private:
  const TlsContext* tls_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace signer::http
