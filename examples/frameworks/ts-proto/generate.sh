#!/usr/bin/env bash
# Regenerates generated/echo.ts from echo.proto with ts-proto's grpc-js output (run where ts-proto is
# installed: `npm install --save-dev ts-proto@2.18`; protoc from your system, e.g. apt install protobuf-compiler).
# The test runs this in a scratch project and checks the output equals the committed files.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/generated}"
plugin="${TS_PROTO_PLUGIN:-$(npm prefix)/node_modules/.bin/protoc-gen-ts_proto}"
mkdir -p "$out"
protoc --plugin="protoc-gen-ts_proto=$plugin" --proto_path="$here" --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,importSuffix=.js echo.proto
