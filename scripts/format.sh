#!/usr/bin/env bash
# Formats the C++ tree with clang-format (.clang-format), or checks it with --check.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
mapfile -t files < <(git ls-files -co --exclude-standard -- 'src/*.cpp' 'src/*.h' 'tests/unit/*.cpp' \
  'tests/unit/*.h' 'bench/*.cpp' 'tests/fuzz/*.cpp' | sort -u)
files=($(for f in "${files[@]}"; do [[ -f "$f" ]] && echo "$f"; done))
if [[ "${1:-}" == "--check" ]]; then
  clang-format --dry-run -Werror "${files[@]}"
  echo "format: ${#files[@]} files clean"
else
  clang-format -i "${files[@]}"
  echo "format: ${#files[@]} files formatted"
fi
