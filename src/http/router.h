// Routes by method and path pattern, the way the API reads in its spec:
//   router.get(R"(/records/([\s\S]*))", handler);
// A pattern must match the whole decoded path; its captures land in Request::matches. HEAD
// requests use the GET routes (the front door sends the head of the answer only). Upload routes
// take their body as a stream of pieces (BodySink), so a large or slow body never holds a thread
// while it is on the wire.
#pragma once

#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "http/request.h"

namespace signer::http {

// How a request's body ended, for BodySink::finish.
struct BodyEnd {
  enum class How {
    kComplete,   // the whole body was read
    kStopped,    // feed() returned false; the sink knows why
    kTransport,  // the connection failed it: too slow, cut short, malformed, over the limit
  };
  How how = How::kComplete;
  int status = 0;     // kTransport: the status the transport suggests (400, 408, 413, 503)
  std::string error;  // kTransport: why, fit for the client
};

// Takes an upload's body as it arrives. Called on a handler thread, one call at a time.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // The next piece of the body. Returns false to stop reading (over a limit, a broken body); the
  // rest of the body is then never read and the connection closes after the answer.
  virtual bool feed(std::string_view piece) = 0;
  // The body ended (BodyEnd::How says how). Fills `res`.
  virtual void finish(const BodyEnd& end, Response& res) = 0;
};

using Handler = std::function<void(const Request&, Response&)>;
// Opens an upload: returns the sink for its body, or nullptr after filling `res` with a refusal
// (busy, …), in which case the body is never read.
using UploadHandler = std::function<std::unique_ptr<BodySink>(const Request&, Response&)>;

struct Route {
  std::string method;
  std::string pattern_text;  // the pattern as registered, for the route table
  std::regex pattern;
  Handler handler;       // set for routes without a body
  UploadHandler upload;  // set for upload routes
  // The query parameters its handler reads; reading any other is a logic error (Request).
  std::vector<std::string> query;
  bool takes_body() const { return static_cast<bool>(upload); }
};

class Router {
 public:
  // `query`: the query parameters the handler may read, as the route table (and so the OpenAPI
  // document) lists them; Request refuses to read another.
  void get(const std::string& pattern, Handler handler, std::vector<std::string> query = {});
  void post(const std::string& pattern, Handler handler, std::vector<std::string> query = {});
  // POST with a streamed body.
  void upload(const std::string& pattern, UploadHandler handler,
              std::vector<std::string> query = {});

  // The route for `req` (HEAD uses GET routes), with req.matches set; nullptr when none matches.
  const Route* find(Request& req) const;

  // True when some route's pattern matches `path`, whatever its method.
  bool serves_path(const std::string& path) const;

  // One registered route: its method, its pattern as registered and its query parameters.
  struct Entry {
    std::string method;
    std::string pattern;
    std::vector<std::string> query;
    bool operator==(const Entry&) const = default;
  };
  // A router holding only the routes of this one registered with these patterns, in this
  // router's order. Throws std::logic_error when a pattern names no route here.
  Router only(const std::vector<std::string>& patterns) const;

  // Every route, in registration order: the route table the OpenAPI document must describe
  // (tests/unit/openapi_test.cpp).
  std::vector<Entry> table() const;

 private:
  std::vector<Route> routes_;
};

}  // namespace signer::http
