#!/usr/bin/env bash
# Configures and builds one CMake preset into build/<preset>. Reuses the build dir, so a second
# call only rebuilds what changed.
# Usage: scripts/build.sh [release|asan|tsan] [ninja targets…]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
preset="${1:-release}"
shift || true
cd "$REPO"
# Configures again when the presets changed since, so a changed preset reaches an old build dir.
if [[ ! -f "build/$preset/build.ninja" || CMakePresets.json -nt "build/$preset/CMakeCache.txt" ]]; then
  cmake --preset "$preset" >/dev/null
fi
cmake --build --preset "$preset" ${1:+--target "$@"}
