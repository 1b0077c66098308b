// cpp-httplib's Server with a connection loop of our own. cpp-httplib 0.11 (Debian bookworm) parses
// requests well but leaves three things to its caller that a signer cannot leave open:
//   - a refused request whose body was not read (411, 413, 415, 401/403, 503, …) leaves that body
//     on a keep-alive connection, where it is parsed as the next request. Here every response with
//     a status >= 400 carries `Connection: close`, and the connection is then closed with a
//     lingering close: our side shuts down for writing and discards what the client still sends
//     for a bounded time, so the client reads the refusal instead of a reset.
//   - the read timeout is per read, so a client trickling its headers holds a thread forever. Here
//     the whole request head (request line and headers) has one deadline.
//   - nothing stops one client from taking every thread. Here a remote address may hold at most
//     max_connections_per_client connections; past that it gets 503 at once, on a thread that
//     is not kept.
//   - TLS comes from a fixed context. Here it comes from a TlsContext that SIGHUP reloads, and the
//     handlers see the TLS session (Request::ssl) to read the client certificate's identity.
// Handlers run on the thread that serves their connection; ConnectionServer::current() is that
// connection's state.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "http/tls_context.h"

namespace signer::http {

struct ConnectionPolicy {
  std::chrono::milliseconds head_deadline{10'000};      // request line + headers, in all
  std::chrono::milliseconds read_timeout{30'000};       // each body read
  std::chrono::milliseconds write_timeout{30'000};      // each write
  std::chrono::milliseconds keep_alive_timeout{5'000};  // idle wait for the next request
  std::size_t keep_alive_max_requests = 100;            // then the connection is closed
  std::chrono::milliseconds linger{2'000};              // after a refusal, see the file comment
  std::size_t max_connections_per_client = 0;           // per remote address; 0: no limit
};

// The connection served by the calling thread.
class ConnectionState {
 public:
  // Makes the connection close after the response being written (set for every status >= 400).
  void close_after_response() { close_ = true; }
  bool closing() const { return close_; }

 private:
  friend class ConnectionServer;
  friend class ConnectionStream;
  bool close_ = false;
  bool head_done_ = false;
  std::chrono::steady_clock::time_point head_deadline_{};
};

class ConnectionServer final : public httplib::Server {
 public:
  // `tls` may be null (plain HTTP). It must outlive the server.
  ConnectionServer(ConnectionPolicy policy, const TlsContext* tls);

  // These replace set_pre_routing_handler, set_error_handler and set_logger, which this class
  // uses itself. `gate` runs once the head is read and before the body is; `render_error` fills
  // the body of every status >= 400; `on_response` runs after each response is written.
  void set_gate(HandlerWithResponse gate) { gate_ = std::move(gate); }
  void set_error_renderer(HandlerWithResponse render_error) {
    render_error_ = std::move(render_error);
  }
  void on_response(httplib::Logger logger) { on_response_ = std::move(logger); }

  // The state of the connection the calling thread serves; nullptr outside a handler.
  static ConnectionState* current();

  bool tls() const { return tls_ != nullptr; }

 private:
  bool process_and_close_socket(socket_t sock) override;
  // Waits until the next request's first byte is there. False on close, timeout or shutdown.
  bool wait_for_request(class ConnectionStream& stream) const;

  // Counts the open connections of one remote address; false when it is at the cap.
  bool admit_client(const std::string& address);
  void release_client(const std::string& address);

  ConnectionPolicy policy_;
  const TlsContext* tls_;
  std::mutex clients_mutex_;
  std::unordered_map<std::string, std::size_t> connections_by_client_;
  HandlerWithResponse gate_;
  HandlerWithResponse render_error_;
  httplib::Logger on_response_;
};

}  // namespace signer::http
