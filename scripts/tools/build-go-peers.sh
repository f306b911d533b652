#!/usr/bin/env bash
# Builds the Go peers (interop/go: fairway-go-server, fairway-go-client) into a cache outside the work tree,
# keyed by a hash of go.mod, go.sum and every source file, and prints the directory that holds the binaries.
# A second run with the same sources prints the same directory at once. First run on a fresh machine: the
# module downloads (grpc-go, etcd client, OpenTelemetry; about 60 MB) and the build, 1-3 minutes on 2 cores.
# Cache: ${FAIRWAY_TOOL_CACHE:-$HOME/.cache/fairway-tools}/go-peers-<hash>/
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
src="$repo/interop/go"
cache_root="${FAIRWAY_TOOL_CACHE:-$HOME/.cache/fairway-tools}"
command -v go >/dev/null 2>&1 || { echo "build-go-peers: the go command is not on PATH (Go 1.26 is needed)" >&2; exit 1; }
hash=$(cd "$src" && { echo "$(go env GOVERSION)"; find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-16)
out="$cache_root/go-peers-$hash"
if [ -x "$out/fairway-go-server" ] && [ -x "$out/fairway-go-client" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache_root"
tmp=$(mktemp -d "$cache_root/.go-peers-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "build-go-peers: building interop/go into $out (first run downloads the Go modules)" >&2
(
  cd "$src"
  export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
  go build -trimpath -o "$tmp/fairway-go-server" ./cmd/fairway-go-server
  go build -trimpath -o "$tmp/fairway-go-client" ./cmd/fairway-go-client
) >&2
# Another build of the same hash may have finished meanwhile: either copy is good.
mv -T "$tmp" "$out" 2>/dev/null || true
echo "$out"
