// Cluster mode: sends each batch as GET /batch/:b/:B/:publicKey?job=:jobId to the Service URL
// (BS_MSG_SIGNER_URL), so Kubernetes picks the pod; a job under a scheme other than raw adds
// &scheme=:name, and for eip712 &scheme_fingerprint=:fp, so every pod signs under the same scheme
// file or refuses (4xx, not retried). Keeps a pool of keep-alive connections, one per
// in-flight batch, never shared between threads. Names the key by its public key, so a pod with a
// different key file refuses the batch instead of signing with the wrong key.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "signing/batch_dispatcher.h"

namespace httplib {
class Client;
}

namespace signer::http {

struct PeerDispatcherOptions {
  std::string base_url;        // "http://host:port"
  std::string internal_token;  // sent as X-Internal-Token when non-empty
  std::chrono::seconds connect_timeout{5};
  std::chrono::seconds batch_timeout{600};
  // For an https:// base_url: the CA that the pods' certificate must chain to (empty: the system's
  // CAs), and this pod's client certificate for mTLS (empty: none).
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;
};

class PeerDispatcher final : public signing::BatchDispatcher {
 public:
  explicit PeerDispatcher(PeerDispatcherOptions options);
  ~PeerDispatcher() override;

  // Throws BatchError: retryable for connection errors, timeouts, 5xx and 429; not retryable for
  // other 4xx (bad token, unknown key, bad parameters).
  signing::BatchResult dispatch(const signing::BatchSpec& spec, std::stop_token stop) override;
  std::string mode() const override { return "http"; }

 private:
  std::unique_ptr<httplib::Client> acquire();
  void release(std::unique_ptr<httplib::Client> client);

  PeerDispatcherOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;
};

}  // namespace signer::http
