#include "signing/worker_pool.h"

#include <algorithm>

namespace signer::signing {

void WorkerPool::Pending::wait() {
  if (!state_) return;
  std::unique_lock lock(state_->mutex);
  state_->done.wait(lock, [&] { return state_->remaining == 0; });
  if (state_->error) std::rethrow_exception(state_->error);
}

WorkerPool::WorkerPool(std::size_t threads) {
  threads = std::max<std::size_t>(threads, 1);
  workers_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    workers_.emplace_back([this](std::stop_token stop) { work(stop); });
  }
}

WorkerPool::~WorkerPool() {
  for (auto& w : workers_) w.request_stop();
  ready_.notify_all();
  workers_.clear();  // joins
}

WorkerPool::Pending WorkerPool::submit(std::size_t count, const RangeTask& task) {
  Pending pending;
  if (count == 0) return pending;
  pending.state_ = std::make_shared<Pending::State>();
  // Parts of at most about kPartSize indices, and at least one a worker. A worker the scheduler
  // takes off its core (for a batch's store work, when there are as many workers as cores) holds
  // up only its own part: the others take the rest of the range. With one part a worker, they
  // finished theirs and slept until it was done (docs/PERFORMANCE.md, "The sixth session").
  const std::size_t parts =
      std::min(count, std::max(workers_.size(), (count + kPartSize - 1) / kPartSize));
  pending.state_->remaining = parts;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t p = 0; p < parts; ++p) {
      queue_.push_back({count * p / parts, count * (p + 1) / parts, &task, pending.state_});
    }
  }
  ready_.notify_all();
  return pending;
}

void WorkerPool::work(std::stop_token stop) {
  WorkerContext context;
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mutex_);
      // Drain the queue even when stopping, so no submitter waits forever.
      if (!ready_.wait(lock, stop, [&] { return !queue_.empty(); }) && queue_.empty()) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    std::exception_ptr error;
    try {
      (*item.task)(item.begin, item.end, context);
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard lock(item.state->mutex);
    if (error && !item.state->error) item.state->error = error;
    if (--item.state->remaining == 0) item.state->done.notify_all();
  }
}

}  // namespace signer::signing
