/*
 * The golden cases of tests/data (formats.json and multi_margin_loss.json) in the types of a
 * typed call, and the checks' counters, for the C tests (typed.c, dlpack.c).
 */
#ifndef MML_TEST_GOLDEN_H
#define MML_TEST_GOLDEN_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mml.h"

static int passed, failed;
static char current[256];

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (cond) {                                                                        \
            passed++;                                                                      \
        } else {                                                                           \
            failed++;                                                                      \
            if (failed < 50)                                                               \
                fprintf(stderr, "%s:%d: [%s] check failed: %s\n", __FILE__, __LINE__,      \
                        current, #cond);                                                   \
        }                                                                                  \
    } while (0)

static const unsigned char POISON = 0xA5;

static int all_poison(const unsigned char *p, size_t len) {
    size_t i;
    for (i = 0; i < len; i++)
        if (p[i] != POISON) return 0;
    return 1;
}

/* Every case runs by default; MML_TEST_SUBSET=k runs every k-th case (scripts/valgrind.sh,
 * where memcheck makes the full sweep minutes long; make test-c runs it all). */
static size_t subset = 1;

static void read_subset(void) {
    const char *s = getenv("MML_TEST_SUBSET");
    if (s && atoi(s) > 0) subset = (size_t)atoi(s);
}

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) { fprintf(stderr, "typed: out of memory\n"); exit(2); }
    return p;
}

/* ---- one case in the types of the call ---- */

struct tcase {
    const char *name;
    uint32_t dtype;          /* MML_DTYPE_* of the scores */
    size_t es;               /* bytes of a score */
    size_t fs;               /* bytes of the computing float (output, grad_output) */
    size_t n, c;
    int one_d;               /* PyTorch's 1-D scores with a 0-dim target */
    uint32_t reduction;
    MmlLoss *loss;
    unsigned char *input;    /* n*c scores */
    int64_t *t64;
    int32_t *t32;
    unsigned char *up;       /* grad_output: out_len floats */
    size_t out_len;
    unsigned char *want_out; /* out_len floats */
    unsigned char *want_grad; /* n*c floats (the gradient in the computing float) */
    uint16_t *want_half;     /* n*c half bits (half cases), else NULL */
    int *out_nan, *grad_nan; /* expected "nan" flags */
};

static int is_nan_bytes(const unsigned char *p, size_t fs) {
    if (fs == 4) { float f; memcpy(&f, p, 4); return isnan(f); }
    { double d; memcpy(&d, p, 8); return isnan(d); }
}

/* got against the expected values: bits equal, or both NaN where the expected value is "nan". */
static int matches(const unsigned char *got, const unsigned char *want, const int *nan, size_t len,
                   size_t fs) {
    size_t i;
    for (i = 0; i < len; i++) {
        if (nan[i]) {
            if (!is_nan_bytes(got + i * fs, fs)) return 0;
        } else if (memcmp(got + i * fs, want + i * fs, fs) != 0) {
            return 0;
        }
    }
    return 1;
}

static void store_float(unsigned char *dst, size_t fs, const json *v) {
    if (fs == 4) { float f = json_f32(v); memcpy(dst, &f, 4); }
    else { double d = json_f64(v); memcpy(dst, &d, 8); }
}

static uint32_t reduction_of(const char *r) {
    if (strcmp(r, "none") == 0) return MML_REDUCTION_NONE;
    if (strcmp(r, "mean") == 0) return MML_REDUCTION_MEAN;
    return MML_REDUCTION_SUM;
}

/* A case from a golden object. golden: 0 formats.json, 1 multi_margin_loss.json as float32,
 * 2 multi_margin_loss.json as float64. */
static struct tcase load_case(const json *o, int golden) {
    struct tcase k;
    size_t i;
    const char *dt = golden ? (golden == 1 ? "float32" : "float64") : json_str(json_get(o, "dtype"));
    const json *w = json_get(o, "weight");
    double margin = json_f64(json_get(o, "margin"));
    uint32_t p = (uint32_t)json_i64(json_get(o, "p"));
    memset(&k, 0, sizeof k);
    k.name = json_str(json_get(o, "name"));
    k.n = (size_t)json_i64(json_get(o, "n"));
    k.c = (size_t)json_i64(json_get(o, "c"));
    k.one_d = json_get(o, "one_d")->boolean;
    k.reduction = reduction_of(json_str(json_get(o, "reduction")));
    k.out_len = k.reduction == MML_REDUCTION_NONE ? k.n : 1;
    if (strcmp(dt, "bfloat16") == 0) { k.dtype = MML_DTYPE_BFLOAT16; k.es = 2; k.fs = 4; }
    else if (strcmp(dt, "float16") == 0) { k.dtype = MML_DTYPE_FLOAT16; k.es = 2; k.fs = 4; }
    else if (strcmp(dt, "float32") == 0) { k.dtype = MML_DTYPE_FLOAT32; k.es = 4; k.fs = 4; }
    else { k.dtype = MML_DTYPE_FLOAT64; k.es = 8; k.fs = 8; }
    if (w->kind == JSON_NULL) {
        CHECK(mml_create(p, margin, NULL, 0, k.reduction, &k.loss) == MML_STATUS_OK);
    } else if (golden == 0 && k.dtype == MML_DTYPE_FLOAT64) {
        double *wd = xmalloc(w->len * sizeof *wd);
        for (i = 0; i < w->len; i++) wd[i] = json_f64(json_at(w, i));
        CHECK(mml_create_f64(p, margin, wd, w->len, k.reduction, &k.loss) == MML_STATUS_OK);
        free(wd);
    } else {
        float *wf = xmalloc(w->len * sizeof *wf);
        for (i = 0; i < w->len; i++) wf[i] = json_f32(json_at(w, i));
        CHECK(mml_create(p, margin, wf, w->len, k.reduction, &k.loss) == MML_STATUS_OK);
        free(wf);
    }
    k.input = xmalloc(k.n * k.c * k.es);
    for (i = 0; i < k.n * k.c; i++) {
        if (k.es == 2) {
            uint16_t b = (uint16_t)json_i64(json_at(json_get(o, "input_bits"), i));
            memcpy(k.input + 2 * i, &b, 2);
        } else if (k.es == 4) {
            store_float(k.input + 4 * i, 4, json_at(json_get(o, "input"), i));
        } else {
            /* float64 golden data from float32 scores: the float, widened */
            const json *v = json_at(json_get(o, "input"), i);
            double d = golden == 2 ? (double)json_f32(v) : json_f64(v);
            memcpy(k.input + 8 * i, &d, 8);
        }
    }
    k.t64 = xmalloc(k.n * sizeof *k.t64);
    k.t32 = xmalloc(k.n * sizeof *k.t32);
    for (i = 0; i < k.n; i++) {
        k.t64[i] = json_i64(json_at(json_get(o, "target"), i));
        k.t32[i] = (int32_t)k.t64[i];
    }
    k.up = xmalloc(k.out_len * k.fs);
    k.want_out = xmalloc(k.out_len * k.fs);
    k.out_nan = xmalloc(k.out_len * sizeof(int));
    for (i = 0; i < k.out_len; i++) {
        const json *up = json_at(json_get(o, "grad_output"), i);
        const json *fw = json_at(json_get(o, golden == 0 ? "forward" : golden == 1 ? "forward_torch_f32"
                                                                         : "forward_f64"), i);
        if (golden == 2) { double d = (double)json_f32(up); memcpy(k.up + 8 * i, &d, 8); }
        else store_float(k.up + k.fs * i, k.fs, up);
        store_float(k.want_out + k.fs * i, k.fs, fw);
        k.out_nan[i] = is_nan_bytes(k.want_out + k.fs * i, k.fs);
    }
    k.want_grad = xmalloc(k.n * k.c * k.fs);
    k.grad_nan = xmalloc(k.n * k.c * sizeof(int));
    {
        const char *key = golden == 1 ? "grad_input_torch_f32"
                          : golden == 2 || k.dtype == MML_DTYPE_FLOAT64 ? "grad_input_f64"
                                                                         : "grad_input_f32";
        for (i = 0; i < k.n * k.c; i++) {
            store_float(k.want_grad + k.fs * i, k.fs, json_at(json_get(o, key), i));
            k.grad_nan[i] = is_nan_bytes(k.want_grad + k.fs * i, k.fs);
        }
    }
    if (k.es == 2) {
        k.want_half = xmalloc(k.n * k.c * 2);
        for (i = 0; i < k.n * k.c; i++)
            k.want_half[i] = (uint16_t)json_i64(json_at(json_get(o, "grad_input_bits"), i));
    }
    return k;
}

static void free_case(struct tcase *k) {
    mml_destroy(k->loss);
    free(k->input); free(k->t64); free(k->t32); free(k->up); free(k->want_out);
    free(k->want_grad); free(k->want_half); free(k->out_nan); free(k->grad_nan);
}

#endif
