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
         std::find(alt_names.begin(), alt_names.end(), name) != alt_names.end();
}

std::optional<PeerCertificate> verified_peer_certificate(const SSL* ssl) {
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  std::unique_ptr<X509, X509Free> cert(SSL_get1_peer_certificate(ssl));
  if (!cert) return std::nullopt;
  PeerCertificate peer;
  if (X509_NAME* subject = X509_get_subject_name(cert.get())) {
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index >= 0) {
      peer.common_name = asn1_string(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
    }
  }
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
      const GENERAL_NAME* san = sk_GENERAL_NAME_value(sans.get(), i);
      if (san->type == GEN_DNS || san->type == GEN_URI || san->type == GEN_EMAIL) {
        peer.alt_names.push_back(asn1_string(san->d.ia5));
      }
    }
  }
  return peer;
}

TlsContext::TlsContext(TlsFiles files) : files_(std::move(files)), ctx_(build(files_)) {}

SslCtxPtr TlsContext::current() const {
  std::lock_guard lock(mutex_);
  return ctx_;
}

std::string TlsContext::reload() {
  try {
    SslCtxPtr fresh = build(files_);
    std::lock_guard lock(mutex_);
    ctx_ = std::move(fresh);
    return {};
  } catch (const TlsConfigError& e) {
    return e.what();
  }
}

SslCtxPtr TlsContext::build(const TlsFiles& files) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) throw TlsConfigError("cannot create a TLS context: " + openssl_reason());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
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
