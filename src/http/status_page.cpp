#include "http/status_page.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace signer::http {
namespace ui {
// Defined in the generated ui_assets.cpp.
extern const std::string_view kStatusHtml;
extern const std::string_view kStatusCss;
extern const std::string_view kStatusJs;
}  // namespace ui

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The q of one media range's parameters ("q=0.8"), 1 when absent, 0 when malformed.
double quality_of(std::string_view params) {
  while (!params.empty()) {
    const std::size_t semi = params.find(';');
    const std::string_view param = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
      const std::string_view value = param.substr(2);
      double q = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), q);
      if (ec != std::errc{} || end != value.data() + value.size() || q < 0 || q > 1) return 0;
      return q;
    }
  }
  return 1;
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace

bool prefers_html(std::string_view accept) {
  double html = -1;
  double json = -1;
  while (!accept.empty()) {
    const std::size_t comma = accept.find(',');
    const std::string_view range = trim(accept.substr(0, comma));
    accept = comma == std::string_view::npos ? std::string_view{} : accept.substr(comma + 1);
    const std::size_t semi = range.find(';');
    const std::string_view type = trim(range.substr(0, semi));
    const double q = semi == std::string_view::npos ? 1 : quality_of(range.substr(semi + 1));
    if (iequals(type, "text/html")) html = std::max(html, q);
    if (iequals(type, "application/json")) json = std::max(json, q);
  }
  return html > 0 && html >= json;
}

std::string new_csp_nonce() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  std::array<unsigned char, 32> text{};  // 4 * ceil(16 / 3) + 1
  const int n = EVP_EncodeBlock(text.data(), bytes.data(), static_cast<int>(bytes.size()));
  return std::string(reinterpret_cast<const char*>(text.data()), static_cast<std::size_t>(n));
}

std::string render_status_page(std::string_view nonce) {
  std::string page(ui::kStatusHtml);
  // The assets hold no placeholder and no closing tag (tests/unit/status_page_test.cpp).
  replace_all(page, "{{NONCE}}", nonce);
  replace_all(page, "{{STYLE}}", ui::kStatusCss);
  replace_all(page, "{{SCRIPT}}", ui::kStatusJs);
  return page;
}

std::string status_page_csp(std::string_view nonce) {
  const std::string n(nonce);
  return "default-src 'none'; script-src 'nonce-" + n + "'; style-src 'nonce-" + n +
         "'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
         "frame-ancestors 'none'";
}

}  // namespace signer::http
