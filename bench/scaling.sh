#!/bin/sh
# Thread scaling of the large shapes (criterion, forward/backward/fused on the AVX-512 and AVX2
# paths, beside the read and copy loops at the same thread count) at 1, 2, 4, 8 and 16 threads,
# for the 16-core device machine, which has no network and so cannot build.
#
#   bench/scaling.sh build      here: builds the criterion binary into target/bench/kernels
#   bench/scaling.sh run [OUT]  there (with target/bench carried): runs it, copies the criterion
#                               results to OUT (default target/scaling), and prints the table
#
# Afterwards `python3 bench/plot.py --no-png` over the copied results gives the GB/s table.
set -eu
cd "$(dirname "$0")/.."
case "${1:-}" in
build)
    bin=$(cargo bench --bench kernels --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "kernels" and m.get("executable"):
        print(m["executable"])')
    mkdir -p target/bench
    cp "$bin" target/bench/kernels
    echo "built target/bench/kernels"
    ;;
run)
    out=${2:-target/scaling}
    lscpu | grep -E 'Model name|^CPU\(s\)|NUMA node\(s\)|L3' || true
    CARGO_TARGET_DIR=target MML_BENCH_THREADS=${MML_BENCH_THREADS:-1,2,4,8,16} \
        target/bench/kernels --bench --noplot \
        '^(4096x1000|65536x100|65536x300|4194304x10|32768x1000)/(read|copy|forward|backward|fused)/(roof|avx2|avx512)/'
    mkdir -p "$out"
    cp -r target/criterion "$out/"
    ;;
*)
    echo "usage: $0 build | run [OUT]" >&2
    exit 2
    ;;
esac
