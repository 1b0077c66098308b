// Microbenchmarks of the per-record sign path, each against the bare libsecp256k1 call measured
// in the same run, so results read as ratios that survive a noisy shared machine.
//   BareSignRecoverable: secp256k1_ecdsa_sign_recoverable on a precomputed hash (the reference)
//   SignPath:            salt + Keccak-256(salt + msg) + sign + serialize + hex (our hot path)
//   Salt, Keccak68, Hex65: the parts of the overhead
//   NonceLibsecp256k1, NonceNettle: the RFC 6979 nonce of one signature, by libsecp256k1's own
//     function (the bare call's) and by ours on Nettle's HMAC-SHA256 (the sign path's)
//   Scheme/raw, Scheme/eip191, Scheme/eip712: one record signed as `signer sign-message` signs it
//     (signing::sign_record, a fresh salt each), under each signing scheme, on the same voucher
//     msg; eip712 parses it as JSON and hashes it as typed data with a bytes32 salt field
// bench/run_sign_path.sh runs it and prints SignPath / BareSignRecoverable, and each scheme
// against raw.
#include <benchmark/benchmark.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "crypto/hex.h"
#include "crypto/keccak.h"
#include "crypto/key_ring.h"
#include "crypto/message_signer.h"
#include "crypto/rfc6979_nonce.h"
#include "crypto/salt_generator.h"
#include "keys/key_set.h"
#include "scheme_fixture.h"
#include "signing/record_signer.h"

namespace {

using signer::crypto::KeyRing;
using signer::crypto::MessageSigner;
using signer::crypto::SaltGenerator;

const KeyRing& ring() {
  static const KeyRing keys = KeyRing::generate(1);
  return keys;
}

// The original generator's message: 32 hex characters.
const std::string kMsg = "830f559b22b74bfcbb5631fae20462cb";

void BareSignRecoverable(benchmark::State& state) {
  const MessageSigner signer;
  const auto hash = signer::crypto::keccak256_concat("b001ebc1-f2f7-44de-b5ff-1da0b16af05b", kMsg);
  secp256k1_ecdsa_recoverable_signature sig;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        secp256k1_ecdsa_sign_recoverable(signer.context().get(), &sig, hash.data(),
                                         ring().at(0).private_key.data(), nullptr, nullptr));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BareSignRecoverable)->ThreadRange(1, 2)->UseRealTime();

void SignPath(benchmark::State& state) {
  const MessageSigner signer;
  SaltGenerator salts;
  for (auto _ : state) {
    const std::string salt = salts.next();
    benchmark::DoNotOptimize(signer.sign_salted(ring().at(0).private_key, salt, kMsg));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(SignPath)->ThreadRange(1, 2)->UseRealTime();

void Salt(benchmark::State& state) {
  SaltGenerator salts;
  for (auto _ : state) benchmark::DoNotOptimize(salts.next());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(Salt);

void Keccak68(benchmark::State& state) {
  const std::string salt = "b001ebc1-f2f7-44de-b5ff-1da0b16af05b";
  for (auto _ : state) benchmark::DoNotOptimize(signer::crypto::keccak256_concat(salt, kMsg));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(Keccak68);

void NonceOf(benchmark::State& state, secp256k1_nonce_function nonce_function) {
  auto hash = signer::crypto::keccak256_concat("b001ebc1-f2f7-44de-b5ff-1da0b16af05b", kMsg);
  std::array<unsigned char, 32> nonce{};
  for (auto _ : state) {
    ++hash[0];
    benchmark::DoNotOptimize(nonce_function(nonce.data(), hash.data(),
                                            ring().at(0).private_key.data(), nullptr, nullptr, 0));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
void NonceLibsecp256k1(benchmark::State& state) {
  NonceOf(state, secp256k1_nonce_function_rfc6979);
}
BENCHMARK(NonceLibsecp256k1);
void NonceNettle(benchmark::State& state) { NonceOf(state, signer::crypto::rfc6979_nonce); }
BENCHMARK(NonceNettle);

void Hex65(benchmark::State& state) {
  std::array<std::uint8_t, 65> sig{};
  for (auto _ : state) benchmark::DoNotOptimize(signer::crypto::to_prefixed_hex(sig));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(Hex65);

void Scheme(benchmark::State& state) {
  static const signer::keys::KeySet keys(
      signer::keys::KeySet::keys_of(std::make_shared<KeyRing>(KeyRing::generate(1)),
                                    signer::keys::KeySource::kCsv, "bench"),
      1);
  const signer::schemes::SigningScheme& scheme =
      signer::bench::voucher_scheme(static_cast<std::size_t>(state.range(0)));
  MessageSigner signer;
  SaltGenerator salts;
  signer::records::SignedRecord record;
  for (auto _ : state) {
    record.salt = salts.next();
    record.msg = signer::bench::kVoucherMsg;
    if (signer::signing::sign_record(scheme, keys.at(0), signer, record))
      state.SkipWithError("msg");
    benchmark::DoNotOptimize(record.sign.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(signer::schemes::to_string(scheme.kind())));
}
BENCHMARK(Scheme)->ArgName("scheme")->DenseRange(0, 2)->ThreadRange(1, 2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
