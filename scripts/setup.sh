#!/usr/bin/env bash
# Installs what building and testing Message Signer needs, on Debian bookworm as root.
# Idempotent: each step checks first and does nothing when its part is already there.
#
# Usage: scripts/setup.sh [--deps-only]
#   --deps-only   only the Debian build dependencies (what the container build stage needs)
#   (default)     also the test tools: pytest packages from PyPI, FerretDB and helm from the
#                 Go module proxy (scripts/install-tools.sh), clang for fuzzing
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libcrypto++-dev nettle-dev libcpp-httplib-dev nlohmann-json3-dev libcli11-dev
  libspdlog-dev libsqlite3-dev libmongoc-dev libbson-dev libpq-dev libyaml-cpp-dev libp11-kit-dev
  libboost1.81-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
TEST_PACKAGES=(nginx-light libnginx-mod-stream clang-format clang libclang-rt-14-dev python3-pip curl procps
  iproute2 openssl postgresql softhsm2 opensc chromium)

deps_only=0
[[ "${1:-}" == "--deps-only" ]] && deps_only=1

packages=("${BUILD_PACKAGES[@]}")
((deps_only)) || packages+=("${TEST_PACKAGES[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages present"
fi
# libsecp256k1 0.7.1 from Debian unstable, pinned to exactly those two packages.
"$REPO/scripts/install-secp256k1.sh"
((deps_only)) && exit 0

# Python test packages, pinned.
if ! python3 -c "import pytest, requests, pymongo, psycopg, playwright, sslyze, openapi_spec_validator, schemathesis, openapi_python_client, eth_account, coincurve" 2>/dev/null; then
  echo "setup: installing Python test packages"
  python3 -m pip install -q --disable-pip-version-check -r "$REPO/tests/e2e/requirements.txt"
else
  echo "setup: Python test packages present"
fi

# matplotlib, pinned, for the charts of the bench scripts (--plot, --timeline).
if ! python3 -c "import matplotlib" 2>/dev/null; then
  echo "setup: installing matplotlib for bench charts"
  python3 -m pip install -q --disable-pip-version-check -r "$REPO/bench/requirements.txt"
else
  echo "setup: matplotlib present"
fi

# The JavaScript verifiers of the eip191/eip712 tests (ethers, solc-js, OpenZeppelin Contracts),
# exactly as tests/verifiers/package-lock.json pins them. Node.js and npm come from Debian when
# the machine has none.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing Debian's nodejs and npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
verifiers="$REPO/tests/verifiers"
lock_hash="$(sha256sum "$verifiers/package-lock.json" | cut -c1-64)"
if [[ "$(cat "$verifiers/node_modules/.signer-lock-sha256" 2>/dev/null)" != "$lock_hash" ]]; then
  echo "setup: installing the JavaScript verifiers (npm ci in tests/verifiers)"
  (cd "$verifiers" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$lock_hash" >"$verifiers/node_modules/.signer-lock-sha256"
else
  echo "setup: JavaScript verifiers present"
fi

# Go is needed only for test and deployment tools (never at run time).
if ! command -v go >/dev/null 2>&1 && [[ ! -x /usr/local/go/bin/go ]]; then
  echo "setup: Go toolchain not found; it is needed for FerretDB, helm and the go-ethereum check" >&2
  exit 1
fi
"$REPO/scripts/install-tools.sh"
