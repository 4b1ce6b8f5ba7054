/*
 * Instructions per call, for callgrind: the one measure of a small call that the noise of a
 * shared machine does not move. Runs CALLS calls of one entry point on one shape after a warm-up
 * call; run it twice under callgrind with different CALLS and divide the difference:
 *
 *   cc -std=c11 -O2 -Iinclude bench/icount.c -ldl -o target/bench/icount
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null target/bench/icount LIB N C OP CALLS
 *   (bench/icount.sh does both runs and prints the difference per call)
 *
 * OP: 0 forward, 1 backward, 2 fused; f32, or f64 with -DICOUNT_F64. p = 1, margin 1, no
 * weights, mean (ICOUNT_REDUCTION=0|1|2 for none, mean, sum). Valgrind runs the AVX2 path.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mml.h"

#ifdef ICOUNT_F64
typedef double real;
#define SUFFIX "_f64"
#else
typedef float real;
#define SUFFIX ""
#endif

typedef uint32_t (*create_fn)(uint32_t, double, const float *, size_t, uint32_t, MmlLoss **);
typedef uint32_t (*forward_fn)(const MmlLoss *, const real *, const int64_t *, size_t, size_t,
                               real *, size_t);
typedef uint32_t (*backward_fn)(const MmlLoss *, const real *, const int64_t *, size_t, size_t,
                                const real *, size_t, real *, size_t);
typedef uint32_t (*fused_fn)(const MmlLoss *, const real *, const int64_t *, size_t, size_t,
                             const real *, size_t, real *, size_t, real *, size_t);

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s lib.so N C OP CALLS\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    size_t n = strtoul(argv[2], NULL, 10), c = strtoul(argv[3], NULL, 10);
    int op = atoi(argv[4]), calls = atoi(argv[5]);
    const char *r = getenv("ICOUNT_REDUCTION");
    uint32_t reduction = r ? (uint32_t)atoi(r) : MML_REDUCTION_MEAN;
    create_fn create = (create_fn)dlsym(lib, "mml_create");
    forward_fn forward = (forward_fn)dlsym(lib, "mml_forward" SUFFIX);
    backward_fn backward = (backward_fn)dlsym(lib, "mml_backward" SUFFIX);
    fused_fn fused = (fused_fn)dlsym(lib, "mml_forward_backward" SUFFIX);
    MmlLoss *loss = NULL;
    if (!create || !forward || !backward || !fused ||
        create(1, 1.0, NULL, 0, reduction, &loss) != MML_STATUS_OK) {
        fprintf(stderr, "cannot set up %s\n", argv[1]);
        return 1;
    }
    size_t out_len = reduction == MML_REDUCTION_NONE ? n : 1;
    real *x = malloc(n * c * sizeof *x), *grad = malloc(n * c * sizeof *grad);
    real *out = malloc(out_len * sizeof *out), *up = malloc(out_len * sizeof *up);
    int64_t *t = malloc(n * sizeof *t);
    uint64_t s = 88172645463325252u;
    for (size_t i = 0; i < n * c; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (real)((double)(s >> 40) / (1u << 24) * 4.0 - 2.0);
    }
    for (size_t i = 0; i < n; i++) t[i] = (int64_t)(i * 7 % c);
    for (size_t i = 0; i < out_len; i++) up[i] = 1;
    uint32_t status = 0;
    for (int k = 0; k <= calls; k++) {
        if (op == 0) status |= forward(loss, x, t, n, c, out, out_len);
        else if (op == 1) status |= backward(loss, x, t, n, c, up, out_len, grad, n * c);
        else status |= fused(loss, x, t, n, c, up, out_len, out, out_len, grad, n * c);
    }
    printf("status %u, out[0] %g\n", status, (double)out[0]);
    return status != 0;
}
