#!/usr/bin/env bash
# RUSTC_WRAPPER for the instrumented build (scripts/asan-env.sh): adds libFuzzer's coverage
# instrumentation (MML_SANCOV_FLAGS) to the crates the fuzzer explores, the library and the
# fuzz targets, and to no other. Every crate gets AddressSanitizer through RUSTFLAGS; coverage
# in the dependencies and in the Rust test binaries would only slow their build and, through
# the compare hooks, the ASan run (the bolero and cargo-fuzz projects describe the same split).
# Cargo does not track this script's flags: after changing them, remove target/asan.
rustc=$1
shift
crate=""
prev=""
for arg in "$@"; do
    [ "$prev" = --crate-name ] && crate=$arg
    prev=$arg
done
case "$crate" in
    mml | mml_fuzz | create | forward | backward | fused)
        # shellcheck disable=SC2086  # a list of flags
        exec "$rustc" "$@" $MML_SANCOV_FLAGS ;;
    *) exec "$rustc" "$@" ;;
esac
