#!/bin/sh
# Builds the release library and the C harness, then runs it on 1 and 2 threads.
# Usage: bench/run.sh [threads...]   (default: 1 2). MML_ISA=scalar|wide|avx2|avx512 forces a path.
set -eu
cd "$(dirname "$0")/.."
make -s build   # the library, and libmml.so.0.1 (its SONAME) beside it for the loader
mkdir -p target/bench
${CC:-cc} -std=c99 -O2 -Wall -Wextra -Werror -Iinclude bench/bench_mml.c -Ltarget/release -lmml \
    -Wl,-rpath,"$PWD/target/release" -o target/bench/bench_mml
for t in ${@:-1 2}; do
    target/bench/bench_mml "$t"
done
