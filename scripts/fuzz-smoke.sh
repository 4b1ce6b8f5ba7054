#!/usr/bin/env bash
# Bounded fuzz smoke run: runs each target in fuzz/ for FUZZ_SECONDS (default 10, 60 s for the
# six), starting from the committed seed corpus (copied, so the repo's corpus does not grow).
# Exits non-zero on any crash, assertion failure, leak or timeout.
#
# The targets come from the instrumented build shared with the ASan run (scripts/asan-env.sh:
# the flags `cargo fuzz build` uses, in target/asan); `make build-asan` builds them, and this
# script builds whatever is missing. Long campaigns: see fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/asan-env.sh

SECONDS_PER_TARGET=${FUZZ_SECONDS:-10}
TARGETS=(create forward backward fused typed dlpack)

start=$(date +%s)
cargo build "${ASAN_CARGO[@]}" -p mml-fuzz --bins

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    if [ -d "fuzz/corpus/$t" ]; then cp -r "fuzz/corpus/$t/." "$work/corpus/$t/"; fi
    log="$work/$t.log"
    if "$ASAN_BIN_DIR/$t" "$work/corpus/$t" \
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
                 "replay: $ASAN_BIN_DIR/$t fuzz/artifacts/$t/$(basename "$a")" >&2
        done
    fi
done
echo "fuzz-smoke: total $(( $(date +%s) - start ))s"
exit $status
