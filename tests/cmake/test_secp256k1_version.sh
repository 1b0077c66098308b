#!/usr/bin/env bash
# The build's libsecp256k1 version check (cmake/Secp256k1.cmake), tested with fake pkg-config
# files: the real headers and libraries, but a Version line of our choosing. For each version the
# small project in secp256k1_version/ is configured and built, and must
#   - configure and build (an old library still builds),
#   - warn loudly ("OLD libsecp256k1: <version>") exactly when the version is below 0.7.0,
#   - name that version in the binary (crypto::describe, what `signer version` prints), with
#     "OLD" exactly when it is old.
# Usage: tests/cmake/test_secp256k1_version.sh [cmake]   (ctest: Secp256k1VersionCheck)
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CMAKE="${1:-cmake}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

real_libdir="$(pkg-config --variable=libdir libsecp256k1)"
real_includedir="$(pkg-config --variable=includedir libsecp256k1)"
[[ -n "$real_libdir" && -n "$real_includedir" ]] || {
  echo "no libsecp256k1 for pkg-config to find" >&2
  exit 2
}

failed=0
check() { # VERSION old|current
  local version="$1" want="$2" dir="$WORK/$1"
  mkdir -p "$dir/pc"
  cat > "$dir/pc/libsecp256k1.pc" << PC
libdir=$real_libdir
includedir=$real_includedir

Name: libsecp256k1
Description: a fake version line over the real library, for the build's version check
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lsecp256k1
PC
  local out
  if ! out="$(PKG_CONFIG_LIBDIR="$dir/pc" PKG_CONFIG_PATH= "$CMAKE" -S "$HERE/secp256k1_version" \
    -B "$dir/build" -G Ninja -Wno-dev 2>&1 && "$CMAKE" --build "$dir/build" 2>&1)"; then
    echo "FAIL $version: configure or build failed"$'\n'"$out"
    failed=1
    return
  fi
  local printed
  printed="$("$dir/build/print_secp256k1")"
  local warned=no
  grep -q "OLD libsecp256k1: $version" <<< "$out" && warned=yes
  case "$want" in
    old)
      if [[ "$warned" == yes && "$printed" == "libsecp256k1 $version ("*") OLD: older than 0.7.0"* ]]; then
        echo "PASS $version is reported as old: $printed"
      else
        echo "FAIL $version: want a loud warning and OLD; warned=$warned printed=$printed"
        failed=1
      fi
      ;;
    current)
      if [[ "$warned" == no && "$printed" == "libsecp256k1 $version (static)" ]]; then
        echo "PASS $version is accepted: $printed"
      else
        echo "FAIL $version: want no warning, not OLD; warned=$warned printed=$printed"
        failed=1
      fi
      ;;
  esac
}

check 0.2.0 old
check 0.6.9 old
check 0.7.1 current
check 0.10.0 current # compared as a version, not as a string
check banana old
exit "$failed"
