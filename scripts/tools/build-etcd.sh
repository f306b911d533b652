#!/usr/bin/env bash
# Builds etcd v3.7.0 (go.etcd.io/etcd/server/v3, the etcd release Kubernetes v1.37 depends on), pinned in
# scripts/tools/etcd/go.mod, into ${FAIRWAY_TOOL_CACHE:-$HOME/.cache/fairway-tools}/etcd-<version>/etcd, or
# reuses it. Prints the binary's path.
#
# Why not Debian's etcd 3.4.23: kube-apiserver v1.37 checks its etcd for RequestWatchProgress (etcd >= 3.4.31 /
# 3.5.13) and, without it, sends no watch BOOKMARKs and refuses watch-list streams ("the required storage
# feature RequestWatchProgress is disabled"). The rest of the tests keep Debian's etcd.
source "$(dirname "$0")/lib.sh"
ETCD_VERSION=v3.7.0
grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" "$FAIRWAY_TOOLS_DIR/etcd/go.mod" \
  || { tool_log "scripts/tools/etcd/go.mod does not pin go.etcd.io/etcd/server/v3 $ETCD_VERSION"; exit 1; }
tool_build etcd "$ETCD_VERSION" etcd etcd go.etcd.io/etcd/server/v3
