#!/usr/bin/env bash
# Installs libsecp256k1 0.7.1 from Debian's own archive, on Debian bookworm as root.
#
# Bookworm ships libsecp256k1 0.2.0 (2022). 0.5.0 brought the multi-comb ecmult_gen for signing,
# and 0.5.1 made its 86 KiB table the default; go-ethereum vendors that code, and on 0.2.0 our
# sign path ran at 0.89x go-ethereum's crypto.Sign (issue 21, docs/PERFORMANCE.md). Debian unstable
# has 0.7.1-2 as libsecp256k1-6 (the library, which depends only on libc6 >= 2.4) and
# libsecp256k1-dev (headers, libsecp256k1.a, pkg-config file).
#
# How: an apt source for unstable, and an apt preferences file that pins every unstable package
# to -1 (never installed) except exactly these two packages at exactly this version (990). So
# apt takes nothing else from unstable, now or on a later upgrade. The archive's signature is
# checked with Debian's archive keyring as for bookworm itself. `Check-Valid-Until: no` because
# a mirror (or a CI proxy) may serve an unstable index older than its one-week validity; the
# exact version pin means a stale index can only offer this version or nothing.
#
# Idempotent: does nothing when both packages are installed at the pinned version.
# If unstable cannot be reached, or no longer carries 0.7.1-2, it says so loudly and installs
# bookworm's libsecp256k1-dev 0.2.0 instead, so the build still works; CMake, `signer version`
# and the benchmarks then name the old library (bench/sign_vs_geth.py refuses to compare).
#
# Usage: scripts/install-secp256k1.sh
# Environment: SIGNER_SECP256K1_FROM_UNSTABLE=0 skips unstable and installs bookworm's 0.2.0
#              (to build or measure the old library on purpose).
set -euo pipefail

VERSION="0.7.1-2"
PACKAGES=(libsecp256k1-6 libsecp256k1-dev)
SOURCE_FILE=/etc/apt/sources.list.d/message-signer-unstable.sources
PREFERENCES_FILE=/etc/apt/preferences.d/message-signer-unstable

log() { printf 'setup: %s\n' "$*"; }

installed_version() { dpkg-query -W -f='${Version}' "$1" 2> /dev/null || true; }

pinned_version_installed() {
  local p
  for p in "${PACKAGES[@]}"; do
    [[ "$(installed_version "$p")" == "$VERSION" ]] || return 1
  done
}

# write_if_changed FILE: stdin into FILE, unless FILE already holds exactly that.
write_if_changed() {
  local content
  content="$(cat)"
  if [[ ! -f "$1" || "$(cat "$1")" != "$content" ]]; then
    printf '%s\n' "$content" > "$1"
  fi
}

shout() {
  local line
  printf '\n' >&2
  printf '%s\n' "######################################################################" >&2
  for line in "$@"; do printf '## %s\n' "$line" >&2; done
  printf '%s\n\n' "######################################################################" >&2
}

install_old_library() {
  if [[ -n "$(installed_version libsecp256k1-dev)" ]]; then
    log "keeping the installed libsecp256k1-dev $(installed_version libsecp256k1-dev)"
    return
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends libsecp256k1-dev > /dev/null
  log "installed libsecp256k1-dev $(installed_version libsecp256k1-dev)"
}

if [[ "${SIGNER_SECP256K1_FROM_UNSTABLE:-1}" == "0" ]]; then
  shout "SIGNER_SECP256K1_FROM_UNSTABLE=0: using bookworm's libsecp256k1, not $VERSION." \
    "Signing will be about 20% slower than go-ethereum's crypto.Sign."
  install_old_library
  exit 0
fi

if pinned_version_installed; then
  log "libsecp256k1 $VERSION (Debian unstable, pinned) present"
  exit 0
fi

write_if_changed "$SOURCE_FILE" << 'EOF'
# Written by Message Signer's scripts/install-secp256k1.sh: Debian unstable, for libsecp256k1
# only (see message-signer-unstable in /etc/apt/preferences.d).
Types: deb
URIs: http://deb.debian.org/debian
Suites: unstable
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
Check-Valid-Until: no
EOF
write_if_changed "$PREFERENCES_FILE" << EOF
# Written by Message Signer's scripts/install-secp256k1.sh. From Debian unstable apt may take
# exactly these packages at exactly this version, and nothing else.
Package: ${PACKAGES[*]}
Pin: version $VERSION
Pin-Priority: 990

Package: *
Pin: release a=unstable
Pin-Priority: -1
EOF

log "installing libsecp256k1 $VERSION (${PACKAGES[*]}) from Debian unstable"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true # a source that failed shows up as a failed install below
if apt-get install -y -qq --no-install-recommends "${PACKAGES[@]/%/=$VERSION}" > /dev/null &&
  pinned_version_installed; then
  log "libsecp256k1 $VERSION installed"
  exit 0
fi
shout "Could not install libsecp256k1 $VERSION from Debian unstable." \
  "Falling back to bookworm's libsecp256k1-dev (0.2.0): the build works, but signs about" \
  "20% slower than go-ethereum's crypto.Sign. CMake, 'signer version', GET / and" \
  "signer_build_info name the old version; bench/sign_vs_geth.py refuses to compare."
install_old_library
