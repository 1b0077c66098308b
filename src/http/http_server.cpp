#include "http/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>

#include "http/http_server_internal.h"

namespace signer::http {
namespace front_door {

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

}  // namespace front_door

using front_door::json_error;
using front_door::Listener;
using front_door::SessionBase;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

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
              front_door::start_tls_session(*this, listener, std::move(socket), ssl,
                                            std::move(address), port);
            }
          } else {
            front_door::start_plain_session(*this, listener, std::move(socket), std::move(address),
                                            port);
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
