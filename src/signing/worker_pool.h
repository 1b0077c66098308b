// The signing thread pool, sized to the cores and owned by main's object graph.
// Each worker thread owns a WorkerContext: its own randomized secp256k1 context and its own salt
// generator, so signing threads share nothing mutable. Work is submitted as an index range that
// the pool splits into parts its workers take in turn; the submitter gets a handle to wait on.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include "crypto/message_signer.h"
#include "crypto/salt_generator.h"

namespace signer::signing {

struct WorkerContext {
  crypto::MessageSigner signer;
  crypto::SaltGenerator salts;
};

// fn(begin, end, context) processes indices [begin, end) on one worker.
using RangeTask = std::function<void(std::size_t, std::size_t, WorkerContext&)>;

class WorkerPool {
 public:
  // A submitted range job. wait() blocks until every part ran and rethrows the first exception.
  class Pending {
   public:
    void wait();

   private:
    friend class WorkerPool;
    struct State {
      std::mutex mutex;
      std::condition_variable done;
      std::size_t remaining = 0;
      std::exception_ptr error;
    };
    std::shared_ptr<State> state_;
  };

  // Starts `threads` workers (at least 1).
  explicit WorkerPool(std::size_t threads);
  // Stops and joins the workers after the queue drains.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  std::size_t size() const { return workers_.size(); }

  // Indices a part of a submitted range holds at most, once the range has a part a worker.
  static constexpr std::size_t kPartSize = 128;

  // Splits [0, count) into contiguous parts, at most kPartSize indices each or one a worker,
  // whichever makes more parts (never more than count), and queues them. Returns at once.
  // `task` must stay valid until wait() returns.
  Pending submit(std::size_t count, const RangeTask& task);

  // submit() and wait().
  void run(std::size_t count, const RangeTask& task) { submit(count, task).wait(); }

 private:
  struct Item {
    std::size_t begin;
    std::size_t end;
    const RangeTask* task;
    std::shared_ptr<Pending::State> state;
  };
  void work(std::stop_token stop);

  std::mutex mutex_;
  std::condition_variable_any ready_;
  std::deque<Item> queue_;
  std::vector<std::jthread> workers_;
};

}  // namespace signer::signing
