# Shared by scripts/tools/build-*.sh (sourced, not run). Each real tool the tests use (Jaeger, kube-apiserver,
# etcd) is built from its published Go module, pinned by the go.mod/go.sum in scripts/tools/<tool>/, into a
# cache OUTSIDE the work tree, keyed by tool and version:
#   ${FAIRWAY_TOOL_CACHE:-$HOME/.cache/fairway-tools}/<tool>-<version>/<binary>
# Go's module and build caches live in the same directory (go/mod, go/build), so a warm machine rebuilds
# nothing and downloads nothing. A build writes to a temporary name and renames at the end, under a lock, so
# a half-built binary is never used and two builds at once do not collide.
set -euo pipefail

FAIRWAY_TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FAIRWAY_TOOL_CACHE="${FAIRWAY_TOOL_CACHE:-${HOME:-/root}/.cache/fairway-tools}"

tool_log() { echo "$(basename "$0"): $*" >&2; }

# tool_go_env: Go settings for a reproducible, cached build with the machine's Go.
tool_go_env() {
  if ! command -v go >/dev/null 2>&1; then
    tool_log "Go is not on PATH; these tools are built from their Go modules (Go >= 1.26 needed)"
    exit 1
  fi
  export GOMODCACHE="$FAIRWAY_TOOL_CACHE/go/mod"
  export GOCACHE="$FAIRWAY_TOOL_CACHE/go/build"
  export GOTOOLCHAIN=local   # never download another Go toolchain: only the module proxy is reachable
  export GOFLAGS="-mod=readonly -buildvcs=false"
  mkdir -p "$GOMODCACHE" "$GOCACHE"
}

# tool_build <name> <version> <module dir under scripts/tools> <binary name> <package> [extra -ldflags]
# Prints the binary's absolute path on stdout (nothing else goes to stdout).
tool_build() {
  local name="$1" version="$2" moddir="$FAIRWAY_TOOLS_DIR/$3" bin="$4" pkg="$5" ldflags="${6:-}"
  local dir="$FAIRWAY_TOOL_CACHE/$name-$version"
  local out="$dir/$bin"
  if [ -x "$out" ] && [ -f "$dir/build-info.txt" ]; then
    echo "$out"
    return 0
  fi
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock 9
  if [ -x "$out" ] && [ -f "$dir/build-info.txt" ]; then  # built by another process while we waited
    echo "$out"
    return 0
  fi
  tool_go_env
  tool_log "building $name $version from its Go module into $dir (first time only; several minutes)"
  local start=$SECONDS
  ( cd "$moddir" && go mod download >&2 && go build -trimpath -ldflags="-s -w $ldflags" -o "$out.tmp" "$pkg" >&2 )
  mv -f "$out.tmp" "$out"
  {
    echo "tool: $name $version"
    echo "package: $pkg"
    echo "go: $(go version)"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - start)) s"
    echo "binary: $(du -sh "$out" | cut -f1)"
    echo "cache: $(du -sh "$FAIRWAY_TOOL_CACHE" 2>/dev/null | cut -f1) in $FAIRWAY_TOOL_CACHE"
  } >"$dir/build-info.txt"
  tool_log "built $name $version in $((SECONDS - start)) s"
  echo "$out"
}
