#!/usr/bin/env bash
# The one test command: installs what is missing, builds once, and runs every test stage.
# Stages: format check, release build, unit tests (ctest), go-ethereum compatibility, store
# contract tests against FerretDB and a private PostgreSQL, end-to-end pytest, cluster emulation,
# chart and image checks, fuzz regression, and the unit tests again under AddressSanitizer +
# UndefinedBehaviorSanitizer and ThreadSanitizer.
# Usage: scripts/test.sh            (everything)
#        SIGNER_TEST_STAGES="unit e2e" scripts/test.sh   (a subset, for development)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export PATH="$REPO/.tools/bin:/usr/local/go/bin:$PATH"
export SIGNER_SHARED_DIR="${SIGNER_SHARED_DIR:-$(cd "$REPO/.." && pwd)/shared}"
STAGES="${SIGNER_TEST_STAGES:-setup format build unit compat contract e2e cluster deploy fuzz asan tsan}"
FERRETDB_PORT="${FERRETDB_PORT:-27217}"
POSTGRES_PORT="${POSTGRES_PORT:-25432}"
# Database-backed unit tests share one server each, so ctest (which runs tests in parallel) leaves
# them out; the contract stage runs them one at a time.
SERVER_TESTS='MongoServer|MongoTestServer|/Mongo|PostgresServer|PostgresTestServer|/Postgres'

started=$(date +%s)

want() { [[ " $STAGES " == *" $1 "* ]]; }
stage() { printf '\n=== %s (%ss elapsed)\n' "$1" "$(($(date +%s) - started))"; }

cleanup() {
  local pid
  for pid in "${ASAN_BUILD_PID:-}" "${TSAN_BUILD_PID:-}"; do
    if [[ -n "$pid" ]]; then kill -TERM -- "-$pid" 2>/dev/null || true; fi
  done
  if [[ -n "${FERRETDB_STARTED:-}" ]]; then
    scripts/ferretdb.sh stop "$FERRETDB_PORT" "$FERRETDB_DIR" >/dev/null 2>&1 || true
  fi
  if [[ -n "${POSTGRES_STARTED:-}" ]]; then
    scripts/postgres.sh stop "$POSTGRES_PORT" "$POSTGRES_DIR" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if want setup; then
  stage "setup"
  scripts/setup.sh
fi

if want format; then
  stage "format check"
  scripts/format.sh --check
fi

if want build; then
  stage "release build"
  scripts/build.sh release
fi
SIGNER_BIN="$REPO/build/release/signer"
export SIGNER_BIN

# The sanitizer builds take the longest of any step (Beast's templates under ASan). They start now,
# in the background at the lowest CPU priority, and use what the test stages below leave idle
# (the cluster and end-to-end stages wait on networks, timers and restarts much of the time); the
# asan and tsan stages wait for them. The tests keep the CPU they ask for.
# Each build runs in its own process group (setsid), so that an early exit stops it (cleanup). The
# TSan build starts once the ASan one has ended, so the two never split the idle CPU between them,
# and the asan stage waits only for its own.
ASAN_BUILD_PID=
TSAN_BUILD_PID=
if want asan || want tsan; then
  mkdir -p build
fi
if want asan; then
  setsid nice -n 19 scripts/build.sh asan signer unit_tests >build/asan-build.log 2>&1 &
  ASAN_BUILD_PID=$!
fi
if want tsan; then
  setsid bash -c 'while [[ $1 != 0 ]] && kill -0 "$1" 2>/dev/null; do sleep 2; done
    exec nice -n 19 scripts/build.sh tsan concurrency_tests' _ "${ASAN_BUILD_PID:-0}" \
    >build/tsan-build.log 2>&1 &
  TSAN_BUILD_PID=$!
fi
# Waits for one background sanitizer build (asan or tsan); fails with its log if it failed.
wait_sanitizer_build() {
  local var="${1^^}_BUILD_PID"
  local pid="${!var}"
  [[ -n "$pid" ]] || return 0
  printf -v "$var" '%s' ''
  if ! wait "$pid"; then
    tail -n 60 "build/$1-build.log" >&2
    echo "the $1 build failed (whole log: $REPO/build/$1-build.log)" >&2
    return 1
  fi
}

if want unit; then
  stage "unit tests"
  # MongoDB- and PostgreSQL-backed tests run in the contract stage, where they are required.
  # The PKCS#11 tests make their own SoftHSM2 tokens and must not skip (setup installs softhsm2).
  SIGNER_REQUIRE_SOFTHSM=1 ctest --test-dir build/release --output-on-failure -j2 -E "$SERVER_TESTS"
fi

if want compat; then
  stage "go-ethereum compatibility, and the Solidity verifier in go-ethereum's EVM"
  mkdir -p build/verifiers
  VERIFIER_ARTIFACT="$REPO/build/verifiers/SignedRecordVerifier.json"
  node tests/verifiers/compile.mjs "$VERIFIER_ARTIFACT"
  (cd tests/compat && SHARED_DIR="$SIGNER_SHARED_DIR" SIGNER_REQUIRE_SOFTHSM=1 \
    VERIFIER_ARTIFACT="$VERIFIER_ARTIFACT" go test -count=1 ./...)
fi

if want contract || want e2e; then
  FERRETDB_DIR="$(mktemp -d /tmp/signer-ferretdb.XXXXXX)"
  scripts/ferretdb.sh start "$FERRETDB_PORT" "$FERRETDB_DIR"
  FERRETDB_STARTED=1
  export SIGNER_TEST_MONGO_URL="mongodb://127.0.0.1:$FERRETDB_PORT/"
  export FERRETDB_BIN="$REPO/.tools/bin/ferretdb"
fi

if want contract || want asan; then
  POSTGRES_DIR="$(mktemp -d /tmp/signer-postgres.XXXXXX)"
  SIGNER_TEST_PG_URL="$(scripts/postgres.sh start "$POSTGRES_PORT" "$POSTGRES_DIR")"
  POSTGRES_STARTED=1
  export SIGNER_TEST_PG_URL
fi

if want contract; then
  stage "store contract tests (SQLite, MongoDB wire protocol via FerretDB, PostgreSQL)"
  SIGNER_REQUIRE_MONGO=1 SIGNER_REQUIRE_PG=1 \
    ./build/release/unit_tests --gtest_filter='*StoreContract*:Mongo*:Postgres*'
fi

if want e2e; then
  stage "end-to-end (pytest, real processes)"
  python3 -m pytest -q tests/e2e
  echo "status page screenshot: build/test-artifacts/status-page.png"
fi

if want cluster; then
  stage "cluster emulation (pytest: PostgreSQL, and FerretDB as MongoDB, + signer pods + nginx, with failures)"
  python3 -m pytest -q tests/cluster
fi

if want deploy; then
  stage "deployment: helm lint/template, strict Kubernetes decoding, runtime image contents"
  tests/deploy/run.sh "$SIGNER_BIN"
fi

if want fuzz; then
  stage "fuzz targets over their corpora (libFuzzer, ASan+UBSan)"
  scripts/fuzz.sh --regress
fi

if want asan; then
  stage "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  wait_sanitizer_build asan
  scripts/build.sh asan signer unit_tests
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/asan --output-on-failure -j2 -E "$SERVER_TESTS"
  stage "PostgreSQL store tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    SIGNER_REQUIRE_PG=1 ./build/asan/unit_tests --gtest_filter='*Postgres*'
  stage "reduced end-to-end run against the ASan+UBSan server"
  # A sanitizer report aborts the server; LeakSanitizer fails its exit code at SIGTERM, which the
  # fixtures check.
  SIGNER_BIN="$REPO/build/asan/signer" ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    python3 -m pytest -q tests/e2e -k "bad_input or records_api or secrets or crash_safety or refusal or auth or tls or status_page or smuggling or batch_access or slow_clients"
fi

if want tsan; then
  stage "concurrency tests under ThreadSanitizer"
  # concurrency_tests links the core only (no front door, no CLI), so this build is short. Left
  # out: the tests that need a database server or the signer binary.
  wait_sanitizer_build tsan
  scripts/build.sh tsan concurrency_tests
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" SIGNER_REQUIRE_SOFTHSM=1 \
    ./build/tsan/concurrency_tests --gtest_filter='-*Postgres*:*Mongo*:Pkcs11CliTest.*'
fi

stage "all stages passed: $STAGES"
