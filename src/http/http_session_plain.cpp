// The plain-HTTP connection (http_session.h's Session over a beast::tcp_stream), in a
// translation unit of its own: see http_server_internal.h.
#include "http/http_session.h"

namespace signer::http::front_door {

void start_plain_session(HttpServer::Impl& server, Listener& listener, tcp::socket socket,
                         std::string address, int port) {
  start_session(server, listener, beast::tcp_stream(std::move(socket)), std::move(address), port);
}

}  // namespace signer::http::front_door
