#!/usr/bin/env bash
# Regenerates the Go message types in gen/ from the repository's .proto files (committed; run after a .proto
# changes). Needs protoc (Debian: protobuf-compiler) and protoc-gen-go at the version go.mod pins:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
# The gRPC service descriptors are written by hand in internal/services (no protoc-gen-go-grpc needed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mod=github.com/fairway/fairway/interop/go/gen
export PATH="$PATH:$(go env GOPATH)/bin"
mkdir -p "$here/gen/echopb" "$here/gen/tradingpb"
protoc -I "$repo/proto" --go_out="$here/gen/echopb" \
  --go_opt=Mfairway/test/echo.proto=$mod/echopb --go_opt=module=$mod/echopb fairway/test/echo.proto
protoc -I "$repo/examples/trading-pipeline/proto" --go_out="$here/gen/tradingpb" \
  --go_opt=Mtrading/v1/trading.proto=$mod/tradingpb --go_opt=module=$mod/tradingpb trading/v1/trading.proto
