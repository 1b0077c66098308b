#include "http/connection_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

namespace signer::http {
namespace {

using Clock = std::chrono::steady_clock;

thread_local ConnectionState* t_connection = nullptr;

// Sets the calling thread's connection for the lifetime of one connection.
class CurrentConnection {
 public:
  explicit CurrentConnection(ConnectionState& state) { t_connection = &state; }
  ~CurrentConnection() { t_connection = nullptr; }
  CurrentConnection(const CurrentConnection&) = delete;
  CurrentConnection& operator=(const CurrentConnection&) = delete;
};

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

int millis_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 24 * 3600 * 1000));
}

// Waits for `events` on `fd` until `deadline`. True when ready.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, millis_until(deadline));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

void set_socket_timeout(int fd, int option, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

// The address of `fd`'s peer (or, with peer false, of its own end). Leaves ip and port as they
// are when the socket has none.
void socket_address(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  auto* raw = reinterpret_cast<sockaddr*>(&addr);
  if ((peer ? ::getpeername(fd, raw, &len) : ::getsockname(fd, raw, &len)) != 0) return;
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    port = ntohs(in6->sin6_port);
  }
  ip = buf;
}

}  // namespace

// One connection's byte stream, plain or TLS, buffered (cpp-httplib reads the head a byte at a
// time). Reads of the head share one deadline; body reads each get the read timeout.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int fd, SSL* ssl, const ConnectionPolicy& policy, ConnectionState& state)
      : fd_(fd), ssl_(ssl), policy_(policy), state_(state) {}

  bool buffered() const { return begin_ < end_ || (ssl_ != nullptr && SSL_pending(ssl_) > 0); }

  // Waits for the first byte of the next request, until `deadline` or until `stopping()`.
  template <typename StopFn>
  bool wait_for_data(Clock::time_point deadline, StopFn stopping) const {
    while (!buffered()) {
      if (stopping()) return false;
      const auto slice = std::min(deadline, Clock::now() + std::chrono::milliseconds(100));
      if (wait_fd(fd_, POLLIN, slice)) return true;
      if (Clock::now() >= deadline) return false;
    }
    return true;
  }

  bool is_readable() const override { return buffered() || wait_fd(fd_, POLLIN, read_deadline()); }
  bool is_writable() const override {
    return wait_fd(fd_, POLLOUT, Clock::now() + policy_.write_timeout);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (size == 0) return 0;
    if (begin_ == end_) {
      if (!is_readable()) return -1;
      const ssize_t n = raw_read(buffer_.data(), buffer_.size());
      if (n <= 0) return n;
      begin_ = 0;
      end_ = static_cast<std::size_t>(n);
    }
    const std::size_t n = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_.data() + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (ssl_ != nullptr) {
      const int n = SSL_write(ssl_, ptr, static_cast<int>(std::min<size_t>(size, 1 << 30)));
      return n > 0 ? n : -1;
    }
    if (!is_writable()) return -1;
    return ::send(fd_, ptr, size, MSG_NOSIGNAL);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    socket_address(fd_, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    socket_address(fd_, false, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  Clock::time_point read_deadline() const {
    if (!state_.head_done_) return state_.head_deadline_;
    return Clock::now() + policy_.read_timeout;
  }

  ssize_t raw_read(char* ptr, std::size_t size) {
    if (ssl_ != nullptr) {
      const int n = SSL_read(ssl_, ptr, static_cast<int>(size));
      if (n > 0) return n;
      return SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    for (;;) {
      const ssize_t n = ::recv(fd_, ptr, size, 0);
      if (n >= 0 || errno != EINTR) return n;
    }
  }

  int fd_;
  SSL* ssl_;
  const ConnectionPolicy& policy_;
  ConnectionState& state_;
  std::array<char, 4096> buffer_{};
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

ConnectionServer::ConnectionServer(ConnectionPolicy policy, const TlsContext* tls)
    : policy_(policy), tls_(tls) {
  set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (ConnectionState* state = current()) state->head_done_ = true;
    return gate_ ? gate_(req, res) : HandlerResponse::Unhandled;
  });
  // Every status >= 400 passes here, whether a handler, the gate or the parser set it.
  set_error_handler(
      HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
        res.set_header("Connection", "close");
        if (ConnectionState* state = current()) state->close_after_response();
        return render_error_ ? render_error_(req, res) : HandlerResponse::Unhandled;
      }));
  set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    if (on_response_) on_response_(req, res);
  });
}

ConnectionState* ConnectionServer::current() { return t_connection; }

bool ConnectionServer::wait_for_request(ConnectionStream& stream) const {
  return stream.wait_for_data(Clock::now() + policy_.keep_alive_timeout,
                              [this] { return svr_sock_ == INVALID_SOCKET; });
}

bool ConnectionServer::admit_client(const std::string& address) {
  if (policy_.max_connections_per_client == 0) return true;
  std::lock_guard lock(clients_mutex_);
  std::size_t& open = connections_by_client_[address];
  if (open >= policy_.max_connections_per_client) return false;
  ++open;
  return true;
}

void ConnectionServer::release_client(const std::string& address) {
  if (policy_.max_connections_per_client == 0) return;
  std::lock_guard lock(clients_mutex_);
  const auto it = connections_by_client_.find(address);
  if (it != connections_by_client_.end() && --it->second == 0) connections_by_client_.erase(it);
}

bool ConnectionServer::process_and_close_socket(socket_t sock) {
  std::string client;
  int client_port = 0;
  socket_address(sock, true, client, client_port);
  if (!admit_client(client)) {
    // Plain text: under TLS the client cannot read it, but the close tells it enough.
    static constexpr std::string_view kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Retry-After: 1\r\nConnection: close\r\nContent-Length: 50\r\n\r\n"
        "{\"error\":\"too many connections from this address\"}";
    if (tls_ == nullptr) ::send(sock, kBusy.data(), kBusy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return false;
  }
  struct Release {
    ConnectionServer& server;
    const std::string& client;
    ~Release() { server.release_client(client); }
  } release{*this, client};

  ConnectionState state;
  CurrentConnection scope(state);
  // Backstops for blocking TLS calls; plain reads and writes wait with poll first.
  set_socket_timeout(sock, SO_RCVTIMEO, policy_.read_timeout);
  set_socket_timeout(sock, SO_SNDTIMEO, policy_.write_timeout);

  std::unique_ptr<SSL, SslFree> ssl;
  bool ok = true;
  if (tls_ != nullptr) {
    const SslCtxPtr ctx = tls_->current();
    ssl.reset(SSL_new(ctx.get()));
    set_socket_timeout(sock, SO_RCVTIMEO, policy_.head_deadline);
    ok = ssl && SSL_set_fd(ssl.get(), sock) == 1 && SSL_accept(ssl.get()) == 1;
    set_socket_timeout(sock, SO_RCVTIMEO, policy_.read_timeout);
  }

  ConnectionStream stream(sock, ssl.get(), policy_, state);
  for (std::size_t served = 0; ok && served < policy_.keep_alive_max_requests; ++served) {
    if (!wait_for_request(stream)) break;
    state.head_done_ = false;
    state.head_deadline_ = Clock::now() + policy_.head_deadline;
    const bool last = served + 1 == policy_.keep_alive_max_requests;
    bool connection_closed = false;
    ok = process_request(stream, last, connection_closed,
                         [&](httplib::Request& req) { req.ssl = ssl.get(); });
    if (connection_closed || state.closing()) break;
  }

  // A refused or failed request may have left a body unread: let the client finish sending it
  // and read our answer, rather than resetting the connection under it.
  const bool linger = state.closing() || !ok;
  if (ssl && ok) SSL_shutdown(ssl.get());
  ::shutdown(sock, SHUT_WR);
  if (linger) {
    const auto deadline = Clock::now() + policy_.linger;
    std::array<char, 16384> discard{};
    while (wait_fd(sock, POLLIN, deadline)) {
      if (::recv(sock, discard.data(), discard.size(), 0) <= 0) break;
    }
  }
  ::close(sock);
  return ok;
}

}  // namespace signer::http
