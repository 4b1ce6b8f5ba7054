#!/usr/bin/env bash
# Runs the Rust test suite (integration and example tests: the crate has no unit-test binary;
# not doctests) under AddressSanitizer, with LeakSanitizer on. The installed stable toolchain
# ships the ASan runtime; RUSTC_BOOTSTRAP=1 lets it accept -Zsanitizer. Release optimisation
# keeps the run short, with debug assertions and overflow checks switched back on, LTO off and
# 16 codegen units (the build, not the tests, dominates the time), and the `fault-injection`
# feature as in `make test-rust` (a panic caught at the C boundary). Separate target dir:
# target/asan. Arguments go to `cargo test` (`make prebuild` passes `--no-run`).
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:abort_on_error=0:halt_on_error=1}
TRIPLE=${ASAN_TRIPLE:-x86_64-unknown-linux-gnu}

start=$(date +%s)
cargo test --target "$TRIPLE" --release \
    --config profile.release.debug-assertions=true --config profile.release.overflow-checks=true \
    --config profile.release.lto=false --config profile.release.codegen-units=16 \
    --features fault-injection --no-fail-fast --bins --tests --examples "$@"
case " $* " in
    *" --no-run "*) echo "asan: Rust test suite built (not run) in $(( $(date +%s) - start ))s" ;;
    *) echo "asan: Rust test suite passed under AddressSanitizer in $(( $(date +%s) - start ))s" ;;
esac
