#!/usr/bin/env bash
# Bounded fuzz smoke run: builds every target in fuzz/ and runs each for FUZZ_SECONDS (default 10,
# 40 s for the four), starting from the committed seed corpus (copied, so the repo's
# corpus does not grow). Exits non-zero on any crash, assertion failure, leak or timeout.
#
# The targets are built with the exact flags `cargo fuzz build` (cargo-fuzz 0.13) uses (coverage
# instrumentation, AddressSanitizer, debug assertions, `--cfg fuzzing`), through plain cargo:
# nothing to install, and the build is shared with a later `cargo fuzz run`. The installed stable
# toolchain accepts the nightly flags with RUSTC_BOOTSTRAP=1.
#
# `--build-only` stops after the build (`make prebuild` compiles it beside the ASan build).
#
# Long campaigns: see fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-10}
TRIPLE=${FUZZ_TRIPLE:-x86_64-unknown-linux-gnu}
TARGETS=(create forward backward fused)

export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Zsanitizer=address \
-Cllvm-args=-sanitizer-coverage-stack-depth -Cdebug-assertions -Ccodegen-units=1"

start=$(date +%s)
cargo build --manifest-path fuzz/Cargo.toml --target "$TRIPLE" --release \
    --config 'profile.release.debug="line-tables-only"' --bins
echo "fuzz-smoke: built in $(( $(date +%s) - start ))s"
if [ "${1:-}" = --build-only ]; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    if [ -d "fuzz/corpus/$t" ]; then cp -r "fuzz/corpus/$t/." "$work/corpus/$t/"; fi
    log="$work/$t.log"
    if "fuzz/target/$TRIPLE/release/$t" "$work/corpus/$t" \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$t/" >"$log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "fuzz-smoke: $t ok (${execs:-?} executions in ${SECONDS_PER_TARGET}s)"
    else
        status=1
        echo "fuzz-smoke: $t FAILED; last lines of its log:" >&2
        tail -n 60 "$log" >&2
        for a in "$work/artifacts/$t"/*; do
            [ -e "$a" ] || continue
            mkdir -p fuzz/artifacts/"$t"
            cp "$a" fuzz/artifacts/"$t"/
            echo "fuzz-smoke: reproducer saved as fuzz/artifacts/$t/$(basename "$a");" \
                 "replay: RUSTC_BOOTSTRAP=1 cargo fuzz run $t fuzz/artifacts/$t/$(basename "$a")" >&2
        done
    fi
done
echo "fuzz-smoke: total $(( $(date +%s) - start ))s"
exit $status
