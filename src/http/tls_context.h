// The server's TLS settings as one reloadable OpenSSL context: certificate chain, private key and,
// for mTLS, the CA that client certificates must chain to. cert-manager rotates the files in place;
// reload() (on SIGHUP) builds a fresh context from them and swaps it in only when it loads, so a
// bad rotation keeps the listener serving with the old certificate. Connections already open keep
// the context they started with.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace signer::http {

// Which protocols, cipher suites and key-exchange groups the server accepts: Mozilla's server-side
// TLS recommendations (https://wiki.mozilla.org/Security/Server_Side_TLS, version 5.7).
//   intermediate: TLS 1.3, and TLS 1.2 with ECDHE and AEAD suites only (AES-GCM,
//   ChaCha20-Poly1305);
//                 groups X25519, P-256, P-384. For clients of the last five years or so.
//   modern:       TLS 1.3 only.
enum class TlsProfile { kIntermediate, kModern };

// Parses "intermediate" or "modern"; nullopt for anything else.
std::optional<TlsProfile> parse_tls_profile(std::string_view name);

struct TlsFiles {
  std::string cert_file;       // PEM chain, leaf first
  std::string key_file;        // PEM private key (unencrypted; mounted from a Secret)
  std::string client_ca_file;  // PEM CA bundle; when set, clients must present a certificate
  TlsProfile profile = TlsProfile::kIntermediate;
};

class TlsConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using SslCtxPtr = std::shared_ptr<SSL_CTX>;

// What a certificate says about its holder: the subject CN and the DNS subject alternative
// names, either of which a clients file may name as an identity. E-mail, URI and IP SANs are not
// read: they name nobody here.
struct PeerCertificate {
  std::string common_name;
  std::vector<std::string> dns_names;
  // True when `name` is the CN or one of the DNS names.
  bool names(const std::string& name) const;
  // True when both name exactly the same CN and the same set of DNS names (how the pods recognise
  // their own certificate across renewals).
  bool same_names(const PeerCertificate& other) const;
};

// Reads the names of `ssl`'s peer certificate. Returns nullopt when the peer sent none or it did
// not verify against the configured client CA.
std::optional<PeerCertificate> verified_peer_certificate(const SSL* ssl);

// The names of `cert` (CN and DNS SANs).
PeerCertificate certificate_names(X509* cert);

class TlsContext {
 public:
  // Loads the files. Throws TlsConfigError naming the file that failed and OpenSSL's reason.
  explicit TlsContext(TlsFiles files);

  // The context for a new connection.
  SslCtxPtr current() const;

  // Reloads the files into a new context and swaps it in. Returns an empty string on success, or
  // the reason it failed (the old context stays in use).
  std::string reload();

  bool requires_client_certificate() const { return !files_.client_ca_file.empty(); }

  // The names of this server's own certificate (the leaf of the current chain).
  PeerCertificate own_certificate() const;

 private:
  static SslCtxPtr build(const TlsFiles& files);

  TlsFiles files_;
  mutable std::mutex mutex_;
  SslCtxPtr ctx_;
  PeerCertificate own_;
};

}  // namespace signer::http
