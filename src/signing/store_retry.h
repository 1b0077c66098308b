// Store calls a job makes besides its moves (the backfill and counts at its start and end, the
// chunk reads of a batch) are retried with backoff when they fail in a way that may pass: a reset
// connection, a failover, a restart. Without it one reset during the backfill failed a whole job
// at once, while the same reset during a batch cost one retry. Those calls are idempotent (a
// backfill repeats what it finds left to do, a count or a read changes nothing), so a retry after
// an attempt whose answer was lost is safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <stop_token>

#include "signing/interruptible_sleep.h"
#include "store/store.h"

namespace signer::signing {

struct StoreRetryPolicy {
  int attempts = 4;  // first try included
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  // No new try once this long has passed since the first began (0: no limit). A call that
  // failed at once (a reset) is worth another; one that waited out the store timeout met an
  // outage, and trying again would only multiply the wait (the job's store check decides then).
  std::chrono::milliseconds give_up_after{0};
};

// Returns call(). Retries it while it throws store::StoreError(kUnavailable), up to
// policy.attempts tries in all and within policy.give_up_after, sleeping initial_backoff, then
// twice as long each time (at most max_backoff); every other error, and the last one, is
// rethrown. A stop request ends the waiting early and rethrows the error at hand.
template <typename Call>
auto with_store_retry(const StoreRetryPolicy& policy, std::stop_token stop, Call&& call)
    -> decltype(call()) {
  const auto first = std::chrono::steady_clock::now();
  auto backoff = policy.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    try {
      return call();
    } catch (const store::StoreError& e) {
      const bool too_late =
          policy.give_up_after.count() > 0 &&
          std::chrono::steady_clock::now() + backoff - first >= policy.give_up_after;
      if (e.kind() != store::ErrorKind::kUnavailable || attempt >= policy.attempts || too_late ||
          stop.stop_requested()) {
        throw;
      }
    }
    interruptible_sleep(stop, backoff);
    backoff = std::min(backoff * 2, policy.max_backoff);
  }
}

}  // namespace signer::signing
