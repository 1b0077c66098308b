// Where the coordinator sends a batch. Embedded mode runs it on this process's BatchWorker;
// cluster mode sends it over HTTP to the Service URL (http/peer_dispatcher.h), so that Kubernetes
// spreads batches over the pods.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <stop_token>
#include <string>

#include "signing/batch_worker.h"

namespace signer::signing {

// What a failed batch attempt says about the store behind it.
enum class StoreFault {
  kNone,         // the attempt failed for another reason (a pod, the network to it, a key)
  kUnavailable,  // the store did not answer the pod that ran it (down, or only that pod's link)
  kFull,         // the store's disk is full: no batch can move anything until space is freed
};

struct BatchFailure {
  bool retryable = true;
  // The worker refused for load (503 with Retry-After): try again later without counting it as
  // a failed attempt, since nothing failed.
  bool busy = false;
  // No pod answered: the Service could not be reached, or its load balancer answered for want of
  // a pod (a 502, or a 503 that is not a pod's JSON answer; not a 504, after which a pod may still
  // be moving the batch, so it counts as a failed attempt). Pods come back into rotation once
  // they are ready again, so this is waited out for a while (CoordinatorOptions::service_wait)
  // without using up attempts.
  bool no_pod = false;
  StoreFault store = StoreFault::kNone;
  // What the attempt moved before it failed, when the worker could say (it stays moved).
  std::uint64_t signed_before = 0;
  std::uint64_t already_signed_before = 0;
};

// A batch attempt that failed. `retryable` is false only when retrying cannot help (for example
// the peer rejected the request as invalid).
class BatchError : public std::runtime_error {
 public:
  BatchError(const std::string& message, BatchFailure failure)
      : std::runtime_error(message), failure_(failure) {}
  BatchError(const std::string& message, bool retryable, bool busy = false)
      : BatchError(message, BatchFailure{.retryable = retryable, .busy = busy}) {}
  bool retryable() const { return failure_.retryable; }
  bool busy() const { return failure_.busy; }
  bool no_pod() const { return failure_.no_pod; }
  const BatchFailure& failure() const { return failure_; }

 private:
  BatchFailure failure_;
};

class BatchDispatcher {
 public:
  virtual ~BatchDispatcher() = default;
  // Runs one batch to completion and returns its result. Throws BatchError on failure.
  virtual BatchResult dispatch(const BatchSpec& spec, std::stop_token stop) = 0;
  // "in-process" or "http".
  virtual std::string mode() const = 0;
};

// The StoreFault a store error of `kind` means for a batch.
StoreFault store_fault_of(store::ErrorKind kind);

class InProcessDispatcher final : public BatchDispatcher {
 public:
  explicit InProcessDispatcher(BatchWorker& worker) : worker_(worker) {}
  BatchResult dispatch(const BatchSpec& spec, std::stop_token stop) override;
  std::string mode() const override { return "in-process"; }

 private:
  BatchWorker& worker_;
};

}  // namespace signer::signing
