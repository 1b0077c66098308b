// The TLS connection (http_session.h's Session over an ssl::stream), in a translation unit of its
// own: see http_server_internal.h.
#include "http/http_session.h"

namespace signer::http::front_door {

void start_tls_session(HttpServer::Impl& server, Listener& listener, tcp::socket socket, SSL* ssl,
                       std::string address, int port) {
  start_session(server, listener,
                net::ssl::stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), ssl),
                std::move(address), port);
}

}  // namespace signer::http::front_door
