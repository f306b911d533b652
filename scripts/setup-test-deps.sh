#!/usr/bin/env bash
# Installs the system packages the tests use: a real etcd (etcd-server, etcd-client), HAProxy (the sidecar
# baseline), Debian's python3-grpcio (a C-core gRPC server for keepalive tests) and iproute2 (network
# namespaces) and kubectl (Debian's kubernetes-client: checks the Kubernetes API stand-in). Skips what is already there; needs root (CI runs as root) to install anything.
# Then builds the real peers of test/interop (scripts/tools/build-go-peers.sh, build-java-peer.sh) into the tool
# cache outside the work tree. A fresh machine pays the module downloads and builds once (about 2-5 minutes on
# 2 cores: Go modules ~60 MB, grpc-java from Maven Central ~40 MB); with a warm cache this takes well under a second.
set -euo pipefail
need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler) # test/frameworks: ts-proto's generated code is regenerated
/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1 || need+=(python3-grpcio)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-test-deps: missing ${need[*]}; run as root or install them: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "setup-test-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The real tools the interop tests run, built from their Go modules into the tool cache (outside the work tree,
# keyed by version: ${FAIRWAY_TOOL_CACHE:-$HOME/.cache/fairway-tools}); a warm cache only prints their paths.
# Set FAIRWAY_SKIP_TOOL_BUILD=1 to skip (test/interop then builds what it needs on first use).
if [ "${FAIRWAY_SKIP_TOOL_BUILD:-}" != 1 ]; then
  tools_dir="$(dirname "$0")/tools"
  start=$SECONDS
  jaeger_bin="$(bash "$tools_dir/build-jaeger.sh")"
  kube_bin="$(bash "$tools_dir/build-kube-apiserver.sh")"
  etcd_bin="$(bash "$tools_dir/build-etcd.sh")"
  echo "setup-test-deps: jaeger $jaeger_bin, kube-apiserver $kube_bin, its etcd $etcd_bin ($((SECONDS - start)) s)"
fi
echo "setup-test-deps: etcd $(etcd --version | head -1 | awk '{print $3}'), $(haproxy -v | head -1 | awk '{print $1, $3}')"
here=$(cd "$(dirname "$0")" && pwd)
echo "setup-test-deps: Go peers in $(bash "$here/tools/build-go-peers.sh")"
echo "setup-test-deps: grpc-java peer in $(bash "$here/tools/build-java-peer.sh")"
