/*
 * A/B timing of two (or more) builds of libmml.so in one process, call by call on the same
 * buffers: on a shared machine whose memory speed drifts by tens of percent between runs, this
 * is the comparison that drift does not swamp (bench/RESULTS.md quotes it as "A/B").
 *
 *   cc -std=c11 -O2 -Wall -Wextra -Iinclude bench/ab_mml.c -ldl -o target/bench/ab_mml
 *   target/bench/ab_mml old/libmml.so new/libmml.so N C OP ROUNDS INNER
 *
 * OP: 0 forward, 1 backward, 2 fused (f32, or f64 when built with -DAB_F64; p = 1 (AB_P), margin 1,
 * no weights (AB_WEIGHTED=1: 0.5 + j/64), mean, or the reduction AB_REDUCTION (0 none, 1 mean, 2 sum) from the environment;
 * 1 thread, or AB_THREADS threads from the environment: each library keeps its own pool). Each round times INNER calls of every library in turn; prints each library's
 * median and minimum per call over ROUNDS rounds, and the ratio of the second median to the
 * first.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mml.h"

/* -DAB_F64 times the double entry points (mml_forward_f64, ...) instead. */
#ifdef AB_F64
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
typedef uint32_t (*threads_fn)(size_t);

enum { MAX_LIBS = 4 };

struct lib {
    forward_fn forward;
    backward_fn backward;
    fused_fn fused;
    MmlLoss *loss;
    create_fn create;
};

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void *symbol(void *handle, const char *name) {
    void *s = dlsym(handle, name);
    if (!s) {
        fprintf(stderr, "%s: %s\n", name, dlerror());
        exit(1);
    }
    return s;
}

int main(int argc, char **argv) {
    struct lib libs[MAX_LIBS];
    int count = 0, a = 1;
    const char *threads_env = getenv("AB_THREADS");
    size_t threads = threads_env ? strtoul(threads_env, NULL, 10) : 1;
    /* AB_P=2 and AB_WEIGHTED=1 time the other kernel copies (weights 0.5 + j/64). */
    const char *p_env = getenv("AB_P"), *weighted_env = getenv("AB_WEIGHTED");
    uint32_t p = p_env ? (uint32_t)strtoul(p_env, NULL, 10) : 1;
    int weighted = weighted_env && atoi(weighted_env);
    const char *reduction_env = getenv("AB_REDUCTION");
    uint32_t reduction = reduction_env ? (uint32_t)strtoul(reduction_env, NULL, 10)
                                       : MML_REDUCTION_MEAN;
    for (; a < argc && strstr(argv[a], ".so") && count < MAX_LIBS; a++, count++) {
        /* A namespace of its own per library, so that each keeps its own symbols and pool. */
        void *h = dlmopen(LM_ID_NEWLM, argv[a], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "%s\n", dlerror());
            return 1;
        }
        libs[count].forward = (forward_fn)symbol(h, "mml_forward" SUFFIX);
        libs[count].backward = (backward_fn)symbol(h, "mml_backward" SUFFIX);
        libs[count].fused = (fused_fn)symbol(h, "mml_forward_backward" SUFFIX);
        if (((threads_fn)symbol(h, "mml_set_num_threads"))(threads) != MML_STATUS_OK) return 1;
        libs[count].create = (create_fn)symbol(h, "mml_create");
    }
    if (count == 0 || argc - a != 5) {
        fprintf(stderr, "usage: %s lib.so [lib.so ...] N C OP ROUNDS INNER\n", argv[0]);
        return 2;
    }
    size_t n = strtoul(argv[a], NULL, 10), c = strtoul(argv[a + 1], NULL, 10);
    int op = atoi(argv[a + 2]), rounds = atoi(argv[a + 3]), inner = atoi(argv[a + 4]);
    if (c == 0 || rounds <= 0 || inner <= 0) return 2;
    float *w = malloc(c * sizeof *w);
    if (!w) return 1;
    for (size_t j = 0; j < c; j++) w[j] = 0.5f + (float)j / 64;
    for (int l = 0; l < count; l++)
        if (libs[l].create(p, 1.0, weighted ? w : NULL, weighted ? c : 0, reduction,
                           &libs[l].loss) != MML_STATUS_OK)
            return 1;
    /* One value per library, or n of them without reduction; the upstream gradient alike. */
    size_t out_len = reduction == MML_REDUCTION_NONE ? n : 1;
    real *x = malloc(n * c * sizeof *x), *g = calloc(n * c, sizeof *g);
    real *out = calloc((size_t)count * out_len, sizeof *out), *up = malloc(out_len * sizeof *up);
    int64_t *t = malloc(n * sizeof *t);
    double *times = malloc((size_t)count * rounds * sizeof *times);
    if (!x || !g || !t || !times || !out || !up) return 1;
    for (size_t i = 0; i < out_len; i++) up[i] = 1;
    unsigned s = 1;
    for (size_t i = 0; i < n * c; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (real)((s >> 8) / (double)(1 << 24) * 4 - 2);
    }
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        t[i] = (int64_t)((s >> 8) % c);
    }
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < count; k++) {
            double t0 = now_ns();
            for (int i = 0; i < inner; i++) {
                uint32_t status;
                if (op == 0)
                    status = libs[k].forward(libs[k].loss, x, t, n, c, out + k * out_len, out_len);
                else if (op == 1)
                    status = libs[k].backward(libs[k].loss, x, t, n, c, up, out_len, g, n * c);
                else
                    status = libs[k].fused(libs[k].loss, x, t, n, c, up, out_len,
                                           out + k * out_len, out_len, g, n * c);
                if (status != MML_STATUS_OK) return 1;
            }
            times[k * rounds + r] = (now_ns() - t0) / inner;
        }
    }
    printf("%zux%zu op%d:", n, c, op);
    for (int k = 0; k < count; k++) {
        double *tk = times + (size_t)k * rounds;
        qsort(tk, (size_t)rounds, sizeof *tk, by_value);
        printf("  [%d] median %.0f ns, min %.0f ns", k, tk[rounds / 2], tk[0]);
    }
    if (count > 1)
        printf("  ratio %.3f", times[rounds + rounds / 2] / times[rounds / 2]);
    for (int k = 1; k < count; k++)
        if (memcmp(out + k * out_len, out, out_len * sizeof *out) != 0)
            printf("  RESULTS DIFFER");
    printf("\n");
    return 0;
}
