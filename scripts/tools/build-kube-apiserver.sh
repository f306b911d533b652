#!/usr/bin/env bash
# Builds the real Kubernetes API server from the Go module k8s.io/kubernetes (cmd/kube-apiserver), pinned in
# scripts/tools/kube-apiserver/go.mod, into
# ${FAIRWAY_TOOL_CACHE:-$HOME/.cache/fairway-tools}/kube-apiserver-<version>/kube-apiserver, or reuses it.
# Prints the binary's path.
#
# Why a wrapper module: k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/apiserver, ...) at
# v0.0.0 and points them at ./staging in its own repository; a module that depends on it must `replace` each
# with the published release of the same Kubernetes version (v1.37.2 -> v0.37.2). scripts/tools/kube-apiserver/
# go.mod does that; regenerate it for another version by listing the `=> ./staging/...` lines of that version's
# go.mod (`go mod download -json k8s.io/kubernetes@vX`) and running `go mod tidy`.
source "$(dirname "$0")/lib.sh"
KUBE_VERSION=v1.37.2
grep -q "k8s.io/kubernetes $KUBE_VERSION" "$FAIRWAY_TOOLS_DIR/kube-apiserver/go.mod" \
  || { tool_log "scripts/tools/kube-apiserver/go.mod does not pin k8s.io/kubernetes $KUBE_VERSION"; exit 1; }
# A module build has no git tree to stamp a version from: stamp it as the release's own build does, so that
# /version (and kubectl's version-skew check) says v1.37.2, not v0.0.0-master.
minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
stamp="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1"
stamp="$stamp -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
tool_build kube-apiserver "$KUBE_VERSION" kube-apiserver kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$stamp"
