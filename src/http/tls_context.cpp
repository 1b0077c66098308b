#include "http/tls_context.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>

namespace signer::http {
namespace {

std::string openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};

std::string asn1_string(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

}  // namespace

bool PeerCertificate::names(const std::string& name) const {
  if (name.empty()) return false;
  return name == common_name ||
         std::find(dns_names.begin(), dns_names.end(), name) != dns_names.end();
}

bool PeerCertificate::same_names(const PeerCertificate& other) const {
  if (common_name != other.common_name) return false;
  std::vector<std::string> mine = dns_names;
  std::vector<std::string> theirs = other.dns_names;
  std::sort(mine.begin(), mine.end());
  std::sort(theirs.begin(), theirs.end());
  return mine == theirs;
}

PeerCertificate certificate_names(X509* cert) {
  PeerCertificate peer;
  if (X509_NAME* subject = X509_get_subject_name(cert)) {
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index >= 0) {
      peer.common_name = asn1_string(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
    }
  }
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
      const GENERAL_NAME* san = sk_GENERAL_NAME_value(sans.get(), i);
      if (san->type == GEN_DNS) peer.dns_names.push_back(asn1_string(san->d.ia5));
    }
  }
  return peer;
}

std::optional<PeerCertificate> verified_peer_certificate(const SSL* ssl) {
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  std::unique_ptr<X509, X509Free> cert(SSL_get1_peer_certificate(ssl));
  if (!cert) return std::nullopt;
  return certificate_names(cert.get());
}

TlsContext::TlsContext(TlsFiles files) : files_(std::move(files)), ctx_(build(files_)) {
  own_ = certificate_names(SSL_CTX_get0_certificate(ctx_.get()));
}

SslCtxPtr TlsContext::current() const {
  std::lock_guard lock(mutex_);
  return ctx_;
}

PeerCertificate TlsContext::own_certificate() const {
  std::lock_guard lock(mutex_);
  return own_;
}

std::string TlsContext::reload() {
  try {
    SslCtxPtr fresh = build(files_);
    PeerCertificate names = certificate_names(SSL_CTX_get0_certificate(fresh.get()));
    std::lock_guard lock(mutex_);
    ctx_ = std::move(fresh);
    own_ = std::move(names);
    return {};
  } catch (const TlsConfigError& e) {
    return e.what();
  }
}

std::optional<TlsProfile> parse_tls_profile(std::string_view name) {
  if (name == "intermediate") return TlsProfile::kIntermediate;
  if (name == "modern") return TlsProfile::kModern;
  return std::nullopt;
}

SslCtxPtr TlsContext::build(const TlsFiles& files) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) throw TlsConfigError("cannot create a TLS context: " + openssl_reason());
  // Mozilla's profiles (tls_context.h). OpenSSL's defaults would also accept CBC suites and the
  // groups X448 and P-521, which the intermediate profile leaves out. The client picks among
  // the suites, as the profiles recommend: all of them are strong.
  const bool modern = files.profile == TlsProfile::kModern;
  SSL_CTX_set_min_proto_version(ctx.get(), modern ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(ctx.get(),
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1 ||
      SSL_CTX_set_ciphersuites(ctx.get(),
                               "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                               "TLS_CHACHA20_POLY1305_SHA256") != 1 ||
      SSL_CTX_set1_groups_list(ctx.get(), "X25519:P-256:P-384") != 1) {
    throw TlsConfigError("cannot set the TLS profile: " + openssl_reason());
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Idle connections keep no read or write buffer.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert_file.c_str()) != 1) {
    throw TlsConfigError("TLS certificate " + files.cert_file + ": " + openssl_reason());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw TlsConfigError("TLS key " + files.key_file + ": " + openssl_reason());
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    throw TlsConfigError("TLS key " + files.key_file + " does not match certificate " +
                         files.cert_file);
  }
  if (!files.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), files.client_ca_file.c_str(), nullptr) != 1) {
      throw TlsConfigError("TLS client CA " + files.client_ca_file + ": " + openssl_reason());
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx.get(), names);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ctx;
}

}  // namespace signer::http
