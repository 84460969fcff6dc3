#!/usr/bin/env bash
# The examples in Debian's headless Chromium (issue 13). Needs ../../target/release/herald (or
# $HERALD_BIN) and /usr/bin/chromium (or $CHROMIUM); installs the examples' npm packages
# (pusher 5, pusher-js 8, laravel-echo 2, playwright-core without a browser download) itself.
# SCREENSHOTS=1 ./run.sh also rewrites the README's screenshots under docs/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bin="${HERALD_BIN:-../target/release/herald}"
[ -x "$bin" ] || { echo "herald binary not found at $bin: run 'cargo build --release' first" >&2; exit 2; }
[ $# -gt 0 ] || set -- test/*.test.mjs
exec node --test --test-concurrency=1 --test-timeout="${TEST_TIMEOUT_MS:-60000}" \
  --test-reporter=spec --test-reporter-destination=stdout "$@"
