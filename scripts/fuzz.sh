#!/usr/bin/env bash
# Run every cargo-fuzz target in fuzz/ for a bounded time (issue 12, part 5).
#
#   scripts/fuzz.sh [seconds-per-target] [target ...]   (default 60 s, every target)
#
# Builds all targets in one `cargo +nightly fuzz build` (release, debug assertions and
# overflow checks on, AddressSanitizer), then runs each built binary for the given time,
# one after another (2-core box); runs never rebuild, so they test exactly that build.
# New corpus entries go to fuzz/target/corpus/<target>; the checked-in seeds in
# fuzz/corpus/<target> are read, never written; fuzz/dicts/<target>.dict, when there is
# one, gives libFuzzer the names a config or frame uses. A crash stops the run with exit 1;
# its input is in fuzz/artifacts/<target>/ (turn it into a regression test, see README.md).
# Prints one line per target: seconds, executions, corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
command -v cargo >/dev/null || { echo "fuzz.sh: cargo is not installed" >&2; exit 2; }
rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)

triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
start=$(date +%s)
(cd fuzz && cargo +nightly fuzz build -O -a)
echo "fuzz: built ${#targets[@]} targets in $(( $(date +%s) - start )) s"

summary=()
for t in "${targets[@]}"; do
    work="fuzz/target/corpus/$t"
    log="fuzz/target/fuzz-$t.log"
    mkdir -p "$work" "fuzz/artifacts/$t"
    dict=()
    [ -f "fuzz/dicts/$t.dict" ] && dict=(-dict="dicts/$t.dict")
    t0=$(date +%s)
    if ! (cd fuzz && "target/$triple/release/$t" "target/corpus/$t" "corpus/$t" \
        -artifact_prefix="artifacts/$t/" -max_total_time="$seconds" -print_final_stats=1 \
        -max_len=8192 "${dict[@]}") >"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/, the log in $log" >&2
        exit 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    corpus=$(find "$work" -type f | wc -l)
    summary+=("$(printf '%-20s %4d s %10s execs %6d corpus' "$t" "$(( $(date +%s) - t0 ))" "${execs:-?}" "$corpus")")
done
printf '%s\n' "${summary[@]}"
echo "fuzz: ${#targets[@]} targets clean in $(( $(date +%s) - start )) s"
