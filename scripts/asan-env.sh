# Sourced by scripts/asan.sh and scripts/fuzz-smoke.sh: the one instrumented build they share,
# in target/asan. Every crate compiles with AddressSanitizer (LeakSanitizer included) and
# `--cfg fuzzing`; the library and the fuzz targets also with libFuzzer's coverage
# instrumentation, the flags `cargo fuzz build` uses (cargo-fuzz 0.13: sancov with inline 8-bit
# counters, PC table, compare tracing and stack depth), added by scripts/rustc-sancov.sh. That
# one build serves both the Rust test suite under ASan and the fuzz targets; in the test
# binaries the library's coverage hooks are the ASan runtime's no-op defaults.
#
# The release profile at opt-level 1, with debug assertions and overflow checks on, LTO off and
# 16 codegen units: here the build, not the code's speed, dominates the time. The library and its
# dependencies took 370 s of CPU instrumented at opt-level 3, 297 s at 2 and 240 s at 1 (ASan
# alone at 3: 254 s; the release build: about 90 s). The installed stable toolchain ships the
# ASan runtime; RUSTC_BOOTSTRAP=1 lets it accept the nightly flags. `--cfg fuzzing` also makes the
# kernels compile only their copy that reads p and the weights from the call (`vector::Given`;
# the same loads and stores as the constant copies): the whole instrumented build took 3m45 of
# CPU instead of 7m50.

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${MML_ASAN_TARGET_DIR:-target/asan}
export RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes --cfg fuzzing"
export MML_SANCOV_FLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
-Cllvm-args=-sanitizer-coverage-stack-depth"
RUSTC_WRAPPER="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/rustc-sancov.sh"
export RUSTC_WRAPPER
ASAN_TRIPLE=${ASAN_TRIPLE:-x86_64-unknown-linux-gnu}
# --target keeps RUSTFLAGS away from build scripts and proc macros, which run on the host.
ASAN_CARGO=(--release --target "$ASAN_TRIPLE"
    --config profile.release.debug-assertions=true --config profile.release.overflow-checks=true
    --config profile.release.opt-level=1 --config profile.release.lto=false
    --config profile.release.codegen-units=16
    --config 'profile.release.debug="line-tables-only"')
ASAN_BIN_DIR=$CARGO_TARGET_DIR/$ASAN_TRIPLE/release
