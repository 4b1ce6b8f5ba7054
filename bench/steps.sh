#!/bin/sh
# Instructions of one call of an entry point, counted by single-stepping it in gdb (any kernel
# path: MML_ISA=avx512 included, which valgrind cannot run), with the loads a recent store
# cannot forward to. Usage: bench/steps.sh LIB.so N C OP   (OP 0 forward, 1 backward, 2 fused;
# f32, mean; ICOUNT_F64=1 and ICOUNT_REDUCTION as for bench/icount.sh). Needs gdb. See bench/steps.py.
set -eu
cd "$(dirname "$0")/.."
lib=$(realpath "$1") n=$2 c=$3 op=$4
case $op in 0) symbol=mml_forward ;; 1) symbol=mml_backward ;; *) symbol=mml_forward_backward ;; esac
[ "${ICOUNT_F64:-0}" = 1 ] && symbol=${symbol}_f64
mkdir -p target/bench
flags="" bin=target/bench/icount
[ "${ICOUNT_F64:-0}" = 1 ] && flags="-DICOUNT_F64" bin=target/bench/icount_f64
${CC:-cc} -std=c11 -O2 $flags -Iinclude bench/icount.c -ldl -o "$bin"
STEPS_SYMBOL=$symbol gdb -q -batch -x bench/steps.py --args "$bin" "$lib" "$n" "$c" "$op" 3 2>&1 |
    sed -n '/instructions in one call/,/^\[Inferior/p' | grep -v '^\[Inferior\|^Kill the program'
