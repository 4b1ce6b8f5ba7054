/* Times mml through its C ABI only (include/mml.h, libmml.so): per-call nanoseconds for small
 * shapes, GB/s for large ones, median of repeated runs, beside a read loop and a copy loop over
 * the same bytes measured in the same run. Build and run with bench/run.sh. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mml.h"

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { RUNS = 15 };

/* Keeps results alive so the compiler cannot drop the loops. */
static volatile float sink;

typedef struct {
    size_t n, c;
    float *input, *grad, *copy, out, up;
    int64_t *target;
    MmlLoss *loss;
} Case;

static void op_forward(Case *k) {
    if (mml_forward(k->loss, k->input, k->target, k->n, k->c, &k->out, 1) != MML_STATUS_OK) abort();
}
static void op_backward(Case *k) {
    if (mml_backward(k->loss, k->input, k->target, k->n, k->c, &k->up, 1, k->grad, k->n * k->c) != MML_STATUS_OK)
        abort();
}
static void op_fused(Case *k) {
    if (mml_forward_backward(k->loss, k->input, k->target, k->n, k->c, &k->up, 1, &k->out, 1, k->grad,
                             k->n * k->c) != MML_STATUS_OK)
        abort();
}
static void op_read(Case *k) {
    float acc[16] = {0};
    size_t len = k->n * k->c, i = 0;
    for (; i + 16 <= len; i += 16)
        for (int l = 0; l < 16; l++) acc[l] += k->input[i + l];
    for (; i < len; i++) acc[0] += k->input[i];
    float s = 0;
    for (int l = 0; l < 16; l++) s += acc[l];
    sink = s;
}
static void op_copy(Case *k) {
    memcpy(k->copy, k->input, k->n * k->c * sizeof(float));
    sink = k->copy[k->n * k->c / 2];
}

/* Median nanoseconds per call: each run repeats the call `reps` times. */
static double median_ns(void (*op)(Case *), Case *k, int reps) {
    double t[RUNS];
    op(k);
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (int i = 0; i < reps; i++) op(k);
        t[r] = (now_ns() - t0) / reps;
    }
    qsort(t, RUNS, sizeof t[0], cmp_double);
    return t[RUNS / 2];
}

int main(int argc, char **argv) {
    static const size_t shapes[][2] = {{32, 10}, {256, 10}, {4096, 10}, {4096, 1000},
                                       {65536, 100}, {4194304, 10}, {32768, 1000},
                                       {65536, 300}};
    size_t threads = argc > 1 ? (size_t)atoi(argv[1]) : 1;
    if (mml_set_num_threads(threads) != MML_STATUS_OK) return 1;
    printf("mml %s, %zu thread(s); median of %d runs\n", mml_version(), mml_get_num_threads(), RUNS);
    printf("%-12s %11s %11s %11s %11s %11s | %8s %8s %8s %8s %8s\n", "shape", "fwd ns", "bwd ns", "fused ns",
           "read ns", "copy ns", "fwd GB/s", "bwd GB/s", "fus GB/s", "read", "copy");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        Case k = {.n = shapes[s][0], .c = shapes[s][1], .up = 1.0f};
        size_t len = k.n * k.c;
        k.input = malloc(len * sizeof(float));
        k.grad = malloc(len * sizeof(float));
        k.copy = malloc(len * sizeof(float));
        k.target = malloc(k.n * sizeof(int64_t));
        if (!k.input || !k.grad || !k.copy || !k.target) return 1;
        unsigned long long state = 88172645463325252ULL;
        for (size_t i = 0; i < len; i++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            k.input[i] = (float)(state >> 40) / (float)(1 << 24) * 4.0f - 2.0f;
        }
        for (size_t i = 0; i < k.n; i++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            k.target[i] = (int64_t)((state >> 33) % k.c);
        }
        if (mml_create(1, 1.0, NULL, 0, MML_REDUCTION_MEAN, &k.loss) != MML_STATUS_OK) return 1;
        /* About 2 ms per run. */
        int reps = (int)(2e6 / (double)(len + 64) * 1.0);
        if (reps < 1) reps = 1;
        double f = median_ns(op_forward, &k, reps), b = median_ns(op_backward, &k, reps),
               u = median_ns(op_fused, &k, reps), r = median_ns(op_read, &k, reps),
               c = median_ns(op_copy, &k, reps);
        double in = (double)len * 4, tg = (double)k.n * 8;
        char name[32];
        snprintf(name, sizeof name, "%zux%zu", k.n, k.c);
        printf("%-12s %11.0f %11.0f %11.0f %11.0f %11.0f | %8.2f %8.2f %8.2f %8.2f %8.2f\n", name, f, b, u, r, c,
               (in + tg) / f, (2 * in + tg) / b, (2 * in + tg) / u, in / r, 2 * in / c);
        mml_destroy(k.loss);
        free(k.input);
        free(k.grad);
        free(k.copy);
        free(k.target);
    }
    return 0;
}
