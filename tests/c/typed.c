/*
 * The typed entry points (mml_forward_typed, mml_backward_typed, mml_forward_backward_typed),
 * mml_create_f64, MmlError and mml_explain, through include/mml.h only.
 *
 * - Every case of tests/data/formats.json (bf16, f16 and float64 with float64 weights) and of
 *   tests/data/multi_margin_loss.json (float32, and float64 from the same float32 data) bit for
 *   bit, on 1 and 2 threads: forward, backward with the gradient in float32/float64 and in the
 *   half type, fused; with int64 and int32 targets; with a row pitch above c for the scores and
 *   for the gradient (the values between rows poisoned, and left untouched in the gradient);
 *   `none` and `sum` cases repeated into a batch large enough for the pool.
 * - Every refusal: its specific status, the detail (argument, expected, actual, row, value,
 *   message), and poisoned outputs unchanged.
 * - mml_explain gives the status of each refused untyped call.
 *
 * `make test-c` runs it once per MML_ISA. Expected "nan" values are compared as "a NaN"; every
 * other variant of a call is compared with the first one bit for bit, NaN payloads included.
 * Data directory: argv[1], else tests/data (run from the repository root).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"

/* ---- the variants of one case ---- */

/* Rows of `c` elements of `es` bytes copied `pitch` elements apart, the gaps poisoned. */
static unsigned char *pitched(const unsigned char *src, size_t n, size_t c, size_t pitch, size_t es) {
    size_t span = n ? (n - 1) * pitch + c : 0, i;
    unsigned char *dst = xmalloc(span * es);
    memset(dst, POISON, span * es);
    for (i = 0; i < n; i++) memcpy(dst + i * pitch * es, src + i * c * es, c * es);
    return dst;
}

/* grad_es: bytes of the gradient's type; grad_dtype its code. */
static void run_case(const struct tcase *k) {
    size_t n = k->n, c = k->c, nc = n * c, i, g;
    MmlError err;
    unsigned char *out = xmalloc(k->out_len * k->fs), *out2 = xmalloc(k->out_len * k->fs);
    unsigned char *grad = xmalloc(nc * 8), *grad2 = xmalloc(nc * 8);
    /* the gradient in the computing float, then (half cases) in the half type */
    for (g = 0; g < (k->es == 2 ? 2u : 1u); g++) {
        uint32_t gd = g == 0 ? (k->fs == 4 ? MML_DTYPE_FLOAT32 : MML_DTYPE_FLOAT64) : k->dtype;
        size_t gs = g == 0 ? k->fs : 2;
        memset(out, POISON, k->out_len * k->fs);
        memset(&err, POISON, sizeof err);
        CHECK(mml_forward_typed(k->loss, k->dtype, k->input, c, MML_DTYPE_INT64, k->t64, n, c, out,
                                k->out_len, &err) == MML_STATUS_OK);
        CHECK(err.status == MML_STATUS_OK && strcmp(err.message, "ok") == 0 &&
              err.argument == MML_ARG_NONE);
        CHECK(matches(out, k->want_out, k->out_nan, k->out_len, k->fs));

        memset(grad, POISON, nc * gs);
        CHECK(mml_backward_typed(k->loss, k->dtype, k->input, c, MML_DTYPE_INT64, k->t64, n, c, k->up,
                                 k->out_len, gd, grad, c, NULL) == MML_STATUS_OK);
        if (g == 0) CHECK(matches(grad, k->want_grad, k->grad_nan, nc, k->fs));
        else CHECK(memcmp(grad, k->want_half, nc * 2) == 0);

        /* fused: the same bits as the separate calls */
        memset(out2, POISON, k->out_len * k->fs);
        memset(grad2, POISON, nc * gs);
        CHECK(mml_forward_backward_typed(k->loss, k->dtype, k->input, c, MML_DTYPE_INT64, k->t64, n, c,
                                         k->up, k->out_len, out2, k->out_len, gd, grad2, c,
                                         &err) == MML_STATUS_OK);
        CHECK(memcmp(out2, out, k->out_len * k->fs) == 0 && memcmp(grad2, grad, nc * gs) == 0);

        /* int32 targets */
        memset(out2, POISON, k->out_len * k->fs);
        memset(grad2, POISON, nc * gs);
        CHECK(mml_forward_backward_typed(k->loss, k->dtype, k->input, c, MML_DTYPE_INT32, k->t32, n, c,
                                         k->up, k->out_len, out2, k->out_len, gd, grad2, c,
                                         NULL) == MML_STATUS_OK);
        CHECK(memcmp(out2, out, k->out_len * k->fs) == 0 && memcmp(grad2, grad, nc * gs) == 0);

        /* rows further apart than c, in the scores and in the gradient */
        {
            size_t ip = c + 3, gp = c + 5, gspan = n ? (n - 1) * gp + c : 0;
            unsigned char *pin = pitched(k->input, n, c, ip, k->es);
            unsigned char *pgrad = xmalloc(gspan * gs + 1);
            unsigned char *back = pitched(grad, n, c, gp, gs);
            memset(pgrad, POISON, gspan * gs);
            memset(out2, POISON, k->out_len * k->fs);
            CHECK(mml_forward_backward_typed(k->loss, k->dtype, pin, ip, MML_DTYPE_INT32, k->t32, n, c,
                                             k->up, k->out_len, out2, k->out_len, gd, pgrad, gp,
                                             NULL) == MML_STATUS_OK);
            CHECK(memcmp(out2, out, k->out_len * k->fs) == 0);
            /* every row's values as contiguous, every gap still poisoned */
            CHECK(memcmp(pgrad, back, gspan * gs) == 0);
            memset(out2, POISON, k->out_len * k->fs);
            CHECK(mml_forward_typed(k->loss, k->dtype, pin, ip, MML_DTYPE_INT64, k->t64, n, c, out2,
                                    k->out_len, NULL) == MML_STATUS_OK);
            CHECK(memcmp(out2, out, k->out_len * k->fs) == 0);
            free(pin); free(pgrad); free(back);
        }

        /* none and sum repeated past the parallel threshold: every repeat's rows as the case's */
        if (k->reduction != MML_REDUCTION_MEAN && nc > 0) {
            size_t copies = 131072 / nc + 2, bn = n * copies, bout = k->reduction ? 1 : bn;
            unsigned char *bin = xmalloc(bn * c * k->es), *bup = xmalloc(bout * k->fs);
            unsigned char *bo = xmalloc(bout * k->fs), *bg = xmalloc(bn * c * gs);
            int32_t *bt = xmalloc(bn * sizeof *bt);
            for (i = 0; i < copies; i++) {
                memcpy(bin + i * nc * k->es, k->input, nc * k->es);
                memcpy(bt + i * n, k->t32, n * sizeof *bt);
                if (!k->reduction) memcpy(bup + i * n * k->fs, k->up, n * k->fs);
            }
            if (k->reduction) memcpy(bup, k->up, k->fs);
            CHECK(mml_forward_backward_typed(k->loss, k->dtype, bin, c, MML_DTYPE_INT32, bt, bn, c, bup,
                                             bout, bo, bout, gd, bg, c, NULL) == MML_STATUS_OK);
            for (i = 0; i < copies; i++) {
                CHECK(memcmp(bg + i * nc * gs, grad, nc * gs) == 0);
                if (!k->reduction) CHECK(memcmp(bo + i * n * k->fs, out, n * k->fs) == 0);
            }
            free(bin); free(bup); free(bo); free(bg); free(bt);
        }
    }
    free(out); free(out2); free(grad); free(grad2);
}

/* A summed batch of repeats on 1 and 2 threads: the same bits (the engine's fixed blocks). */
static void sum_threads_agree(const struct tcase *k) {
    size_t nc = k->n * k->c, copies, bn, i;
    unsigned char *bin, one[8], two[8];
    if (nc == 0) return;
    copies = 2 * 131072 / nc + 3;
    bn = k->n * copies;
    bin = xmalloc(bn * k->c * k->es);
    {
        int64_t *bt = xmalloc(bn * sizeof *bt);
        MmlLoss *sum = NULL;
        for (i = 0; i < copies; i++) {
            memcpy(bin + i * nc * k->es, k->input, nc * k->es);
            memcpy(bt + i * k->n, k->t64, k->n * sizeof *bt);
        }
        CHECK(mml_create(2, 0.75, NULL, 0, MML_REDUCTION_SUM, &sum) == MML_STATUS_OK);
        CHECK(mml_set_num_threads(1) == MML_STATUS_OK);
        CHECK(mml_forward_typed(sum, k->dtype, bin, k->c, MML_DTYPE_INT64, bt, bn, k->c, one, 1, NULL) ==
              MML_STATUS_OK);
        CHECK(mml_set_num_threads(2) == MML_STATUS_OK);
        CHECK(mml_forward_typed(sum, k->dtype, bin, k->c, MML_DTYPE_INT64, bt, bn, k->c, two, 1, NULL) ==
              MML_STATUS_OK);
        CHECK(memcmp(one, two, k->fs) == 0);
        mml_destroy(sum);
        free(bt);
    }
    free(bin);
}

static size_t run_file(const char *dir, const char *file, int golden) {
    char path[1024];
    json root;
    size_t i, count = 0;
    int threads;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    root = json_load(path);
    CHECK(root.kind == JSON_ARRAY && root.len > 0);
    for (threads = 1; threads <= 2; threads++) {
        CHECK(mml_set_num_threads((size_t)threads) == MML_STATUS_OK);
        for (i = 0; i < root.len; i++) {
            struct tcase k;
            count++;
            if (i % subset != 0) continue;
            k = load_case(json_at(&root, i), golden);
            snprintf(current, sizeof current, "%s (%s) on %d thread(s)", k.name, file, threads);
            run_case(&k);
            if (threads == 1 && i % 16 == 0) sum_threads_agree(&k);
            free_case(&k);
        }
    }
    CHECK(mml_set_num_threads(0) == MML_STATUS_OK);
    json_free(&root);
    return count / 2;
}

/* ---- refusals ---- */

static uint16_t h16[4 * 5];
static float f32s[4 * 5 + 64];
static int64_t t64s[4] = {0, 1, 2, 3};
static int32_t t32s[4] = {0, 1, 2, 3};

#define EXPECT(call, st, arg)                                                   \
    do {                                                                        \
        memset(&err, POISON, sizeof err);                                       \
        memset(out, POISON, sizeof out);                                        \
        memset(grad, POISON, sizeof grad);                                      \
        CHECK((call) == (st));                                                  \
        CHECK(err.status == (st) && err.argument == (arg));                     \
        CHECK(memchr(err.message, '\0', sizeof err.message) != NULL &&          \
              strlen(err.message) > 0);                                         \
        CHECK(all_poison(out, sizeof out) && all_poison(grad, sizeof grad));    \
    } while (0)

static void test_refusals(void) {
    enum { N = 4, C = 5 };
    MmlLoss *mean = NULL, *none = NULL, *weighted = NULL, *never = NULL;
    unsigned char out[64], grad[256];
    MmlError err;
    float w[C - 1] = {1, 2, 3, 4};
    double wd[C] = {1, 2, 3, 4, 5};
    size_t i;
    snprintf(current, sizeof current, "refusals");
    for (i = 0; i < N * C; i++) { h16[i] = (uint16_t)(0x3F80 + i); f32s[i] = (float)i / 8.0f; }
    CHECK(mml_create(2, 1.0, NULL, 0, MML_REDUCTION_MEAN, &mean) == MML_STATUS_OK);
    CHECK(mml_create(1, 1.0, NULL, 0, MML_REDUCTION_NONE, &none) == MML_STATUS_OK);
    CHECK(mml_create_f64(1, 0.5, wd, C - 1, MML_REDUCTION_MEAN, &weighted) == MML_STATUS_OK);
    CHECK(mml_create_f64(3, 1.0, wd, C, MML_REDUCTION_MEAN, &never) == MML_STATUS_INVALID_ARGUMENT);
    CHECK(mml_create_f64(1, 1.0, NULL, C, MML_REDUCTION_MEAN, &never) == MML_STATUS_NULL_POINTER);
    CHECK(mml_create_f64(1, 1.0, wd, C, 9, &never) == MML_STATUS_INVALID_ARGUMENT);
    CHECK(mml_create_f64(1, 1.0, wd, C, MML_REDUCTION_SUM, NULL) == MML_STATUS_NULL_POINTER);
    CHECK(never == NULL);
    (void)w;

    /* success fills the detail too */
    memset(&err, POISON, sizeof err);
    CHECK(mml_forward_typed(mean, MML_DTYPE_BFLOAT16, h16, C, MML_DTYPE_INT32, t32s, N, C, out, 1, &err) ==
          MML_STATUS_OK);
    CHECK(err.status == MML_STATUS_OK && err.argument == MML_ARG_NONE && err.expected == 0 &&
          err.actual == 0 && err.row == 0 && err.value == 0 && strcmp(err.message, "ok") == 0);

#define OUTF ((float *)(void *)out)
    EXPECT(mml_forward_typed(NULL, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, OUTF, 1, &err),
           MML_STATUS_NULL_POINTER, MML_ARG_LOSS);
    EXPECT(mml_forward_typed(mean, 9, f32s, C, MML_DTYPE_INT64, t64s, N, C, OUTF, 1, &err),
           MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_DTYPE);
    CHECK(err.actual == 9 && strstr(err.message, "dtype 9") != NULL);
    EXPECT(mml_forward_typed(mean, MML_DTYPE_INT64, f32s, C, MML_DTYPE_INT64, t64s, N, C, OUTF, 1, &err),
           MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_DTYPE);
    EXPECT(mml_forward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_FLOAT32, t64s, N, C, OUTF, 1, &err),
           MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_DTYPE);
    CHECK(strstr(err.message, "target_dtype") != NULL);
    EXPECT(mml_backward_typed(mean, MML_DTYPE_BFLOAT16, h16, C, MML_DTYPE_INT64, t64s, N, C, f32s, 1,
                              MML_DTYPE_FLOAT64, grad, C, &err),
           MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_DTYPE);
    CHECK(err.expected == MML_DTYPE_BFLOAT16 && err.actual == MML_DTYPE_FLOAT64);
    EXPECT(mml_backward_typed(mean, MML_DTYPE_FLOAT16, h16, C, MML_DTYPE_INT64, t64s, N, C, f32s, 1,
                              MML_DTYPE_BFLOAT16, grad, C, &err),
           MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_DTYPE);
    EXPECT(mml_backward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, f32s, 1,
                              MML_DTYPE_FLOAT16, grad, C, &err),
           MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_DTYPE);
    EXPECT(mml_forward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, 0, OUTF, 1, &err),
           MML_STATUS_INVALID_ARGUMENT, MML_ARG_CLASSES);
    EXPECT(mml_forward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, SIZE_MAX / 2, C, OUTF,
                             1, &err),
           MML_STATUS_INVALID_ARGUMENT, MML_ARG_INPUT);
    /* pitches */
    EXPECT(mml_forward_typed(mean, MML_DTYPE_FLOAT32, f32s, C - 1, MML_DTYPE_INT64, t64s, N, C, OUTF, 1,
                             &err),
           MML_STATUS_INVALID_LAYOUT, MML_ARG_INPUT);
    CHECK(err.expected == C && err.actual == C - 1);
    EXPECT(mml_backward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, f32s, 1,
                              MML_DTYPE_FLOAT32, grad, 0, &err),
           MML_STATUS_INVALID_LAYOUT, MML_ARG_GRAD_INPUT);
    CHECK(err.expected == C && err.actual == 0);
    EXPECT(mml_forward_typed(mean, MML_DTYPE_FLOAT32, f32s, SIZE_MAX / 2, MML_DTYPE_INT64, t64s, N, C, OUTF,
                             1, &err),
           MML_STATUS_INVALID_LAYOUT, MML_ARG_INPUT);
    CHECK(strstr(err.message, "overflow") != NULL);
    EXPECT(mml_backward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, f32s, 1,
                              MML_DTYPE_FLOAT32, grad, SIZE_MAX / 3, &err),
           MML_STATUS_INVALID_LAYOUT, MML_ARG_GRAD_INPUT);
    /* a pitch whose extent fits size_t but not the address space in bytes */
    EXPECT(mml_forward_typed(mean, MML_DTYPE_FLOAT64, f32s, SIZE_MAX / 16, MML_DTYPE_INT64, t64s, 2, C,
                             OUTF, 1, &err),
           MML_STATUS_INVALID_LAYOUT, MML_ARG_INPUT);
    /* pointers */
    EXPECT(mml_forward_typed(mean, MML_DTYPE_FLOAT32, NULL, C, MML_DTYPE_INT64, t64s, N, C, OUTF, 1, &err),
           MML_STATUS_NULL_POINTER, MML_ARG_INPUT);
    CHECK(strstr(err.message, "input is NULL") != NULL);
    EXPECT(mml_forward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT32, NULL, N, C, OUTF, 1, &err),
           MML_STATUS_NULL_POINTER, MML_ARG_TARGET);
    EXPECT(mml_forward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, NULL, 1, &err),
           MML_STATUS_NULL_POINTER, MML_ARG_OUTPUT);
    EXPECT(mml_backward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, NULL, 1,
                              MML_DTYPE_FLOAT32, grad, C, &err),
           MML_STATUS_NULL_POINTER, MML_ARG_GRAD_OUTPUT);
    EXPECT(mml_backward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, f32s, 1,
                              MML_DTYPE_FLOAT32, NULL, C, &err),
           MML_STATUS_NULL_POINTER, MML_ARG_GRAD_INPUT);
    EXPECT(mml_forward_typed(mean, MML_DTYPE_FLOAT32, (unsigned char *)f32s + 1, C, MML_DTYPE_INT64, t64s,
                             N, C, OUTF, 1, &err),
           MML_STATUS_INVALID_ARGUMENT, MML_ARG_INPUT);
    CHECK(strstr(err.message, "aligned to 4 bytes") != NULL);
    EXPECT(mml_forward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, (unsigned char *)t64s + 4,
                             N, C, OUTF, 1, &err),
           MML_STATUS_INVALID_ARGUMENT, MML_ARG_TARGET);
    EXPECT(mml_backward_typed(mean, MML_DTYPE_BFLOAT16, h16, C, MML_DTYPE_INT64, t64s, N, C, f32s, 1,
                              MML_DTYPE_BFLOAT16, grad + 1, C, &err),
           MML_STATUS_INVALID_ARGUMENT, MML_ARG_GRAD_INPUT);
    /* lengths and weights */
    EXPECT(mml_forward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, OUTF, 2, &err),
           MML_STATUS_SHAPE_MISMATCH, MML_ARG_OUTPUT);
    CHECK(err.expected == 1 && err.actual == 2 && strstr(err.message, "output has 2") != NULL);
    EXPECT(mml_forward_typed(none, MML_DTYPE_FLOAT16, h16, C, MML_DTYPE_INT64, t64s, N, C, OUTF, N - 1, &err),
           MML_STATUS_SHAPE_MISMATCH, MML_ARG_OUTPUT);
    CHECK(err.expected == N && err.actual == N - 1);
    EXPECT(mml_backward_typed(none, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, f32s, 1,
                              MML_DTYPE_FLOAT32, grad, C, &err),
           MML_STATUS_SHAPE_MISMATCH, MML_ARG_GRAD_OUTPUT);
    CHECK(err.expected == N && err.actual == 1);
    EXPECT(mml_forward_typed(weighted, MML_DTYPE_FLOAT64, f32s, C, MML_DTYPE_INT64, t64s, 2, C, out, 1, &err),
           MML_STATUS_SHAPE_MISMATCH, MML_ARG_WEIGHT);
    CHECK(err.expected == C && err.actual == C - 1);
    EXPECT(mml_forward_typed(weighted, MML_DTYPE_BFLOAT16, h16, C, MML_DTYPE_INT64, t64s, N, C, out, 1, &err),
           MML_STATUS_SHAPE_MISMATCH, MML_ARG_WEIGHT);
    /* targets */
    {
        int32_t bad32[N] = {0, 1, 2, -1};
        int64_t bad64[N] = {0, C, 2, 1};
        EXPECT(mml_forward_backward_typed(mean, MML_DTYPE_FLOAT16, h16, C, MML_DTYPE_INT32, bad32, N, C, f32s,
                                          1, OUTF, 1, MML_DTYPE_FLOAT16, grad, C, &err),
               MML_STATUS_TARGET_OUT_OF_RANGE, MML_ARG_TARGET);
        CHECK(err.row == 3 && err.value == -1 && strstr(err.message, "target[3] = -1") != NULL);
        EXPECT(mml_backward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, bad64, N, C, f32s, 1,
                                  MML_DTYPE_FLOAT32, grad, C, &err),
               MML_STATUS_TARGET_OUT_OF_RANGE, MML_ARG_TARGET);
        CHECK(err.row == 1 && err.value == C);
    }
    /* overlaps */
    {
        float arena[N * C + N];
        memcpy(arena, f32s, sizeof(float) * N * C);
        memset(&err, POISON, sizeof err);
        CHECK(mml_forward_typed(none, MML_DTYPE_FLOAT32, arena, C, MML_DTYPE_INT64, t64s, N, C, arena + 3, N,
                                &err) == MML_STATUS_ALIASED_BUFFERS);
        CHECK(err.argument == MML_ARG_OUTPUT && strstr(err.message, "output overlaps input") != NULL);
        CHECK(memcmp(arena, f32s, sizeof(float) * N * C) == 0);
    }
    EXPECT(mml_forward_backward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, f32s, 1,
                                      grad + 8, 1, MML_DTYPE_FLOAT32, grad, C, &err),
           MML_STATUS_ALIASED_BUFFERS, MML_ARG_OUTPUT);
    CHECK(strstr(err.message, "grad_input") != NULL);
    /* the MmlError inside the output: refused, and neither is written */
    {
        union { MmlError e; unsigned char b[sizeof(MmlError) + 64]; } u;
        memset(&u, POISON, sizeof u);
        CHECK(mml_forward_typed(none, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, (float *)(void *)u.b,
                                N, &u.e) == MML_STATUS_ALIASED_BUFFERS);
        CHECK(all_poison(u.b, sizeof u.b));
    }
    /* a misaligned MmlError: refused before anything is written */
    {
        unsigned char raw[sizeof(MmlError) + 16];
        memset(raw, POISON, sizeof raw);
        memset(out, POISON, sizeof out);
        CHECK(mml_forward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, OUTF, 1,
                                (MmlError *)(void *)(raw + 1)) == MML_STATUS_INVALID_ARGUMENT);
        CHECK(all_poison(raw, sizeof raw) && all_poison(out, sizeof out));
    }
    /* NULL detail: the same status */
    CHECK(mml_forward_typed(mean, MML_DTYPE_FLOAT32, f32s, C, MML_DTYPE_INT64, t64s, N, C, OUTF, 2, NULL) ==
          MML_STATUS_SHAPE_MISMATCH);
    /* an empty batch */
    {
        float o = -1.0f;
        MmlLoss *sum = NULL;
        CHECK(mml_create(1, 1.0, NULL, 0, MML_REDUCTION_SUM, &sum) == MML_STATUS_OK);
        CHECK(mml_forward_typed(sum, MML_DTYPE_BFLOAT16, NULL, C, MML_DTYPE_INT32, NULL, 0, C, &o, 1, &err) ==
              MML_STATUS_OK && o == 0.0f && err.status == MML_STATUS_OK);
        CHECK(mml_backward_typed(sum, MML_DTYPE_FLOAT16, NULL, 0 + C, MML_DTYPE_INT64, NULL, 0, C, &o, 1,
                                 MML_DTYPE_FLOAT16, NULL, C, &err) == MML_STATUS_OK);
        mml_destroy(sum);
    }
    /* statuses 8 and 9 have their own texts */
    CHECK(strstr(mml_status_message(MML_STATUS_UNSUPPORTED_TENSOR), "unknown") == NULL);
    CHECK(strstr(mml_status_message(MML_STATUS_INVALID_LAYOUT), "unknown") == NULL);
    CHECK(strstr(mml_status_message(10), "unknown") != NULL);
    mml_destroy(mean);
    mml_destroy(none);
    mml_destroy(weighted);
}

/* A large summed forward with a bad target in a later block: refused, row named, nothing written. */
static void test_large_bad_target(void) {
    size_t n = 40000, c = 10, i;
    float *x = xmalloc(n * c * sizeof *x), o = -3.0f;
    int32_t *t = xmalloc(n * sizeof *t);
    MmlLoss *sum = NULL;
    MmlError err;
    snprintf(current, sizeof current, "large bad target");
    for (i = 0; i < n * c; i++) x[i] = (float)(i % 7) / 4.0f;
    for (i = 0; i < n; i++) t[i] = (int32_t)(i % c);
    t[n - 5] = 10;
    CHECK(mml_create(1, 1.0, NULL, 0, MML_REDUCTION_SUM, &sum) == MML_STATUS_OK);
    CHECK(mml_forward_typed(sum, MML_DTYPE_FLOAT32, x, c, MML_DTYPE_INT32, t, n, c, &o, 1, &err) ==
          MML_STATUS_TARGET_OUT_OF_RANGE);
    CHECK(err.row == n - 5 && err.value == 10 && o == -3.0f);
    mml_destroy(sum);
    free(x); free(t);
}

/* mml_explain: the status of each refused untyped call, with its detail. */
static void test_explain(void) {
    enum { N = 4, C = 5 };
    MmlLoss *mean = NULL, *none = NULL;
    float out[N + 1], grad[N * C], x[N * C], up[N];
    double xd[N * C];
    int64_t bad[N] = {0, 1, 7, 2};
    MmlError err;
    size_t i;
    snprintf(current, sizeof current, "explain");
    for (i = 0; i < N * C; i++) { x[i] = (float)i; xd[i] = i; }
    for (i = 0; i < N; i++) up[i] = 1.0f;
    CHECK(mml_create(1, 1.0, NULL, 0, MML_REDUCTION_MEAN, &mean) == MML_STATUS_OK);
    CHECK(mml_create(1, 1.0, NULL, 0, MML_REDUCTION_NONE, &none) == MML_STATUS_OK);
#define SAME_F(call_status, ...)                                                      \
    do {                                                                              \
        uint32_t s_ = (call_status);                                                  \
        memset(&err, POISON, sizeof err);                                             \
        CHECK(mml_explain(__VA_ARGS__, &err) == s_ && err.status == s_);              \
    } while (0)
    SAME_F(mml_forward(mean, x, t64s, N, C, out, 1), mean, MML_OP_FORWARD, MML_DTYPE_FLOAT32, x, t64s, N, C,
           NULL, 0, out, 1, NULL, 0);
    CHECK(err.argument == MML_ARG_NONE && strcmp(err.message, "ok") == 0);
    SAME_F(mml_forward(mean, x, t64s, N, C, out, 2), mean, MML_OP_FORWARD, MML_DTYPE_FLOAT32, x, t64s, N, C,
           NULL, 0, out, 2, NULL, 0);
    CHECK(err.argument == MML_ARG_OUTPUT && err.expected == 1 && err.actual == 2);
    SAME_F(mml_forward(NULL, x, t64s, N, C, out, 1), NULL, MML_OP_FORWARD, MML_DTYPE_FLOAT32, x, t64s, N, C,
           NULL, 0, out, 1, NULL, 0);
    CHECK(err.argument == MML_ARG_LOSS);
    SAME_F(mml_forward(mean, NULL, t64s, N, C, out, 1), mean, MML_OP_FORWARD, MML_DTYPE_FLOAT32, NULL, t64s,
           N, C, NULL, 0, out, 1, NULL, 0);
    CHECK(err.argument == MML_ARG_INPUT);
    SAME_F(mml_forward(mean, x, t64s, N, 0, out, 1), mean, MML_OP_FORWARD, MML_DTYPE_FLOAT32, x, t64s, N, 0,
           NULL, 0, out, 1, NULL, 0);
    CHECK(err.argument == MML_ARG_CLASSES);
    SAME_F(mml_forward(mean, x, bad, N, C, out, 1), mean, MML_OP_FORWARD, MML_DTYPE_FLOAT32, x, bad, N, C,
           NULL, 0, out, 1, NULL, 0);
    CHECK(err.row == 2 && err.value == 7 && err.argument == MML_ARG_TARGET);
    SAME_F(mml_backward(mean, x, t64s, N, C, up, 1, grad, N * C - 1), mean, MML_OP_BACKWARD,
           MML_DTYPE_FLOAT32, x, t64s, N, C, up, 1, NULL, 0, grad, N * C - 1);
    CHECK(err.argument == MML_ARG_GRAD_INPUT && err.expected == N * C && err.actual == N * C - 1);
    SAME_F(mml_backward(none, x, t64s, N, C, up, 1, grad, N * C), none, MML_OP_BACKWARD, MML_DTYPE_FLOAT32,
           x, t64s, N, C, up, 1, NULL, 0, grad, N * C);
    CHECK(err.argument == MML_ARG_GRAD_OUTPUT);
    SAME_F(mml_backward(mean, x, t64s, N, C, up, 1, NULL, N * C), mean, MML_OP_BACKWARD, MML_DTYPE_FLOAT32,
           x, t64s, N, C, up, 1, NULL, 0, NULL, N * C);
    CHECK(err.argument == MML_ARG_GRAD_INPUT);
    SAME_F(mml_forward_backward(mean, x, t64s, N, C, up, 1, grad + 4, 1, grad, N * C), mean,
           MML_OP_FORWARD_BACKWARD, MML_DTYPE_FLOAT32, x, t64s, N, C, up, 1, grad + 4, 1, grad, N * C);
    CHECK(err.argument == MML_ARG_OUTPUT);
    SAME_F(mml_forward(none, x, t64s, N, C, x + 2, N), none, MML_OP_FORWARD, MML_DTYPE_FLOAT32, x, t64s, N,
           C, NULL, 0, x + 2, N, NULL, 0);
    {
        double outd[N], gradd[N * C], upd[N] = {1, 1, 1, 1};
        SAME_F(mml_forward_f64(none, xd, t64s, N, C, outd, N), none, MML_OP_FORWARD, MML_DTYPE_FLOAT64, xd,
               t64s, N, C, NULL, 0, outd, N, NULL, 0);
        SAME_F(mml_forward_backward_f64(mean, xd, bad, N, C, upd, 1, outd, 1, gradd, N * C), mean,
               MML_OP_FORWARD_BACKWARD, MML_DTYPE_FLOAT64, xd, bad, N, C, upd, 1, outd, 1, gradd, N * C);
        CHECK(err.row == 2);
        SAME_F(mml_backward_f64(mean, (double *)(void *)((char *)xd + 4), t64s, N, C, upd, 1, gradd, N * C),
               mean, MML_OP_BACKWARD, MML_DTYPE_FLOAT64, (char *)xd + 4, t64s, N, C, upd, 1, NULL, 0, gradd,
               N * C);
    }
    CHECK(mml_explain(mean, 7, MML_DTYPE_FLOAT32, x, t64s, N, C, NULL, 0, out, 1, NULL, 0, &err) ==
          MML_STATUS_INVALID_ARGUMENT);
    CHECK(mml_explain(mean, MML_OP_FORWARD, MML_DTYPE_BFLOAT16, x, t64s, N, C, NULL, 0, out, 1, NULL, 0,
                      &err) == MML_STATUS_UNSUPPORTED_TENSOR);
    mml_destroy(mean);
    mml_destroy(none);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/data";
    read_subset();
    size_t formats, golden32, golden64;
    printf("MML_ISA=%s: ran %s\n", getenv("MML_ISA") ? getenv("MML_ISA") : "(unset)", mml_kernel_path());
    formats = run_file(dir, "formats.json", 0);
    golden32 = run_file(dir, "multi_margin_loss.json", 1);
    golden64 = run_file(dir, "multi_margin_loss.json", 2);
    CHECK(formats == 138 && golden32 == 184 && golden64 == 184);
    test_refusals();
    test_large_bad_target();
    test_explain();
    printf("typed: %zu formats.json cases, %zu golden cases (float32 and float64), on 1 and 2 threads; "
           "%d passed, %d failed\n", formats, golden32, passed, failed);
    return failed == 0 ? 0 : 1;
}
