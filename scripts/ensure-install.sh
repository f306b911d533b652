#!/usr/bin/env bash
# Makes sure node_modules is a complete install of package-lock.json (scripts/check-install.mjs says what is
# missing); if it is not (never installed, an `npm ci` interrupted by Ctrl-C, a lock changed since), says what it
# found and runs `npm ci` to repair it. Exits non-zero, saying so, if the install still is not complete.
# Used by `npm run demo` (scripts/demo.sh); `what` in messages is its first argument (default "fairway").
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-fairway}"

if [ ! -d node_modules ]; then
  echo "$what: installing npm dependencies (npm ci)..."
elif ! problems=$(node scripts/check-install.mjs); then
  echo "$what: node_modules is incomplete or out of date (an interrupted install?):"
  echo "$problems"
  echo "$what: repairing it with npm ci..."
else
  exit 0
fi
npm ci --no-audit --no-fund
if ! problems=$(node scripts/check-install.mjs); then
  echo "$what: npm ci finished, but node_modules is still incomplete:" >&2
  echo "$problems" >&2
  exit 1
fi
echo "$what: npm dependencies installed."
