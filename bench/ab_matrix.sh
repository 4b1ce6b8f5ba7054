#!/bin/sh
# The A/B matrix of issue 24: every shape of bench/bench_mml.c, f32 and f64, forward, backward
# and fused, on 1 and 2 threads, each timed by bench/ab_mml.c with OLD and NEW loaded in one
# process (alternating call by call), REPEATS processes per case with the two libraries' order
# swapped every other time. Prints one line per case: the speed-up of NEW over OLD (old time /
# new time: above 1 is faster) of each process and their median.
# Usage: bench/ab_matrix.sh OLD.so NEW.so [REPEATS]   (MML_ISA=avx2|avx512 forces a path;
# AB_SHAPES="NxC ..." and AB_THREADS_LIST="1 2" narrow the matrix; AB_ROUNDS sets the rounds
# per process, 15 by default, 41 for shapes of at most 40960 scores.)
set -eu
cd "$(dirname "$0")/.."
old=$1 new=$2 repeats=${3:-3}
mkdir -p target/bench
${CC:-cc} -std=c11 -O2 -Wall -Wextra -Iinclude bench/ab_mml.c -ldl -o target/bench/ab_mml
${CC:-cc} -std=c11 -O2 -Wall -Wextra -DAB_F64 -Iinclude bench/ab_mml.c -ldl -o target/bench/ab_mml_f64
shapes=${AB_SHAPES:-"32x10 256x10 4096x10 4096x1000 65536x100 4194304x10 32768x1000 65536x300"}
# Calls per round: about 4 million scores a round (1-4 ms), at least one call.
inner() {
    n=${1%x*} c=${1#*x}
    i=$((4000000 / (n * c) ))
    [ "$i" -ge 1 ] || i=1
    echo "$i"
}
for threads in ${AB_THREADS_LIST:-1 2}; do
    for precision in f32 f64; do
        bin=target/bench/ab_mml
        [ "$precision" = f64 ] && bin=target/bench/ab_mml_f64
        for shape in $shapes; do
            n=${shape%x*} c=${shape#*x}
            rounds=${AB_ROUNDS:-15}
            [ $((n * c)) -le 40960 ] && rounds=${AB_ROUNDS:-41}
            for op in 0 1 2; do
                ratios=""
                r=0
                while [ "$r" -lt "$repeats" ]; do
                    if [ $((r % 2)) = 0 ]; then
                        # printed ratio: NEW time / OLD time
                        t=$(AB_THREADS=$threads "$bin" "$old" "$new" "$n" "$c" "$op" "$rounds" \
                            "$(inner "$shape")" | sed -n 's/.*ratio \([0-9.]*\).*/\1/p')
                        s=$(echo "$t" | awk '{printf "%.3f", 1 / $1}')
                    else
                        t=$(AB_THREADS=$threads "$bin" "$new" "$old" "$n" "$c" "$op" "$rounds" \
                            "$(inner "$shape")" | sed -n 's/.*ratio \([0-9.]*\).*/\1/p')
                        s=$(echo "$t" | awk '{printf "%.3f", $1}')
                    fi
                    ratios="$ratios $s"
                    r=$((r + 1))
                done
                median=$(echo "$ratios" | tr ' ' '\n' | sed '/^$/d' | sort -n |
                    awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
                echo "t$threads $precision $shape op$op speed-up$ratios median $median"
            done
        done
    done
done
