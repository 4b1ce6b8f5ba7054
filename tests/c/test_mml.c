/*
 * C test of mml through include/mml.h only. Built with -std=c99 -Wall -Wextra -Werror and
 * -fsanitize=address,undefined by `make test-c`. Results are compared bit for bit against a
 * plain C transcription of PyTorch's CPU loops (ISO C mode: no floating-point contraction).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mml.h"

static int passed, failed;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (cond) {                                                             \
            passed++;                                                           \
        } else {                                                                \
            failed++;                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                       \
    } while (0)

/* Bit equality, NaN sign and payload included. */
static int same_f(const float *a, const float *b, size_t len) {
    return memcmp(a, b, len * sizeof(float)) == 0;
}

static int same_d(const double *a, const double *b, size_t len) {
    return memcmp(a, b, len * sizeof(double)) == 0;
}

/* PyTorch's loops in C, for one precision. REDUCTION: 0 none, 1 mean, 2 sum. */
#define DEFINE_REFERENCE(T, SUFFIX)                                                             \
    static void ref_forward_##SUFFIX(int p, T margin, const T *w, int reduction, const T *x,  \
                                     const int64_t *t, size_t n, size_t c, T *out) {           \
        double acc = 0;                                                                        \
        for (size_t i = 0; i < n; i++) {                                                       \
            const T *row = x + i * c;                                                          \
            size_t y = (size_t)t[i];                                                           \
            T sum = 0;                                                                         \
            for (size_t j = 0; j < c; j++) {                                                   \
                if (j == y) continue;                                                          \
                T z = margin - row[y] + row[j];                                                \
                if (z > 0) {                                                                   \
                    T h = p == 1 ? z : z * z;                                                  \
                    if (w) h *= w[y];                                                          \
                    sum += h;                                                                  \
                }                                                                              \
            }                                                                                  \
            sum /= (T)c;                                                                       \
            if (reduction == 0) out[i] = sum; else acc += sum;                                 \
        }                                                                                      \
        if (reduction == 1) out[0] = (T)(acc / (double)n);                                     \
        if (reduction == 2) out[0] = (T)acc;                                                   \
    }                                                                                          \
    static void ref_backward_##SUFFIX(int p, T margin, const T *w, int reduction, const T *x, \
                                      const int64_t *t, size_t n, size_t c, const T *up,       \
                                      T *grad) {                                               \
        T g = reduction == 1 ? (T)(1. / (double)(n * c)) : (T)(1. / (double)c);                \
        for (size_t i = 0; i < n; i++) {                                                       \
            const T *row = x + i * c;                                                          \
            T *gr = grad + i * c;                                                              \
            size_t y = (size_t)t[i];                                                           \
            T gt = 0;                                                                          \
            for (size_t j = 0; j < c; j++) {                                                   \
                if (j == y) continue;                                                          \
                T z = margin - row[y] + row[j];                                                \
                if (z > 0) {                                                                   \
                    T h = p == 1 ? g : 2 * g * z;                                              \
                    if (w) h *= w[y];                                                          \
                    gt -= h;                                                                   \
                    gr[j] = h;                                                                 \
                } else {                                                                       \
                    gr[j] = 0;                                                                 \
                }                                                                              \
            }                                                                                  \
            gr[y] = gt;                                                                        \
        }                                                                                      \
        for (size_t i = 0; i < n * c; i++) grad[i] *= reduction == 0 ? up[i / c] : up[0];      \
    }

DEFINE_REFERENCE(float, f32)
DEFINE_REFERENCE(double, f64)

enum { N = 32, C = 10 };
static float x[N * C], up[N], w[C];
static double xd[N * C], upd[N], wd[C];
static int64_t t[N];

static uint32_t lcg_state = 12345u;
static float next_score(void) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    /* Multiples of 1/64 in [-2, 2): exact ties z == 0 happen. */
    return (float)((int)(lcg_state >> 26) - 32) / 16.0f;
}

static void make_data(void) {
    for (size_t i = 0; i < N * C; i++) { x[i] = next_score(); xd[i] = x[i]; }
    for (size_t i = 0; i < N; i++) {
        lcg_state = lcg_state * 1664525u + 1013904223u;
        t[i] = (int64_t)((lcg_state >> 16) % C);
        up[i] = next_score(); upd[i] = up[i];
    }
    x[7] = NAN; xd[7] = NAN; /* a NaN score must drop its term */
    for (size_t j = 0; j < C; j++) { w[j] = 0.25f + (float)j / 8.0f; wd[j] = w[j]; }
}

/* The seed's example and its variants: every p, weight and reduction, both precisions, all
 * three entry points, against the reference. */
static void test_results(void) {
    for (int p = 1; p <= 2; p++) {
        for (int weighted = 0; weighted <= 1; weighted++) {
            for (uint32_t reduction = 0; reduction <= 2; reduction++) {
                MmlLoss *loss = NULL;
                CHECK(mml_create((uint32_t)p, 1.0, weighted ? w : NULL, weighted ? C : 0, reduction,
                                 &loss) == MML_STATUS_OK);
                CHECK(loss != NULL);
                size_t out_len = reduction == MML_REDUCTION_NONE ? N : 1;
                float out[N], want[N], grad[N * C], want_grad[N * C], out2[N], grad2[N * C];
                ref_forward_f32(p, 1.0f, weighted ? w : NULL, (int)reduction, x, t, N, C, want);
                ref_backward_f32(p, 1.0f, weighted ? w : NULL, (int)reduction, x, t, N, C, up, want_grad);
                CHECK(mml_forward(loss, x, t, N, C, out, out_len) == MML_STATUS_OK);
                CHECK(same_f(out, want, out_len));
                CHECK(mml_backward(loss, x, t, N, C, up, out_len, grad, N * C) == MML_STATUS_OK);
                CHECK(same_f(grad, want_grad, N * C));
                CHECK(mml_forward_backward(loss, x, t, N, C, up, out_len, out2, out_len, grad2, N * C) ==
                      MML_STATUS_OK);
                CHECK(same_f(out2, want, out_len) && same_f(grad2, want_grad, N * C));

                double outd[N], wantd[N], gradd[N * C], want_gradd[N * C];
                ref_forward_f64(p, 1.0, weighted ? wd : NULL, (int)reduction, xd, t, N, C, wantd);
                ref_backward_f64(p, 1.0, weighted ? wd : NULL, (int)reduction, xd, t, N, C, upd, want_gradd);
                CHECK(mml_forward_f64(loss, xd, t, N, C, outd, out_len) == MML_STATUS_OK);
                CHECK(same_d(outd, wantd, out_len));
                CHECK(mml_backward_f64(loss, xd, t, N, C, upd, out_len, gradd, N * C) == MML_STATUS_OK);
                CHECK(same_d(gradd, want_gradd, N * C));
                CHECK(mml_forward_backward_f64(loss, xd, t, N, C, upd, out_len, outd, out_len, gradd, N * C) ==
                      MML_STATUS_OK);
                CHECK(same_d(outd, wantd, out_len) && same_d(gradd, want_gradd, N * C));
                mml_destroy(loss);
            }
        }
    }
}

static int untouched(const float *buf, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (buf[i] != -777.0f) return 0;
    return 1;
}

/* Every status, each with an output that must stay as it was. */
static void test_errors(void) {
    MmlLoss *loss = NULL, *none = NULL, *weighted = NULL;
    CHECK(mml_create(1, 1.0, NULL, 0, MML_REDUCTION_MEAN, &loss) == MML_STATUS_OK);
    CHECK(mml_create(1, 1.0, NULL, 0, MML_REDUCTION_NONE, &none) == MML_STATUS_OK);
    CHECK(mml_create(1, 1.0, w, C - 1, MML_REDUCTION_MEAN, &weighted) == MML_STATUS_OK);
    float out[N + 1], grad[N * C];
    for (size_t i = 0; i < N + 1; i++) out[i] = -777.0f;
    for (size_t i = 0; i < N * C; i++) grad[i] = -777.0f;

    MmlLoss *never = NULL;
    CHECK(mml_create(3, 1.0, NULL, 0, MML_REDUCTION_MEAN, &never) == MML_STATUS_INVALID_ARGUMENT);
    CHECK(mml_create(1, 1.0, NULL, 0, 7, &never) == MML_STATUS_INVALID_ARGUMENT);
    CHECK(mml_create(1, 1.0, NULL, 4, MML_REDUCTION_MEAN, &never) == MML_STATUS_NULL_POINTER);
    CHECK(mml_create(1, 1.0, NULL, 0, MML_REDUCTION_MEAN, NULL) == MML_STATUS_NULL_POINTER);
    CHECK(never == NULL);

    CHECK(mml_forward(NULL, x, t, N, C, out, 1) == MML_STATUS_NULL_POINTER);
    CHECK(mml_forward(loss, NULL, t, N, C, out, 1) == MML_STATUS_NULL_POINTER);
    CHECK(mml_forward(loss, x, t, N, 0, out, 1) == MML_STATUS_INVALID_ARGUMENT);
    CHECK(mml_forward(loss, x, t, SIZE_MAX / 2, C, out, 1) == MML_STATUS_INVALID_ARGUMENT);
    CHECK(mml_forward(loss, x, t, N, C, out, 2) == MML_STATUS_SHAPE_MISMATCH);
    CHECK(mml_forward(none, x, t, N, C, out, N + 1) == MML_STATUS_SHAPE_MISMATCH);
    CHECK(mml_forward(weighted, x, t, N, C, out, 1) == MML_STATUS_SHAPE_MISMATCH);
    CHECK(mml_backward(loss, x, t, N, C, up, 1, grad, N * C - 1) == MML_STATUS_SHAPE_MISMATCH);
    CHECK(mml_backward(none, x, t, N, C, up, 1, grad, N * C) == MML_STATUS_SHAPE_MISMATCH);

    int64_t bad[N];
    memcpy(bad, t, sizeof bad);
    bad[5] = C;
    CHECK(mml_forward(loss, x, bad, N, C, out, 1) == MML_STATUS_TARGET_OUT_OF_RANGE);
    CHECK(mml_backward(loss, x, bad, N, C, up, 1, grad, N * C) == MML_STATUS_TARGET_OUT_OF_RANGE);
    bad[5] = -1;
    CHECK(mml_forward_backward(loss, x, bad, N, C, up, 1, out, 1, grad, N * C) ==
          MML_STATUS_TARGET_OUT_OF_RANGE);
    size_t row = 0;
    int64_t value = 0;
    CHECK(mml_check_targets(bad, N, C, &row, &value) == MML_STATUS_TARGET_OUT_OF_RANGE);
    CHECK(row == 5 && value == -1);
    CHECK(mml_check_targets(t, N, C, NULL, NULL) == MML_STATUS_OK);

    /* output inside the input */
    float arena[N * C + N];
    memcpy(arena, x, sizeof x);
    CHECK(mml_forward(none, arena, t, N, C, arena + 3, N) == MML_STATUS_ALIASED_BUFFERS);
    CHECK(same_f(arena, x, N * C));
    CHECK(mml_forward_backward(loss, x, t, N, C, up, 1, grad + 4, 1, grad, N * C) == MML_STATUS_ALIASED_BUFFERS);

    CHECK(untouched(out, N + 1) && untouched(grad, N * C));
    CHECK(mml_set_num_threads(MML_MAX_THREADS + 1) == MML_STATUS_INVALID_ARGUMENT);

    /* every status has a distinct text, unknown codes too */
    for (uint32_t s = 0; s <= 7; s++) CHECK(mml_status_message(s) != NULL && strlen(mml_status_message(s)) > 0);
    CHECK(strcmp(mml_status_message(MML_STATUS_OK), mml_status_message(MML_STATUS_INTERNAL_ERROR)) != 0);
    CHECK(MML_STATUS_OUT_OF_MEMORY == 7 && strcmp(mml_status_message(MML_STATUS_OUT_OF_MEMORY), "out of memory") == 0);
    CHECK(strstr(mml_status_message(10), "unknown") != NULL);

    mml_destroy(loss);
    mml_destroy(none);
    mml_destroy(weighted);
    mml_destroy(NULL);
}

static void test_empty_batch_and_threads(void) {
    MmlLoss *mean = NULL, *sum = NULL;
    CHECK(mml_create(2, 1.0, NULL, 0, MML_REDUCTION_MEAN, &mean) == MML_STATUS_OK);
    CHECK(mml_create(2, 1.0, NULL, 0, MML_REDUCTION_SUM, &sum) == MML_STATUS_OK);
    float out = -1.0f;
    CHECK(mml_forward(mean, NULL, NULL, 0, C, &out, 1) == MML_STATUS_OK && isnan(out));
    CHECK(mml_forward(sum, NULL, NULL, 0, C, &out, 1) == MML_STATUS_OK && out == 0.0f);
    CHECK(mml_backward(sum, NULL, NULL, 0, C, up, 1, NULL, 0) == MML_STATUS_OK);

    CHECK(mml_set_num_threads(2) == MML_STATUS_OK && mml_get_num_threads() == 2);
    CHECK(mml_set_num_threads(0) == MML_STATUS_OK && mml_get_num_threads() >= 1);
    mml_destroy(mean);
    mml_destroy(sum);
}

/* mml_kernel_path names the path this process runs: MML_ISA's, lowered to the best one this CPU
 * has. Printed on every run, with the path the CPU lacks, so that a path that could not run is
 * never reported as tested. */
static void test_kernel_path(void) {
    static const char *const paths[] = {"scalar", "wide", "avx2", "avx512"};
    const char *path = mml_kernel_path(), *requested = getenv("MML_ISA");
    int got = -1, asked = -1, best = 1; /* wide: the portable vectors */
    for (int i = 0; i < 4; i++) {
        if (strcmp(path, paths[i]) == 0) got = i;
        if (requested && strcmp(requested, paths[i]) == 0) asked = i;
    }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = 2;
    if (best == 2 && __builtin_cpu_supports("avx512f")) best = 3;
#endif
    int expected = asked < 0 || asked > best ? best : asked;
    CHECK(got == expected);
    CHECK(mml_kernel_path() == path);
    printf("MML_ISA=%s: ran %s%s\n", requested ? requested : "(unset)", path,
           asked == 3 && best < 3 ? ": this CPU has no AVX-512"
           : asked == 2 && best < 2 ? ": this CPU has no AVX2 and FMA" : "");
}

int main(void) {
    test_kernel_path();
    CHECK(strcmp(mml_version(), MML_VERSION_STRING) == 0);
    CHECK(mml_abi_version() == MML_ABI_VERSION);
    make_data();
    test_results();
    test_errors();
    test_empty_batch_and_threads();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
