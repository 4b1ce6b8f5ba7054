#!/usr/bin/env bash
# The Rust test suite (the integration tests: the crate has no unit-test binary; not doctests)
# under AddressSanitizer with LeakSanitizer on, from the instrumented build it shares with the
# fuzz targets (scripts/asan-env.sh, target/asan).
#
#   scripts/asan.sh --build   builds the tests and the fuzz targets (`make build-asan`)
#   scripts/asan.sh [ARGS]    runs the tests (`make test-asan`); ARGS go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/asan-env.sh
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:abort_on_error=0:halt_on_error=1}

start=$(date +%s)
if [ "${1:-}" = --build ]; then
    cargo test "${ASAN_CARGO[@]}" -p mml --tests --no-run
    cargo build "${ASAN_CARGO[@]}" -p mml-fuzz --bins
    echo "asan: tests and fuzz targets built in $(( $(date +%s) - start ))s"
    exit 0
fi
# The kernel sweeps of tests/isa.rs run every fifth combination of shape and parameters here
# (every path and shape still runs; `make test-rust` runs them all): in full they were most of
# this run's time (156 s of 195).
MML_TEST_SUBSET=${MML_TEST_SUBSET:-5} cargo test "${ASAN_CARGO[@]}" -p mml --tests --no-fail-fast "$@"
echo "asan: Rust test suite passed under AddressSanitizer in $(( $(date +%s) - start ))s"
