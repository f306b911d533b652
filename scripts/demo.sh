#!/usr/bin/env bash
# `npm run demo [-- options]`: the trading pipeline on a local etcd, balanced by Fairway through a rolling
# restart. Works on a fresh machine: installs the npm dependencies when node_modules is missing or incomplete, Debian's
# etcd when it is missing (as root; otherwise it says what to install), builds, then runs the demo.
# Options (see --help): --duration 30s, --rate 300, --compare, --jaeger, --otlp URL, --trace-file F, --json-summary F.
set -euo pipefail
cd "$(dirname "$0")/.."

# Installs the npm dependencies when node_modules is missing, and repairs it (saying what it found) when a
# previous install did not finish, e.g. Ctrl-C during the first run's npm ci.
bash scripts/ensure-install.sh demo

if ! command -v etcd >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "demo: etcd is missing; installing Debian's etcd-server and etcd-client..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq etcd-server etcd-client >/dev/null
  else
    echo "demo: etcd is missing. Install it (Debian/Ubuntu: sudo apt-get install -y etcd-server etcd-client)," >&2
    echo "      or run this as root on Debian/Ubuntu and the demo installs it." >&2
    exit 1
  fi
fi
# The demo starts etcd from this binary (the harness defaults to /usr/bin/etcd).
export ETCD_BIN="${ETCD_BIN:-$(command -v etcd)}"
# The demo's etcd is on loopback: never send its traffic through a proxy.
export NO_PROXY="127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}"

# --jaeger: a real Jaeger, built once from its Go module into the tool cache (several minutes the first time).
for arg in "$@"; do
  if [ "$arg" = --jaeger ]; then
    FAIRWAY_JAEGER_BIN="$(bash scripts/tools/build-jaeger.sh)"
    export FAIRWAY_JAEGER_BIN
  fi
done

# Run against the built packages, as a user of the published packages would; if the build fails, say so and
# run from the TypeScript sources instead.
node_args=(--import tsx)
if [ "${FAIRWAY_DEMO_SKIP_BUILD:-}" != 1 ]; then
  echo "demo: building the packages (npm run build)..."
  if ! npm run build >/tmp/fairway-demo-build.log 2>&1; then
    echo "demo: the build failed (log: /tmp/fairway-demo-build.log); its last lines:" >&2
    tail -n 15 /tmp/fairway-demo-build.log | sed 's/^/  /' >&2
    echo "demo: running from the TypeScript sources instead" >&2
    node_args=(--conditions=fairway:source --import tsx)
  fi
else
  node_args=(--conditions=fairway:source --import tsx)
fi
exec node "${node_args[@]}" examples/trading-pipeline/src/demo.ts "$@"
