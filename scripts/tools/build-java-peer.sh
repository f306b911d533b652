#!/usr/bin/env bash
# Builds the grpc-java keepalive peer (interop/java) with Maven into a cache outside the work tree, keyed by a
# hash of pom.xml and the sources, and prints the directory (fairway-java-peer.jar and lib/). Run it with
#   java -cp "<dir>/fairway-java-peer.jar:<dir>/lib/*" fairway.interop.SilentServer
# First run on a fresh machine: Maven downloads grpc-java, Netty and its plugins (about 40 MB), 1-3 minutes.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
src="$repo/interop/java"
cache_root="${FAIRWAY_TOOL_CACHE:-$HOME/.cache/fairway-tools}"
command -v mvn >/dev/null 2>&1 || { echo "build-java-peer: mvn is not on PATH (a JDK 17 and Maven are needed)" >&2; exit 1; }
hash=$(cd "$src" && { java -version 2>&1 | head -1; find . -path ./target -prune -o -type f \( -name '*.java' -o -name pom.xml \) -print | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-16)
out="$cache_root/java-peer-$hash"
if [ -f "$out/fairway-java-peer.jar" ] && [ -d "$out/lib" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache_root"
tmp=$(mktemp -d "$cache_root/.java-peer-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "build-java-peer: building interop/java into $out (first run downloads grpc-java from Maven Central)" >&2
# Build in a copy so the work tree gets no target/ directory.
cp -r "$src/pom.xml" "$src/src" "$tmp/"
(cd "$tmp" && mvn -q -B -DskipTests package) >&2
mkdir -p "$tmp/out"
mv "$tmp/target/fairway-java-peer.jar" "$tmp/target/lib" "$tmp/out/"
mv -T "$tmp/out" "$out" 2>/dev/null || true
echo "$out"
