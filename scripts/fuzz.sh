#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and either replays each seed corpus once
# (--regress, part of the test command) or fuzzes each target for a bounded time.
# Usage: scripts/fuzz.sh --regress
#        scripts/fuzz.sh [SECONDS per target, default 60] [target…]
# Targets: key_ring records_ingest ingest_stream route_params verifier shard request_head
# typed_data rfc6979_nonce. A crash is written to build/fuzz/artifacts/; keep the input as a
# corpus file under tests/fuzz/corpus/<target>/ once fixed.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
ALL=(key_ring records_ingest ingest_stream route_params verifier shard request_head typed_data
  rfc6979_nonce)
mode="fuzz"
seconds=60
if [[ "${1:-}" == "--regress" ]]; then mode="regress"; shift; fi
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then seconds="$1"; shift; fi
targets=("$@")
((${#targets[@]})) || targets=("${ALL[@]}")

scripts/build.sh fuzz "${targets[@]/#/fuzz_}" >/dev/null
mkdir -p build/fuzz/artifacts
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
for t in "${targets[@]}"; do
  corpus="tests/fuzz/corpus/$t"
  if [[ "$mode" == "regress" ]]; then
    build/fuzz/fuzz_"$t" -runs=0 "$corpus" 2>&1 | tail -n 1
  else
    work="build/fuzz/corpus-$t"
    mkdir -p "$work"
    echo "fuzzing $t for ${seconds}s"
    build/fuzz/fuzz_"$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
      -artifact_prefix=build/fuzz/artifacts/"$t"- "$work" "$corpus" 2>&1 | tail -n 3
  fi
done
echo "fuzz: ${mode} passed for ${targets[*]}"
