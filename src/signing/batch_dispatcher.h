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
  BatchError(const std::string& message, bool retryable)
      : std::runtime_error(message), retryable_(retryable) {}
  bool retryable() const { return retryable_; }

 private:
  bool retryable_;
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
