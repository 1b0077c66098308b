// The signing scheme a request names: ?scheme= on /sign and /batch (schemes/scheme_registry.h),
// and how a scheme looks to a client's limits (auth/scheme_limits.h). Kept apart from the routes
// so that /sign and /batch read it the same way.
#pragma once

#include <string>
#include <variant>

#include "auth/scheme_limits.h"
#include "http/request.h"
#include "schemes/scheme_registry.h"

namespace signer::http {

// The scheme of `req`'s ?scheme= among `registry`'s (absent: raw), or the reason it names none,
// fit for a 400 body. With `read_fingerprint` (/batch), an ?scheme_fingerprint= must then be the
// eip712 scheme's fingerprint: a pod whose scheme file of that name differs says so (the second
// alternative, with `mismatch` set, a 409), so it never signs a job's records under another
// scheme file.
struct SchemeParamError {
  std::string reason;
  bool mismatch = false;  // 409 (a scheme file that differs) rather than 400
};
std::variant<schemes::SigningScheme, SchemeParamError> scheme_param(
    const schemes::SchemeRegistry& registry, const Request& req, bool read_fingerprint);

// `scheme` as the clients file's limits see it: its kind, name and EIP-712 domain (chainId as a
// decimal).
auth::SchemeUse scheme_use(const schemes::SigningScheme& scheme);

}  // namespace signer::http
