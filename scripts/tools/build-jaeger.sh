#!/usr/bin/env bash
# Builds Jaeger v2 (the OpenTelemetry-Collector-based `jaeger` binary: OTLP in, query API out) from its Go
# module github.com/jaegertracing/jaeger/cmd/jaeger, pinned in scripts/tools/jaeger/go.mod, into
# ${FAIRWAY_TOOL_CACHE:-$HOME/.cache/fairway-tools}/jaeger-<version>/jaeger, or reuses that binary.
# Prints the binary's path. The module carries no built UI: its query server serves a placeholder page.
source "$(dirname "$0")/lib.sh"
JAEGER_VERSION=v1.75.0
grep -q "github.com/jaegertracing/jaeger $JAEGER_VERSION" "$FAIRWAY_TOOLS_DIR/jaeger/go.mod" \
  || { tool_log "scripts/tools/jaeger/go.mod does not pin jaeger $JAEGER_VERSION"; exit 1; }
tool_build jaeger "$JAEGER_VERSION" jaeger jaeger github.com/jaegertracing/jaeger/cmd/jaeger
