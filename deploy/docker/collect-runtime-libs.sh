#!/usr/bin/env bash
# Copies the shared libraries a dynamically linked binary needs (as resolved by ldd,
# including the ELF interpreter, excluding the kernel's vDSO) into DESTDIR, laid out by
# path, so that `COPY --from=build DESTDIR/ /` puts them where the loader looks.
#
# Usage: deploy/docker/collect-runtime-libs.sh BINARY DESTDIR
#
# Layout: every file lands at its canonical path (symlinks resolved), and the name ldd
# printed is recreated as a relative symlink to it when the two differ. On merged-/usr
# Debian (bookworm: /lib -> usr/lib, /lib64 -> usr/lib64), ldd prints
# /lib/x86_64-linux-gnu/libfoo.so.1, so the tree holds
#   DESTDIR/usr/lib/x86_64-linux-gnu/libfoo.so.1.2.3      (the file)
#   DESTDIR/usr/lib/x86_64-linux-gnu/libfoo.so.1 -> libfoo.so.1.2.3
#   DESTDIR/usr/lib64/ld-linux-x86-64.so.2 -> ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
# and nothing outside DESTDIR/usr. That matters: a tree with a real lib/ or lib64/
# directory cannot be COPYed onto a merged-/usr image (BuildKit fails with "cannot copy to
# non-directory: .../lib"; the classic builder replaces the /lib symlink and breaks every
# other program in the image), so the script refuses to produce one.
#
# Exits non-zero if ldd reports a library as "not found". Prints one line per library.
set -euo pipefail

die() {
  printf 'collect-runtime-libs: %s\n' "$*" >&2
  exit 1
}

[[ $# -eq 2 ]] || die "usage: $0 BINARY DESTDIR"
BINARY="$1"
DESTDIR="$2"
[[ -f "$BINARY" && -x "$BINARY" ]] || die "$BINARY is not an executable file"
command -v ldd > /dev/null || die "ldd not found (package libc-bin)"

if ! ldd_out="$(ldd "$BINARY" 2>&1)"; then
  if grep -q "not a dynamic executable" <<< "$ldd_out"; then
    echo "collect-runtime-libs: $BINARY is statically linked; nothing to collect"
    mkdir -p "$DESTDIR"
    exit 0
  fi
  die "ldd $BINARY failed: $ldd_out"
fi
if grep -q "not found" <<< "$ldd_out"; then
  die "unresolved libraries:"$'\n'"$(grep "not found" <<< "$ldd_out")"
fi

mkdir -p "$DESTDIR"
DESTDIR="$(cd "$DESTDIR" && pwd)"

# copy_library PATH: PATH is a library path exactly as ldd printed it.
copy_library() {
  local printed="$1" real dir name
  real="$(readlink -f "$printed")"
  dir="$(readlink -f "$(dirname "$printed")")"
  name="$(basename "$printed")"
  [[ -f "$real" ]] || die "$printed resolves to $real, which is not a file"
  case "$real:$dir" in
    /usr/*:/usr/*) ;;
    *) die "$printed resolves outside /usr ($real); the runtime image is merged-/usr and the tree must only hold usr/" ;;
  esac

  mkdir -p "$DESTDIR$(dirname "$real")" "$DESTDIR$dir"
  cp -L --preserve=mode "$real" "$DESTDIR$real"
  if [[ "$dir/$name" != "$real" ]]; then
    ln -sfn "$(realpath -m --relative-to="$DESTDIR$dir" "$DESTDIR$real")" "$DESTDIR$dir/$name"
    printf '  %s -> %s\n' "$printed" "$real"
  else
    printf '  %s\n' "$printed"
  fi
}

echo "collect-runtime-libs: $BINARY -> $DESTDIR"
count=0
while IFS= read -r line; do
  line="${line#"${line%%[![:space:]]*}"}" # trim leading whitespace
  case "$line" in
    linux-vdso.so.* | linux-gate.so.*) continue ;; # provided by the kernel
    *" => "*)
      path="${line#* => }"
      path="${path%% (*}"
      ;;
    /*) path="${line%% (*}" ;; # the ELF interpreter
    *) continue ;;
  esac
  [[ "$path" == /* ]] || die "unexpected ldd line: $line"
  copy_library "$path"
  count=$((count + 1))
done <<< "$ldd_out"

((count > 0)) || die "ldd listed no libraries for $BINARY"
echo "collect-runtime-libs: $count libraries collected"
