#!/bin/sh
# Instructions per call of one entry point on one shape, from two callgrind runs of
# bench/icount.c (CALLS and 2·CALLS calls): deterministic, so libraries compare on a noisy
# machine. Usage: bench/icount.sh LIB.so N C OP [CALLS]   (OP 0 forward, 1 backward, 2 fused;
# ICOUNT_F64=1 for the double entry points, ICOUNT_REDUCTION=0|1|2). Valgrind runs AVX2 code.
set -eu
cd "$(dirname "$0")/.."
lib=$1 n=$2 c=$3 op=$4 calls=${5:-100}
mkdir -p target/bench
flags=""
[ "${ICOUNT_F64:-0}" = 1 ] && flags="-DICOUNT_F64"
bin=target/bench/icount${ICOUNT_F64:+_f64}
${CC:-cc} -std=c11 -O2 $flags -Iinclude bench/icount.c -ldl -o "$bin"
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$lib" "$n" "$c" "$op" "$1" 2>&1 |
        sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
a=$(count "$calls")
b=$(count $((2 * calls)))
echo "$lib ${n}x${c} op$op: $(( (b - a) / calls )) instructions per call"
