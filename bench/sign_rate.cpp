// Signs on demand, for bench/sign_vs_geth.py, which takes turns between this program and
// bench/geth_sign (go-ethereum's crypto.Sign) in one run, each process staying warm between turns.
//
// First line out: "libsecp256k1 VERSION LINKAGE current|old" (crypto::secp256k1_library()).
// Then one line in, one line out:
//   check PRIVHEX SALT MSG       ->  our sign path's signature ("0x" + 130 hex)
//   run MODE THREADS MILLIS      ->  SIGNATURES ELAPSED_NANOSECONDS CPU_NANOSECONDS
// MODE path: our per-record sign path, as SignPath in sign_path_bench: a UUIDv4 salt, then
//            MessageSigner::sign_salted (Keccak-256(salt + msg), sign, serialize, hex).
// MODE bare: secp256k1_ecdsa_sign_recoverable alone on a precomputed hash (the library's floor).
// Each thread has its own MessageSigner (randomized context) and salt generator, as the worker
// pool's threads do; threads start together and stop at the deadline. CPU time is the process's
// (CLOCK_PROCESS_CPUTIME_ID), measured as for geth_sign.
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <latch>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crypto/hex.h"
#include "crypto/key_ring.h"
#include "crypto/message_signer.h"
#include "crypto/salt_generator.h"
#include "crypto/secp256k1_library.h"

namespace {

using Clock = std::chrono::steady_clock;
using signer::crypto::MessageSigner;
using signer::crypto::PrivateKey;

const std::string kSalt = "b001ebc1-f2f7-44de-b5ff-1da0b16af05b";
const std::string kMsg = "830f559b22b74bfcbb5631fae20462cb";  // the original generator's 32 hex

// Signs until `deadline`, checking the clock every 16 signatures. Returns the count.
std::uint64_t sign_until(const std::string& mode, const PrivateKey& key, Clock::time_point deadline,
                         const MessageSigner& signer) {
  std::uint64_t n = 0;
  if (mode == "bare") {
    const auto hash = signer::crypto::keccak256_concat(kSalt, kMsg);
    secp256k1_ecdsa_recoverable_signature sig;
    do {
      for (int i = 0; i < 16; ++i) {
        if (!secp256k1_ecdsa_sign_recoverable(signer.context().get(), &sig, hash.data(), key.data(),
                                              nullptr, nullptr)) {
          throw std::runtime_error("sign failed");
        }
      }
      n += 16;
    } while (Clock::now() < deadline);
  } else {
    signer::crypto::SaltGenerator salts;
    std::size_t sink = 0;
    do {
      for (int i = 0; i < 16; ++i) {
        const std::string salt = salts.next();
        sink += signer.sign_salted(key, salt, kMsg).size();
      }
      n += 16;
    } while (Clock::now() < deadline);
    if (sink == 0) throw std::runtime_error("empty signatures");
  }
  return n;
}

std::int64_t process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// "SIGNATURES ELAPSED_NS CPU_NS" for `threads` threads signing in `mode` for `millis` ms.
std::string run(const std::string& mode, const PrivateKey& key, int threads, int millis) {
  std::atomic<std::uint64_t> total{0};
  std::latch ready(threads + 1);
  std::atomic<Clock::rep> deadline_ticks{0};
  std::vector<std::jthread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      const MessageSigner signer;  // context made before the clock starts
      ready.arrive_and_wait();
      const Clock::time_point deadline{Clock::duration{deadline_ticks.load()}};
      total += sign_until(mode, key, deadline, signer);
    });
  }
  const std::int64_t cpu_begin = process_cpu_ns();
  const Clock::time_point begin = Clock::now();
  deadline_ticks = (begin + std::chrono::milliseconds(millis)).time_since_epoch().count();
  ready.arrive_and_wait();
  workers.clear();  // joins
  const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - begin);
  const std::int64_t cpu = process_cpu_ns() - cpu_begin;
  return std::to_string(total.load()) + " " + std::to_string(elapsed.count()) + " " +
         std::to_string(cpu);
}

std::string check(const std::string& priv_hex, const std::string& salt, const std::string& msg) {
  std::string_view hex = priv_hex;
  signer::crypto::strip_hex_prefix(hex);
  std::array<std::uint8_t, PrivateKey::kSize> bytes{};
  if (!signer::crypto::decode_hex(hex, bytes)) return "error: private key is not 64 hex digits";
  const PrivateKey key(bytes);
  signer::crypto::secure_zero(bytes.data(), bytes.size());
  const MessageSigner signer;
  if (!signer.is_valid_private_key(key)) return "error: invalid private key";
  return signer.sign_salted(key, salt, msg);
}

}  // namespace

int main() {
  const auto library = signer::crypto::secp256k1_library();
  std::cout << "libsecp256k1 " << library.version << " " << library.linkage << " "
            << (library.current ? "current" : "old") << std::endl;
  const auto ring = signer::crypto::KeyRing::generate(1);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    in >> command;
    if (command == "check") {
      std::string priv, salt, msg;
      in >> priv >> salt;
      std::getline(in >> std::ws, msg);
      std::cout << check(priv, salt, msg) << std::endl;
    } else if (command == "run") {
      std::string mode;
      int threads = 0, millis = 0;
      in >> mode >> threads >> millis;
      if ((mode != "path" && mode != "bare") || threads < 1 || millis < 1) {
        std::cout << "error: run path|bare THREADS MILLIS" << std::endl;
        continue;
      }
      std::cout << run(mode, ring.at(0).private_key, threads, millis) << std::endl;
    } else {
      std::cout << "error: check PRIVHEX SALT MSG | run path|bare THREADS MILLIS" << std::endl;
    }
  }
  return 0;
}
