// The status page's negotiation (GET / keeps answering JSON to every non-browser client) and the
// page as compiled in: self-contained, nonce on its only style and script, nothing from another
// host.
#include <gtest/gtest.h>

#include <string>

#include "http/status_page.h"

namespace signer {
namespace {

TEST(StatusPage, OnlyBrowsersAskingForHtmlGetThePage) {
  // What Chromium and Firefox send for a page load.
  EXPECT_TRUE(http::prefers_html(
      "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"));
  EXPECT_TRUE(http::prefers_html("text/html"));
  EXPECT_TRUE(http::prefers_html("TEXT/HTML; charset=utf-8"));
  EXPECT_TRUE(http::prefers_html("application/json;q=0.5, text/html"));
  // curl, requests, the original's clients, and the page's own fetches.
  EXPECT_FALSE(http::prefers_html(""));
  EXPECT_FALSE(http::prefers_html("*/*"));
  EXPECT_FALSE(http::prefers_html("application/json"));
  EXPECT_FALSE(http::prefers_html("application/json, text/html;q=0.9"));
  EXPECT_FALSE(http::prefers_html("text/html;q=0"));
  EXPECT_FALSE(http::prefers_html("text/html;q=abc"));
  EXPECT_FALSE(http::prefers_html("text/htmlx"));
}

TEST(StatusPage, PageIsSelfContainedAndCarriesTheNonce) {
  const std::string nonce = http::new_csp_nonce();
  EXPECT_EQ(nonce.size(), 24u);
  EXPECT_NE(nonce, http::new_csp_nonce());
  const std::string page = http::render_status_page(nonce);
  EXPECT_EQ(page.find("{{"), std::string::npos) << "a placeholder was left in the page";
  EXPECT_NE(page.find("<style nonce=\"" + nonce + "\">"), std::string::npos);
  EXPECT_NE(page.find("<script nonce=\"" + nonce + "\">"), std::string::npos);
  EXPECT_NE(page.find("sessionStorage"), std::string::npos);
  EXPECT_EQ(page.find("localStorage"), std::string::npos) << "the token must not outlive the tab";
  EXPECT_EQ(page.find("innerHTML"), std::string::npos) << "server text goes in as textContent";
  // One inline script and one style, closed once each: the assets hold no closing tag.
  const auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = page.find(needle); at != std::string::npos;
         at = page.find(needle, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("</script"), 1u);
  EXPECT_EQ(count("</style"), 1u);
  EXPECT_EQ(count("<script"), 1u);
  EXPECT_EQ(count("src="), 0u) << "the page loads nothing";
  EXPECT_EQ(count("http://"), 0u);
  EXPECT_EQ(count("https://"), 0u);
  const std::string csp = http::status_page_csp(nonce);
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp.find("script-src 'nonce-" + nonce + "'"), std::string::npos);
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
}

}  // namespace
}  // namespace signer
