#!/usr/bin/env bash
# Offline check of the container's runtime layout, without Docker:
#   1. deploy/docker/collect-runtime-libs.sh BINARY TREE succeeds;
#   2. every library ldd lists for BINARY exists in TREE (at its canonical path, under
#      usr/ only), and symlinks in TREE stay inside TREE;
#   3. BINARY --help exits 0 when run by the ELF interpreter from TREE with only TREE's
#      library directories, and the loader resolves every library from TREE (ld.so --list);
#      run that way, `BINARY version` names the libsecp256k1 the build found (pkg-config), so
#      the image signs with the same library (linked statically, or a shared copy in TREE);
#   4. the Dockerfile's build stage collects into one directory, and its runtime stage
#      copies exactly that tree to / and the collected binary to /usr/local/bin/signer.
#
# Usage: tests/docker/test_runtime_image.sh BINARY
#   BINARY  e.g. build/release/signer (before it exists, /bin/ls works as a stand-in)
# Prints "N passed, N failed" last; exits non-zero on any failure.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COLLECT="$REPO/deploy/docker/collect-runtime-libs.sh"
DOCKERFILE="$REPO/deploy/docker/Dockerfile"

[[ $# -eq 1 ]] || {
  echo "usage: $0 BINARY" >&2
  exit 2
}
BINARY="$(readlink -f "$1")"
[[ -x "$BINARY" ]] || {
  echo "test_runtime_image: $1 is not an executable" >&2
  exit 2
}

passed=0
failed=0
pass() {
  passed=$((passed + 1))
  printf 'PASS %s\n' "$1"
}
fail() {
  failed=$((failed + 1))
  printf 'FAIL %s\n' "$1"
  [[ -n "${2:-}" ]] && printf '%s\n' "$2" | sed 's/^/     /'
}

TREE="$(mktemp -d)"
trap 'rm -rf "$TREE"' EXIT

# --- 1. collect -------------------------------------------------------------------------
if out="$(bash "$COLLECT" "$BINARY" "$TREE" 2>&1)"; then
  pass "collect-runtime-libs.sh $(basename "$BINARY") ($(tail -n1 <<< "$out" | grep -o '[0-9]* libraries' || echo '?'))"
else
  fail "collect-runtime-libs.sh $BINARY" "$out"
  printf '%d passed, %d failed\n' "$passed" "$failed"
  exit 1
fi

# --- 2. every ldd library is in the tree ------------------------------------------------
missing=()
interp=""
while IFS= read -r line; do
  line="${line#"${line%%[![:space:]]*}"}"
  case "$line" in
    linux-vdso.so.* | linux-gate.so.*) continue ;;
    *" => "*)
      path="${line#* => }"
      path="${path%% (*}"
      ;;
    /*)
      path="${line%% (*}"
      interp="$path"
      ;;
    *) continue ;;
  esac
  in_tree="$TREE$(readlink -f "$(dirname "$path")")/$(basename "$path")"
  resolved="$(readlink -f "$in_tree" 2> /dev/null || true)"
  if [[ ! -f "$in_tree" || "$resolved" != "$TREE"/* ]]; then
    missing+=("$path (expected at ${in_tree#"$TREE"}, resolves to ${resolved:-nothing})")
  fi
done < <(ldd "$BINARY")
if ((${#missing[@]} == 0)); then
  pass "every library ldd lists is in the tree"
else
  fail "libraries missing from the tree" "$(printf '%s\n' "${missing[@]}")"
fi

outside="$(cd "$TREE" && find . -mindepth 1 -maxdepth 1 ! -name usr)"
if [[ -z "$outside" ]]; then
  pass "tree holds only usr/ (safe to COPY onto merged-/usr bookworm-slim)"
else
  fail "tree has entries outside usr/" "$outside"
fi

escaping=""
while IFS= read -r link; do
  target="$(readlink -f "$link" || true)"
  [[ "$target" == "$TREE"/* && -e "$target" ]] || escaping+="${link#"$TREE"} -> $(readlink "$link")"$'\n'
done < <(find "$TREE" -type l)
if [[ -z "$escaping" ]]; then
  pass "symlinks in the tree resolve inside the tree"
else
  fail "symlinks leave the tree or dangle" "$escaping"
fi

# --- 3. run with the tree's loader and libraries only -----------------------------------
if [[ -z "$interp" ]]; then
  fail "no ELF interpreter in ldd output (static binary?)"
else
  loader="$TREE$(readlink -f "$(dirname "$interp")")/$(basename "$interp")"
  libpath="$(cd "$TREE" && find . -name '*.so*' -printf '%h\n' | sort -u | sed "s|^\.|$TREE|" | paste -sd:)"
  if out="$(env -u LD_LIBRARY_PATH -u LD_PRELOAD "$loader" --inhibit-cache --library-path "$libpath" \
    "$BINARY" --help 2>&1)"; then
    pass "$(basename "$BINARY") --help exits 0 under ${loader#"$TREE"} from the tree"
  else
    fail "$(basename "$BINARY") --help under the tree's loader" "$(head -n 20 <<< "$out")"
  fi
  want_secp="libsecp256k1 $(pkg-config --modversion libsecp256k1 2> /dev/null)"
  version_out="$(env -u LD_LIBRARY_PATH -u LD_PRELOAD "$loader" --inhibit-cache \
    --library-path "$libpath" "$BINARY" version 2>&1)"
  secp_line="$(grep '^libsecp256k1 ' <<< "$version_out")"
  if [[ "$secp_line" == "$want_secp ("* ]]; then
    pass "from the tree, $(basename "$BINARY") signs with ${secp_line}"
    [[ "$secp_line" == *OLD:* ]] && printf 'WARN %s
' "the image carries an OLD libsecp256k1"
  else
    fail "$(basename "$BINARY") version from the tree: want $want_secp" "$version_out"
  fi
  # The loader also searches the system directories for anything not on --library-path,
  # so step 3's run alone could pass on a host library; --list shows where each came from.
  listing="$("$loader" --inhibit-cache --library-path "$libpath" --list "$BINARY" 2>&1)"
  from_host="$(grep '=>' <<< "$listing" | grep -v "=> $TREE/" || true)"
  if [[ -z "$from_host" && -n "$listing" ]]; then
    pass "the loader resolves every library from the tree"
  else
    fail "libraries resolved outside the tree" "${from_host:-$listing}"
  fi
fi

# --- 4. the Dockerfile copies exactly that tree and the binary --------------------------
collect_line="$(grep -E 'collect-runtime-libs\.sh[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]\\]+' "$DOCKERFILE" | head -n1)"
read -r built_binary tree_dir < <(sed -E 's/.*collect-runtime-libs\.sh[[:space:]]+([^[:space:]]+)[[:space:]]+([^[:space:]\\]+).*/\1 \2/' <<< "$collect_line")
runtime_stage="$(awk '/^FROM /{stage=""} {stage=stage $0 "\n"} END{printf "%s", stage}' "$DOCKERFILE")"
copies="$(grep -E '^COPY[[:space:]]' <<< "$runtime_stage")"
want_tree="COPY --from=build ${tree_dir%/}/ /"
want_bin="COPY --from=build $built_binary /usr/local/bin/signer"
if [[ -z "$tree_dir" || -z "$built_binary" ]]; then
  fail "Dockerfile: no 'collect-runtime-libs.sh BINARY DIR' step found"
elif [[ "$(printf '%s\n' "$want_tree" "$want_bin" | sort)" == "$(sort <<< "$copies" | sed -E 's/[[:space:]]+/ /g')" ]]; then
  pass "Dockerfile runtime stage copies exactly ${tree_dir%/}/ and $built_binary"
else
  fail "Dockerfile runtime stage COPY lines differ" "want:"$'\n'"$want_tree"$'\n'"$want_bin"$'\n'"got:"$'\n'"$copies"
fi
if grep -qE '^FROM[[:space:]]+\$\{RUNTIME_IMAGE\}|^FROM[[:space:]]+debian:bookworm-slim' <<< "$runtime_stage" &&
  grep -qE '^ARG RUNTIME_IMAGE=debian:bookworm-slim$' "$DOCKERFILE"; then
  pass "runtime stage is debian:bookworm-slim"
else
  fail "runtime stage is not debian:bookworm-slim"
fi
if grep -qE '^USER[[:space:]]+10001(:10001)?$' <<< "$runtime_stage" &&
  grep -qE '^HEALTHCHECK .*signer", "healthcheck"' <<< "$(tr -d '\\\n' <<< "$runtime_stage" | sed 's/HEALTHCHECK/\nHEALTHCHECK/g')"; then
  pass "runtime stage runs as USER 10001 with a signer healthcheck"
else
  fail "runtime stage USER 10001 / HEALTHCHECK missing"
fi

printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
