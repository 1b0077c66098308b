// Where the coordinator sends a batch. Embedded mode runs it on this process's BatchWorker;
// cluster mode sends it over HTTP to the Service URL (http/peer_dispatcher.h), so that Kubernetes
// spreads batches over the pods.
#pragma once

#include <stdexcept>
#include <stop_token>
#include <string>

#include "signing/batch_worker.h"

namespace signer::signing {

// A batch attempt that failed. `retryable` is false only when retrying cannot help (for example
// the peer rejected the request as invalid).
class BatchError : public std::runtime_error {
 public:
  BatchError(const std::string& message, bool retryable, bool busy = false)
      : std::runtime_error(message), retryable_(retryable), busy_(busy) {}
  bool retryable() const { return retryable_; }
  // The worker refused for load (503 with Retry-After): try again later without counting it as
  // a failed attempt, since nothing failed.
  bool busy() const { return busy_; }

 private:
  bool retryable_;
  bool busy_;
};

class BatchDispatcher {
 public:
  virtual ~BatchDispatcher() = default;
  // Runs one batch to completion and returns its result. Throws BatchError on failure.
  virtual BatchResult dispatch(const BatchSpec& spec, std::stop_token stop) = 0;
  // "in-process" or "http".
  virtual std::string mode() const = 0;
};

class InProcessDispatcher final : public BatchDispatcher {
 public:
  explicit InProcessDispatcher(BatchWorker& worker) : worker_(worker) {}
  BatchResult dispatch(const BatchSpec& spec, std::stop_token stop) override;
  std::string mode() const override { return "in-process"; }

 private:
  BatchWorker& worker_;
};

}  // namespace signer::signing
