#!/usr/bin/env bash
# Run the herald protocol conformance suite.
#   ./run.sh                 local mode: starts ../target/release/herald (or $HERALD_BIN) per test
#   PUSHER_HOST=127.0.0.1 PUSHER_PORT=6001 PUSHER_APP_ID=app-id PUSHER_APP_KEY=app-key \
#   PUSHER_APP_SECRET=app-secret ./run.sh      target mode: runs against that server
# Extra arguments are passed to node --test (e.g. a single file: ./run.sh tests/http-api.test.mjs).
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -d node_modules ]; then
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi

if [ -z "${PUSHER_HOST:-}" ]; then
  bin="${HERALD_BIN:-../target/release/herald}"
  if [ ! -x "$bin" ]; then
    echo "herald binary not found at $bin: run 'cargo build --release' first or set HERALD_BIN" >&2
    exit 2
  fi
fi

rm -rf .logs
if [ "$#" -gt 0 ]; then files=("$@"); else files=(tests/); fi
exec node --test \
  --test-concurrency="${TEST_CONCURRENCY:-1}" \
  --test-timeout="${TEST_TIMEOUT_MS:-60000}" \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./lib/compat-reporter.mjs --test-reporter-destination=stdout \
  "${files[@]}"
