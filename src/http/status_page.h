// The status page that GET / serves to a browser (Accept: text/html): one self-contained HTML
// document whose CSS and script are compiled into the binary (src/http/ui/, embedded by
// cmake/embed_assets.cmake). It loads nothing from another host. Its script polls the JSON routes
// (/readyz, /stats, /keys, /jobs) with the read token the user types, which it keeps in the
// tab's sessionStorage only; the page itself holds no data, so it needs no credential.
#pragma once

#include <string>
#include <string_view>

namespace signer::http {

// True when an Accept header asks for HTML rather than JSON: text/html is listed with q > 0 and
// at a q no lower than application/json's. Clients that send no Accept, */* or
// application/json get JSON, as before the page existed.
bool prefers_html(std::string_view accept);

// A fresh random nonce for the page's Content-Security-Policy (base64 of 16 random bytes).
std::string new_csp_nonce();

// The page, with `nonce` on its inline <style> and <script>.
std::string render_status_page(std::string_view nonce);

// The Content-Security-Policy sent with the page: only its own inline style and script (by
// nonce), fetches to its own origin, no frames, no forms posted elsewhere.
std::string status_page_csp(std::string_view nonce);

}  // namespace signer::http
