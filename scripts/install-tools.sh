#!/usr/bin/env bash
# Builds the project's Go-based tools from the pinned tools modules into .tools/bin/:
#   ferretdb  (tools/ferretdb/go.mod, the MongoDB-compatible test server, SQLite backend)
#   helm      (tools/helm/go.mod, chart lint/template for deploy/helm)
#   toxiproxy-server  (github.com/Shopify/toxiproxy/v2 at TOXIPROXY_VERSION below, by
#             `go install module@version`: the fault injector between the cluster test's pods,
#             their store and their Service; its go.sum is checked against the checksum database)
#
# Idempotent: a binary is rebuilt only when it is missing or its stamp file
# (.tools/bin/NAME.version) no longer matches the pinned version and the hash of the
# tools module's go.mod/go.sum. A warm run takes well under a second.
#
# Why two modules: helm v3.22 pulls ~40 of FerretDB's dependencies (otel, grpc,
# x/exp, x/net, prometheus, ...) forward by a year under one module's MVS, and raises
# the go directive to 1.26. Separate modules keep each tool on the dependency set its
# upstream tested.
#
# Why FerretDB is not built straight from the module cache: its build/version package
# embeds build/version/version.txt, which is generated from git at release time and is
# absent from the module zip; a binary built without it panics at start. We copy the
# pinned module source to .tools/src/, write version.txt, and build through a
# `replace` in a scratch copy of tools/ferretdb/go.mod. (go build -overlay refuses
# files under GOMODCACHE.)
#
# Usage: scripts/install-tools.sh [--force] [ferretdb] [helm] [toxiproxy]
#   No tool names: build all three. --force: rebuild even when the stamp matches.
# Environment: GO (go binary; default: `go` on PATH, else /usr/local/go/bin/go).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$REPO/.tools"
BIN_DIR="$TOOLS_DIR/bin"
TOXIPROXY_MODULE=github.com/Shopify/toxiproxy/v2
TOXIPROXY_VERSION=v2.12.0
FORCE=0
WANT=()

for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    ferretdb | helm | toxiproxy) WANT+=("$arg") ;;
    -h | --help)
      sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install-tools: unknown argument: $arg" >&2
      exit 2
      ;;
  esac
done
[[ ${#WANT[@]} -eq 0 ]] && WANT=(ferretdb helm toxiproxy)

log() { printf '[install-tools] %s\n' "$*"; }
die() {
  printf '[install-tools] ERROR: %s\n' "$*" >&2
  exit 1
}

# module_version MODFILE MODULE: the version MODULE is required at in MODFILE, read
# without invoking the go command so the warm path stays fast.
module_version() {
  awk -v m="$2" '($1 == m && $2 ~ /^v/) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$1"
}

# stamp_for NAME: the text recorded next to a built binary; any change rebuilds it.
stamp_for() {
  local name="$1" moddir="$REPO/tools/$1" module="$2"
  local version hash
  version="$(module_version "$moddir/go.mod" "$module")"
  [[ -n "$version" ]] || die "cannot find $module in $moddir/go.mod"
  hash="$(cat "$moddir/go.mod" "$moddir/go.sum" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
  printf '%s %s %s\n' "$name" "$version" "$hash"
}

up_to_date() {
  local name="$1" stamp="$2" bin="${3:-$1}"
  [[ $FORCE -eq 0 && -x "$BIN_DIR/$bin" && -f "$BIN_DIR/$name.version" ]] &&
    [[ "$(cat "$BIN_DIR/$name.version")" == "$stamp" ]]
}

find_go() {
  if [[ -n "${GO:-}" ]]; then
    echo "$GO"
  elif command -v go > /dev/null 2>&1; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    echo /usr/local/go/bin/go
  else
    die "the go command is needed to build the tools (Go >= 1.26 for helm v3.22); install Go first"
  fi
}

build_ferretdb() {
  local stamp="$1" go_bin="$2"
  local moddir="$REPO/tools/ferretdb" module=github.com/FerretDB/FerretDB
  local version src work start
  version="$(module_version "$moddir/go.mod" "$module")"
  start=$SECONDS

  log "ferretdb $version: downloading modules (Go module proxy)"
  (cd "$moddir" && "$go_bin" mod download)
  local cache_dir
  cache_dir="$(cd "$moddir" && "$go_bin" list -m -f '{{.Dir}}' "$module")"
  [[ -d "$cache_dir" ]] || die "module source for $module@$version not found"

  src="$TOOLS_DIR/src/ferretdb-$version"
  work="$TOOLS_DIR/build/ferretdb"
  rm -rf "$src" "$work"
  mkdir -p "$(dirname "$src")" "$work"
  cp -R "$cache_dir" "$src"
  chmod -R u+w "$src"
  printf '%s\n' "$version" > "$src/build/version/version.txt"
  printf '%s\n' "go-module-proxy" > "$src/build/version/package.txt"

  cp "$moddir/go.mod" "$moddir/go.sum" "$work/"
  printf '\nreplace %s => %s\n' "$module" "$src" >> "$work/go.mod"

  log "ferretdb $version: compiling (about 2 minutes on 2 cores when cold)"
  (cd "$work" && CGO_ENABLED=0 "$go_bin" build -trimpath -o "$BIN_DIR/ferretdb.tmp" \
    "$module/cmd/ferretdb")
  mv -f "$BIN_DIR/ferretdb.tmp" "$BIN_DIR/ferretdb"

  "$BIN_DIR/ferretdb" --version > /dev/null ||
    die "the built ferretdb does not run: $BIN_DIR/ferretdb --version"
  printf '%s' "$stamp" > "$BIN_DIR/ferretdb.version"
  log "ferretdb $version: built in $((SECONDS - start)) s"
}

build_helm() {
  local stamp="$1" go_bin="$2"
  local moddir="$REPO/tools/helm" module=helm.sh/helm/v3
  local version start client_go k8s_minor
  version="$(module_version "$moddir/go.mod" "$module")"
  start=$SECONDS

  log "helm $version: downloading modules (Go module proxy)"
  (cd "$moddir" && "$go_bin" mod download)

  # The same link-time values helm's Makefile sets. Without them `helm version` says
  # "v3.22" and the default capabilities claim Kubernetes 1.20, which would wrongly
  # reject the chart's kubeVersion constraint in `helm template` and `helm lint`.
  client_go="$(module_version "$moddir/go.mod" k8s.io/client-go)" # v0.MINOR.PATCH
  k8s_minor="$(echo "$client_go" | cut -d. -f2)"
  local ldflags="-s -w"
  ldflags+=" -X helm.sh/helm/v3/internal/version.version=$version"
  ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor"

  log "helm $version: compiling (about 4 minutes on 2 cores when cold)"
  (cd "$moddir" && CGO_ENABLED=0 "$go_bin" build -trimpath -ldflags "$ldflags" \
    -o "$BIN_DIR/helm.tmp" "$module/cmd/helm")
  mv -f "$BIN_DIR/helm.tmp" "$BIN_DIR/helm"

  "$BIN_DIR/helm" version --short > /dev/null ||
    die "the built helm does not run: $BIN_DIR/helm version"
  printf '%s' "$stamp" > "$BIN_DIR/helm.version"
  log "helm $version: built in $((SECONDS - start)) s"
}

# Toxiproxy has no replace directives, so a plain `go install module@version` builds it (into a
# scratch GOBIN: the command is named "server" upstream).
build_toxiproxy() {
  local stamp="$1" go_bin="$2" start=$SECONDS gobin="$TOOLS_DIR/build/toxiproxy"
  rm -rf "$gobin"
  mkdir -p "$gobin"
  log "toxiproxy $TOXIPROXY_VERSION: go install (about a minute on 2 cores when cold)"
  GOBIN="$gobin" CGO_ENABLED=0 "$go_bin" install -trimpath \
    -ldflags "-s -w -X $TOXIPROXY_MODULE.Version=$TOXIPROXY_VERSION" \
    "$TOXIPROXY_MODULE/cmd/server@$TOXIPROXY_VERSION"
  mv -f "$gobin/server" "$BIN_DIR/toxiproxy-server"
  "$BIN_DIR/toxiproxy-server" -version > /dev/null 2>&1 ||
    die "the built toxiproxy-server does not run: $BIN_DIR/toxiproxy-server -version"
  printf '%s' "$stamp" > "$BIN_DIR/toxiproxy.version"
  log "toxiproxy $TOXIPROXY_VERSION: built in $((SECONDS - start)) s"
}

mkdir -p "$BIN_DIR"
# Serialize concurrent callers (e.g. two test scripts) so they never race on one binary.
exec 9> "$TOOLS_DIR/.install.lock"
flock 9

for name in "${WANT[@]}"; do
  bin="$name"
  case "$name" in
    ferretdb) module=github.com/FerretDB/FerretDB ;;
    helm) module=helm.sh/helm/v3 ;;
    toxiproxy) bin=toxiproxy-server ;;
  esac
  if [[ "$name" == toxiproxy ]]; then
    stamp="toxiproxy $TOXIPROXY_VERSION $TOXIPROXY_MODULE"
  else
    stamp="$(stamp_for "$name" "$module")"
  fi
  if up_to_date "$name" "$stamp" "$bin"; then
    log "$name: up to date ($(cut -d' ' -f2 < "$BIN_DIR/$name.version")) at $BIN_DIR/$bin"
    continue
  fi
  go_bin="$(find_go)"
  log "$name: building with $("$go_bin" env GOVERSION)"
  "build_$name" "$stamp" "$go_bin"
done

# Verify the binaries actually run, on every call (cheap: a few milliseconds each).
for name in "${WANT[@]}"; do
  case "$name" in
    ferretdb) cmd=("$BIN_DIR/ferretdb" --version) ;;
    helm) cmd=("$BIN_DIR/helm" version --short) ;;
    toxiproxy) cmd=("$BIN_DIR/toxiproxy-server" -version) ;;
  esac
  out="$("${cmd[@]}" 2>&1)" || die "$BIN_DIR/$name does not run: $out"
  log "$name ok: ${out%%$'\n'*}"
done
