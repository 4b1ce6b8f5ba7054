/*
 * An independent oracle on hostile numbers: a plain C transcription of PyTorch 2.x CPU's loops
 * (aten/src/ATen/native/LossMultiMargin.cpp), compiled with -ffp-contract=off, against every
 * entry point of the C ABI, bit for bit: NaN sign and payload included.
 *
 * Hostile: margins of +-0, NaN, +-inf, +-1e300 and 1e-320 (mml_create takes a double margin; the
 * float entry points convert it, as these loops do); weights that are NaN (of either sign and
 * several payloads), infinite, negative, subnormal, or all of these at once; inputs that are
 * all NaN, all -0, all subnormal, all tied, or a mix of every special value (signalling NaNs
 * too); upstream gradients of 1, -0, 0.5, NaN and -inf. p = 1 and 2, every reduction, f32 and
 * f64, on 1 and 2 threads, small shapes and large calls (n*c >= 131072 scores).
 *
 * The one place where mml documents an order of its own: large calls with sum or mean add the
 * row losses in fixed row blocks (README "Large reductions"): within a block of
 * rows_per_block(c) rows (65536 scores rounded up to whole rows, then to a multiple of 16), row
 * i into partial i % 16, the block's sum the partials in index order, the total the blocks in
 * block order. The oracle transcribes that order for those calls; PyTorch's serial sum for all
 * others.
 *
 * `make test-c` runs it once per MML_ISA; it prints the path that ran.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mml.h"

enum { LARGE = 131072, BLOCK_SCORES = 65536, INTERLEAVE = 16 };

static size_t rows_per_block(size_t c) {
    size_t rows = (BLOCK_SCORES + c - 1) / c;
    return (rows + INTERLEAVE - 1) / INTERLEAVE * INTERLEAVE;
}

/* The sum of the row losses, in double, in PyTorch's order (`sum += row`), or in the block
 * order of a large call. */
static double reduce(const double *rows, size_t n, size_t c) {
    double sum = 0;
    if (n * c < LARGE) {
        for (size_t i = 0; i < n; i++) sum += rows[i];
        return sum;
    }
    size_t per = rows_per_block(c);
    for (size_t start = 0; start < n; start += per) {
        double partial[INTERLEAVE] = {0};
        size_t end = start + per < n ? start + per : n;
        for (size_t i = start; i < end; i++) partial[(i - start) % INTERLEAVE] += rows[i];
        double block = 0;
        for (int k = 0; k < INTERLEAVE; k++) block += partial[k];
        sum += block;
    }
    return sum;
}

/* PyTorch's loops for one precision. reduction: 0 none, 1 mean, 2 sum. `rows` is scratch for
 * n row losses in double. */
#define DEFINE_ORACLE(T, SUFFIX)                                                               \
    static void forward_##SUFFIX(int p, T margin, const T *w, int reduction, const T *x,      \
                                 const int64_t *t, size_t n, size_t c, T *out, double *rows) { \
        for (size_t i = 0; i < n; i++) {                                                       \
            const T *row = x + i * c;                                                          \
            size_t y = (size_t)t[i];                                                           \
            T input_target = row[y];                                                           \
            T sum = 0;                                                                         \
            for (size_t d = 0; d < c; d++) {                                                   \
                if (d == y) continue;                                                          \
                T z = margin - input_target + row[d];                                          \
                if (z > 0) {                                                                   \
                    T h = p == 1 ? z : z * z;                                                  \
                    if (w) h *= w[y];                                                          \
                    sum += h;                                                                  \
                }                                                                              \
            }                                                                                  \
            sum /= (T)c;                                                                       \
            if (reduction == 0) out[i] = sum; else rows[i] = sum;                              \
        }                                                                                      \
        if (reduction != 0) {                                                                  \
            double sum = reduce(rows, n, c);                                                   \
            if (reduction == 1) sum /= (double)n;                                              \
            out[0] = (T)sum;                                                                   \
        }                                                                                      \
    }                                                                                          \
    static void backward_##SUFFIX(int p, T margin, const T *w, int reduction, const T *x,     \
                                  const int64_t *t, size_t n, size_t c, const T *up,          \
                                  T *grad) {                                                   \
        T g = reduction == 1 ? (T)(1. / (double)(n * c)) : (T)(1. / (double)c);                \
        for (size_t i = 0; i < n; i++) {                                                       \
            const T *row = x + i * c;                                                          \
            T *grad_row = grad + i * c;                                                        \
            size_t y = (size_t)t[i];                                                           \
            T input_target = row[y];                                                           \
            T grad_input_target = 0;                                                           \
            for (size_t d = 0; d < c; d++) {                                                   \
                T z = margin - input_target + row[d];                                          \
                if (d == y) continue;                                                          \
                if (z > 0) {                                                                   \
                    T h = p == 1 ? g : 2 * g * z;                                              \
                    if (w) h *= w[y];                                                          \
                    grad_input_target -= h;                                                    \
                    grad_row[d] = h;                                                           \
                } else {                                                                       \
                    grad_row[d] = 0;                                                           \
                }                                                                              \
            }                                                                                  \
            grad_row[y] = grad_input_target;                                                   \
        }                                                                                      \
        /* grad_input.mul_(grad_output), or grad_output.unsqueeze(1) for none */               \
        for (size_t i = 0; i < n * c; i++) grad[i] *= reduction == 0 ? up[i / c] : up[0];      \
    }

DEFINE_ORACLE(float, f32)
DEFINE_ORACLE(double, f64)

/* ---- hostile values ------------------------------------------------------------------- */

static float f32_bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static double f64_bits(uint64_t b) { double d; memcpy(&d, &b, 8); return d; }

/* NaNs of both signs, several payloads, quiet and signalling, in double. */
static double nan_number(unsigned k) {
    static const uint64_t bits[] = {
        0x7ff8000000000000u, 0xfff8000000000000u, 0x7ff8000000000123u, 0xfffc000000abc000u,
        0x7ff4000000000000u /* signalling */, 0xfff0000000000001u /* signalling */,
    };
    return f64_bits(bits[k % 6]);
}

/* The same in float (not a conversion: float NaNs of their own). */
static float nan_number_f32(unsigned k) {
    static const uint32_t bits[] = {0x7fc00000u, 0xffc00000u, 0x7fc00123u, 0xffe0abcdu,
                                    0x7fa00000u /* signalling */, 0xff800001u /* signalling */};
    return f32_bits(bits[k % 6]);
}

static const double MARGINS[] = {1.0, 0.0, -0.0, NAN, INFINITY, -INFINITY, 1e300, -1e300, 1e-320};
static const char *const MARGIN_NAMES[] = {"1", "+0", "-0", "NaN", "+inf", "-inf", "1e300", "-1e300", "1e-320"};
enum { MARGIN_COUNT = 9 };

enum { W_NONE, W_NAN, W_INF, W_NEGATIVE, W_SUBNORMAL, W_MIXED, WEIGHT_COUNT };
static const char *const WEIGHT_NAMES[] = {"no weights", "NaN weights", "infinite weights",
                                           "negative weights", "subnormal weights", "mixed weights"};

static float weight_value(int pattern, size_t j) {
    switch (pattern) {
    case W_NAN: return nan_number_f32((unsigned)j);
    case W_INF: return j % 2 ? -INFINITY : INFINITY;
    case W_NEGATIVE: return -0.5f - (float)(j % 4);
    case W_SUBNORMAL: return f32_bits(1u + (uint32_t)(j % 3) * 0x1234u) ;
    default: {
        const float mixed[] = {1.0f, NAN, -INFINITY, 0.0f, -0.0f, f32_bits(0x00000001u), -2.5f,
                               INFINITY, f32_bits(0xffc00001u), 1e-39f};
        return mixed[j % 10];
    }
    }
}

enum { X_ALL_NAN, X_ALL_NEG_ZERO, X_ALL_SUBNORMAL, X_TIED, X_MIXED, INPUT_COUNT };
static const char *const INPUT_NAMES[] = {"all NaN", "all -0", "all subnormal", "all tied",
                                          "mixed specials"};

/* Input i of a pattern, in double (`is_f32`: values chosen for float's range). */
static double input_value(int pattern, size_t i, int is_f32) {
    unsigned h = (unsigned)((i * 2654435761u) >> 7);
    switch (pattern) {
    case X_ALL_NAN: return nan_number(h);
    case X_ALL_NEG_ZERO: return -0.0;
    case X_ALL_SUBNORMAL: return is_f32 ? (double)f32_bits(0x00000005u) : f64_bits(5);
    case X_TIED: return 0.5;
    default:
        switch (h % 16) {
        case 0: return nan_number(h / 16);
        case 1: return INFINITY;
        case 2: return -INFINITY;
        case 3: return -0.0;
        case 4: return 0.0;
        case 5: return is_f32 ? (double)f32_bits(0x00000001u + h % 7) : f64_bits(1 + h % 7);
        case 6: return is_f32 ? 3.4028234663852886e38 : 1.7976931348623157e308;
        case 7: return is_f32 ? -1e19 : -1e160; /* squares overflow */
        default: return (double)(h % 9) * 0.25 - 1.0; /* ties with the margins */
        }
    }
}

static const double UPSTREAM[] = {1.0, -0.0, 0.5, NAN, -INFINITY};

/* ---- the comparison -------------------------------------------------------------------- */

static long calls, mismatches;

static void report(const char *what, size_t index, const void *got, const void *want, int size) {
    mismatches++;
    if (mismatches > 40) return; /* enough to see the pattern */
    if (size == 4) {
        uint32_t g, w;
        memcpy(&g, got, 4);
        memcpy(&w, want, 4);
        fprintf(stderr, "hostile_oracle: %s: [%zu] got 0x%08x, want 0x%08x\n", what, index, g, w);
    } else {
        uint64_t g, w;
        memcpy(&g, got, 8);
        memcpy(&w, want, 8);
        fprintf(stderr, "hostile_oracle: %s: [%zu] got 0x%016llx, want 0x%016llx\n", what, index,
                (unsigned long long)g, (unsigned long long)w);
    }
}

static void compare(const char *what, const unsigned char *got, const unsigned char *want,
                    size_t len, int size) {
    if (memcmp(got, want, len * size) == 0) return;
    for (size_t i = 0; i < len; i++)
        if (memcmp(got + i * size, want + i * size, size) != 0) {
            report(what, i, got + i * size, want + i * size, size);
            return; /* the first difference of a buffer is enough */
        }
}

/* Scratch, grown as needed. */
static unsigned char *x, *up, *out, *grad, *want_out, *want_grad;
static int64_t *t;
static double *rows;
static float *w;
static double *wd;

static void *grow(void *p, size_t bytes) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) { fprintf(stderr, "hostile_oracle: out of memory\n"); exit(2); }
    return q;
}

/* One configuration of one precision, through all three entry points, on 1 and 2 threads. */
static void check(int size, size_t n, size_t c, int p, int margin, int weights, int inputs,
                  uint32_t reduction, unsigned variant) {
    x = grow(x, n * c * size);
    grad = grow(grad, n * c * size);
    want_grad = grow(want_grad, n * c * size);
    up = grow(up, n * size);
    out = grow(out, n * size);
    want_out = grow(want_out, n * size);
    t = grow(t, n * sizeof *t);
    rows = grow(rows, n * sizeof *rows);
    w = grow(w, c * sizeof *w);
    wd = grow(wd, c * sizeof *wd);
    for (size_t i = 0; i < n * c; i++) {
        double v = input_value(inputs, i + variant, size == 4);
        if (size == 4) {
            /* float NaNs of their own: a double NaN converted would lose its low payload */
            ((float *)x)[i] = isnan(v) ? nan_number_f32((unsigned)(i + variant)) : (float)v;
        } else {
            ((double *)x)[i] = v;
        }
    }
    for (size_t i = 0; i < n; i++) t[i] = (int64_t)((i * 40503u + variant) % c);
    size_t out_len = reduction == MML_REDUCTION_NONE ? n : 1;
    for (size_t i = 0; i < out_len; i++) {
        double u = out_len == 1 ? UPSTREAM[variant % 5] : UPSTREAM[(i + variant) % 5];
        if (size == 4) ((float *)up)[i] = (float)u; else ((double *)up)[i] = u;
    }
    for (size_t j = 0; j < c; j++) {
        w[j] = weight_value(weights, j + variant);
        wd[j] = (double)w[j];
    }
    const float *weight = weights == W_NONE ? NULL : w;
    double m = MARGINS[margin];

    if (size == 4) {
        forward_f32(p, (float)m, weight, (int)reduction, (const float *)x, t, n, c,
                    (float *)want_out, rows);
        backward_f32(p, (float)m, weight, (int)reduction, (const float *)x, t, n, c,
                     (const float *)up, (float *)want_grad);
    } else {
        forward_f64(p, m, weight ? wd : NULL, (int)reduction, (const double *)x, t, n, c,
                    (double *)want_out, rows);
        backward_f64(p, m, weight ? wd : NULL, (int)reduction, (const double *)x, t, n, c,
                     (const double *)up, (double *)want_grad);
    }

    MmlLoss *loss = NULL;
    if (mml_create((uint32_t)p, m, weight, weight ? c : 0, reduction, &loss) != MML_STATUS_OK) {
        fprintf(stderr, "hostile_oracle: mml_create failed\n");
        exit(2);
    }
    static const char *const reductions[] = {"none", "mean", "sum"};
    for (size_t threads = 1; threads <= 2; threads++) {
        mml_set_num_threads(threads);
        char what[256];
        snprintf(what, sizeof what, "%%s f%d %zux%zu p=%d margin %s, %s, %s, %s, %zu thread(s)",
                 size * 8, n, c, p, MARGIN_NAMES[margin], WEIGHT_NAMES[weights],
                 INPUT_NAMES[inputs], reductions[reduction], threads);
        char label[300];
        uint32_t s;
        /* forward */
        s = size == 4 ? mml_forward(loss, (const float *)x, t, n, c, (float *)out, out_len)
                      : mml_forward_f64(loss, (const double *)x, t, n, c, (double *)out, out_len);
        snprintf(label, sizeof label, what, "forward");
        if (s != MML_STATUS_OK) { fprintf(stderr, "%s: status %u\n", label, s); mismatches++; }
        compare(label, out, want_out, out_len, size);
        /* backward */
        s = size == 4 ? mml_backward(loss, (const float *)x, t, n, c, (const float *)up, out_len,
                                     (float *)grad, n * c)
                      : mml_backward_f64(loss, (const double *)x, t, n, c, (const double *)up,
                                         out_len, (double *)grad, n * c);
        snprintf(label, sizeof label, what, "backward");
        if (s != MML_STATUS_OK) { fprintf(stderr, "%s: status %u\n", label, s); mismatches++; }
        compare(label, grad, want_grad, n * c, size);
        /* fused */
        memset(out, 0x5a, out_len * size);
        memset(grad, 0x5a, n * c * size);
        s = size == 4
                ? mml_forward_backward(loss, (const float *)x, t, n, c, (const float *)up, out_len,
                                       (float *)out, out_len, (float *)grad, n * c)
                : mml_forward_backward_f64(loss, (const double *)x, t, n, c, (const double *)up,
                                           out_len, (double *)out, out_len, (double *)grad, n * c);
        snprintf(label, sizeof label, what, "fused loss");
        if (s != MML_STATUS_OK) { fprintf(stderr, "%s: status %u\n", label, s); mismatches++; }
        compare(label, out, want_out, out_len, size);
        snprintf(label, sizeof label, what, "fused grad");
        compare(label, grad, want_grad, n * c, size);
        calls += 3;
    }
    mml_destroy(loss);
}

/* Small shapes: one row, tails of every vector width, serial sums of 16 rows or more (one and
 * several buffers), long rows. */
static const size_t SMALL[][2] = {{1, 1}, {2, 3}, {7, 10}, {16, 2}, {40, 10}, {33, 17},
                                  {300, 5}, {65, 33}, {5, 257}};
/* Large calls: just above the threshold (two blocks and a tail), long rows. */
static const size_t LARGE_SHAPES[][2] = {{13108, 10}, {1031, 129}, {131, 1025}};

int main(void) {
    unsigned variant = 0;
    for (size_t s = 0; s < sizeof SMALL / sizeof *SMALL; s++)
        for (int margin = 0; margin < MARGIN_COUNT; margin++)
            for (int weights = 0; weights < WEIGHT_COUNT; weights++)
                for (int inputs = 0; inputs < INPUT_COUNT; inputs++)
                    for (uint32_t reduction = 0; reduction <= 2; reduction++)
                        for (int p = 1; p <= 2; p++) {
                            variant++;
                            check(4, SMALL[s][0], SMALL[s][1], p, margin, weights, inputs, reduction, variant);
                            check(8, SMALL[s][0], SMALL[s][1], p, margin, weights, inputs, reduction, variant);
                        }
    /* Large calls, fewer combinations (each call reads 131072 scores or more): the mixed input
     * and mixed weights with six of the margins, every weight pattern and every input pattern. */
    static const int LARGE_MARGINS[] = {0, 2, 3, 4, 6, 8}; /* 1, -0, NaN, +inf, 1e300, 1e-320 */
    for (size_t s = 0; s < sizeof LARGE_SHAPES / sizeof *LARGE_SHAPES; s++)
        for (int combo = 0; combo < 6 + WEIGHT_COUNT + INPUT_COUNT; combo++) {
            int margin = combo < 6 ? LARGE_MARGINS[combo] : 0;
            int weights = combo >= 6 && combo < 6 + WEIGHT_COUNT ? combo - 6 : W_MIXED;
            int inputs = combo >= 6 + WEIGHT_COUNT ? combo - 6 - WEIGHT_COUNT : X_MIXED;
            /* p = 2 only: its squares overflow, and p = 1 runs the same blocks. */
            for (uint32_t reduction = 0; reduction <= 2; reduction++) {
                variant++;
                check(4, LARGE_SHAPES[s][0], LARGE_SHAPES[s][1], 2, margin, weights, inputs, reduction, variant);
                check(8, LARGE_SHAPES[s][0], LARGE_SHAPES[s][1], 2, margin, weights, inputs, reduction, variant);
            }
        }
    mml_set_num_threads(0);
    const char *isa = getenv("MML_ISA");
    printf("hostile_oracle: MML_ISA=%s: ran %s; %ld calls on 1 and 2 threads against PyTorch's "
           "loops in C: %s\n",
           isa ? isa : "(unset)", mml_kernel_path(), calls,
           mismatches == 0 ? "every bit the same" : "MISMATCHES");
    if (mismatches) fprintf(stderr, "hostile_oracle: %ld mismatching buffers\n", mismatches);
    return mismatches == 0 ? 0 : 1;
}
