// Signing on a PKCS#11 token (SoftHSM2 in practice) against bare libsecp256k1, in the same run:
// signatures per second on one thread and on every core, the ratio, and where a token signature's
// time goes: borrowing a session, the token (C_SignInit, C_Sign), and the recovery of V
// (low-S normalisation and libsecp256k1 public-key recovery). Configurations take turns over
// `rounds` rounds, and each figure is the median, so a noisy neighbour hits all of them alike.
// Usage: pkcs11_bench MODULE TOKEN_LABEL KEY_LABEL PIN_FILE [seconds=3] [rounds=3] [threads=cores]
// Prints markdown tables (docs/PERFORMANCE.md, "PKCS#11 keys").
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "crypto/keccak.h"
#include "crypto/key_ring.h"
#include "crypto/message_signer.h"
#include "keys/pkcs11_key.h"
#include "keys/pkcs11_module.h"

namespace {

using Clock = std::chrono::steady_clock;
using signer::keys::Pkcs11SignTimings;

struct Run {
  double per_second = 0;
  std::uint64_t signatures = 0;
  Pkcs11SignTimings timings;  // summed over threads (PKCS#11 runs only)
};

std::vector<signer::crypto::Hash256> make_digests() {
  std::vector<signer::crypto::Hash256> out;
  for (int i = 0; i < 4096; ++i) {
    out.push_back(signer::crypto::keccak256_concat("pkcs11 bench ", std::to_string(i)));
  }
  return out;
}

// Runs `sign(thread, i, timings)` on `threads` threads for `seconds`; counts the signatures.
template <typename Sign>
Run measure(int threads, double seconds, const Sign& sign) {
  std::atomic<bool> stop{false};
  std::vector<std::uint64_t> counts(threads, 0);
  std::vector<Pkcs11SignTimings> timings(threads);
  const Clock::time_point start = Clock::now();
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        std::uint64_t n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          sign(t, n, timings[t]);
          ++n;
        }
        counts[t] = n;
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  Run run;
  for (int t = 0; t < threads; ++t) {
    run.signatures += counts[t];
    run.timings.session += timings[t].session;
    run.timings.sign_init += timings[t].sign_init;
    run.timings.sign += timings[t].sign;
    run.timings.recovery += timings[t].recovery;
  }
  run.per_second = static_cast<double>(run.signatures) / elapsed;
  return run;
}

Run median(std::vector<Run> runs) {
  std::sort(runs.begin(), runs.end(),
            [](const Run& a, const Run& b) { return a.per_second < b.per_second; });
  return runs[runs.size() / 2];
}

double micros_per(std::chrono::nanoseconds total, std::uint64_t count) {
  return count
             ? std::chrono::duration<double, std::micro>(total).count() / static_cast<double>(count)
             : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: %s MODULE TOKEN_LABEL KEY_LABEL PIN_FILE [seconds=3] [rounds=3] "
                 "[threads=cores]\n",
                 argv[0]);
    return 2;
  }
  const double seconds = argc > 5 ? std::atof(argv[5]) : 3.0;
  const int rounds = argc > 6 ? std::max(1, std::atoi(argv[6])) : 3;
  const int cores = argc > 7 ? std::max(1, std::atoi(argv[7]))
                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  signer::keys::Pkcs11KeyConfig config;
  config.module = argv[1];
  config.token_label = argv[2];
  config.key_label = argv[3];
  config.pin = signer::keys::PasswordSource::file(argv[4]);
  std::vector<std::string> warnings;
  const signer::keys::Pkcs11Key token_key(signer::keys::Pkcs11Module::load(config.module), config,
                                          warnings);
  for (const std::string& w : warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());

  const signer::crypto::KeyRing ring = signer::crypto::KeyRing::generate(1);
  const std::vector<signer::crypto::Hash256> digests = make_digests();
  std::vector<std::unique_ptr<signer::crypto::MessageSigner>> signers;
  for (int t = 0; t < cores; ++t) {
    signers.push_back(std::make_unique<signer::crypto::MessageSigner>());
  }
  std::atomic<std::uint64_t> sink{0};  // keeps the signatures observable

  auto secp = [&](int t, std::uint64_t i, Pkcs11SignTimings&) {
    sink += signers[t]->sign_hash(ring.at(0).private_key, digests[i % digests.size()])[64];
  };
  auto token = [&](int, std::uint64_t i, Pkcs11SignTimings& timings) {
    sink += token_key.sign_digest(digests[i % digests.size()], timings)[64];
  };

  std::vector<int> thread_counts{1};
  if (cores > 1) thread_counts.push_back(cores);
  std::vector<std::vector<Run>> secp_runs(thread_counts.size());
  std::vector<std::vector<Run>> token_runs(thread_counts.size());
  (void)measure(cores, 0.3, token);  // warm-up: opens the token sessions
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t c = 0; c < thread_counts.size(); ++c) {
      secp_runs[c].push_back(measure(thread_counts[c], seconds, secp));
      token_runs[c].push_back(measure(thread_counts[c], seconds, token));
    }
  }

  std::printf("%s: %s, %d round(s) of %.1f s per configuration, medians\n\n",
              config.describe().c_str(), token_key.address().c_str(), rounds, seconds);
  std::printf("| signer | threads | signatures/s | token / libsecp256k1 |\n|---|---|---|---|\n");
  for (std::size_t c = 0; c < thread_counts.size(); ++c) {
    const Run secp_run = median(secp_runs[c]);
    const Run token_run = median(token_runs[c]);
    std::printf("| libsecp256k1 (key in memory) | %d | %.0f | |\n", thread_counts[c],
                secp_run.per_second);
    std::printf("| PKCS#11 (SoftHSM2, CKM_ECDSA + recovery) | %d | %.0f | %.3f (1/%.1f) |\n",
                thread_counts[c], token_run.per_second, token_run.per_second / secp_run.per_second,
                secp_run.per_second / token_run.per_second);
  }
  std::printf(
      "\nWhere a token signature's time goes (thread time per signature, median runs):\n\n");
  std::printf(
      "| threads | session (borrow) | C_SignInit | C_Sign | token total | recovery for V | total "
      "|\n|---|---|---|---|---|---|---|\n");
  for (std::size_t c = 0; c < thread_counts.size(); ++c) {
    const Run run = median(token_runs[c]);
    const double session = micros_per(run.timings.session, run.signatures);
    const double init = micros_per(run.timings.sign_init, run.signatures);
    const double sign = micros_per(run.timings.sign, run.signatures);
    const double recovery = micros_per(run.timings.recovery, run.signatures);
    const double total = session + init + sign + recovery;
    std::printf(
        "| %d | %.2f µs (%.1f%%) | %.1f µs | %.1f µs | %.1f µs (%.1f%%) | %.1f µs (%.1f%%) | %.1f "
        "µs |\n",
        thread_counts[c], session, 100 * session / total, init, sign, init + sign,
        100 * (init + sign) / total, recovery, 100 * recovery / total, total);
  }
  std::printf("\nsessions open after the run: %zu (one per signing thread at most)\n",
              token_key.open_sessions());
  return sink.load() == 0xffffffffffffffffULL ? 1 : 0;
}
