/*
 * The DLPack entry points (include/mml_dlpack.h) with hand-built DLTensors.
 *
 * - Every case of tests/data/formats.json and multi_margin_loss.json (float32 and float64), on
 *   1 and 2 threads, in eight layouts of the scores (strides NULL, explicit row-major, a row
 *   pitch above c with a byte_offset, column-major, column-major in a wider buffer, rows
 *   reversed, columns reversed, both reversed and column-major), with the gradient in another
 *   of them (float32/float64 and, for half scores, the half type), the targets (int64 or int32)
 *   and the output and upstream gradient strided (2, -1, -3, 0-dim): the same bits as the
 *   contiguous typed call, and every byte outside the outputs' elements left as it was. One-row
 *   cases also as a 1-D tensor with a 0-dim target; a broadcast row (stride 0); large batches
 *   (pitched and column-major) past the parallel threshold.
 * - Every rule: device, dtype, lanes, ndim, shapes, strides and offsets that overflow, outputs
 *   that overlap themselves or another tensor: the specific status, the detail, nothing written.
 *
 * `make test-c` runs it once per MML_ISA.
 */
#include <dlpack/dlpack.h>

#include "golden.h"
#include "mml_dlpack.h"

/* ---- placing a matrix or a vector in a layout ---- */

/* Strides (in elements) of layout `l` for an (n, c) matrix; *origin: the element offset of
 * index (0, 0) in the buffer; *byte_off: whether the origin goes into byte_offset (else data). */
enum { LAYOUTS = 8 };
static void layout_of(int l, size_t n, size_t c, int64_t st[2], size_t *origin, int *byte_off) {
    int64_t N = (int64_t)n, C = (int64_t)c;
    switch (l) {
    case 0: st[0] = C; st[1] = 1; *origin = 0; break;           /* strides NULL */
    case 1: st[0] = C; st[1] = 1; *origin = 0; break;           /* explicit row-major */
    case 2: st[0] = C + 3; st[1] = 1; *origin = 2; break;       /* pitched, offset */
    case 3: st[0] = 1; st[1] = N; *origin = 0; break;           /* column-major */
    case 4: st[0] = 1; st[1] = N + 2; *origin = 1; break;       /* column-major, wider */
    case 5: st[0] = -C; st[1] = 1; *origin = (n - 1) * c; break; /* rows reversed */
    case 6: st[0] = C; st[1] = -1; *origin = c - 1; break;       /* columns reversed */
    default: st[0] = -1; st[1] = -N; *origin = (n - 1) + (c - 1) * n; break;
    }
    if (n == 0 || c == 0) *origin = 0;
    *byte_off = l % 2 == 0;
}

struct placed {
    unsigned char *buf;
    size_t bytes, es;
    int64_t shape[2], strides[2];
    DLTensor t;
};

static DLDataType dl_type(uint32_t dtype) {
    DLDataType t;
    t.lanes = 1;
    switch (dtype) {
    case MML_DTYPE_FLOAT32: t.code = kDLFloat; t.bits = 32; break;
    case MML_DTYPE_FLOAT64: t.code = kDLFloat; t.bits = 64; break;
    case MML_DTYPE_BFLOAT16: t.code = kDLBfloat; t.bits = 16; break;
    case MML_DTYPE_FLOAT16: t.code = kDLFloat; t.bits = 16; break;
    case MML_DTYPE_INT64: t.code = kDLInt; t.bits = 64; break;
    default: t.code = kDLInt; t.bits = 32; break;
    }
    return t;
}

static size_t size_of(uint32_t dtype) {
    return dtype == MML_DTYPE_FLOAT64 || dtype == MML_DTYPE_INT64 ? 8
           : dtype == MML_DTYPE_FLOAT32 || dtype == MML_DTYPE_INT32 ? 4 : 2;
}

static size_t reach(int64_t s, size_t len) { return len ? (size_t)(s < 0 ? -s : s) * (len - 1) : 0; }

/* An (n, c) matrix (src row-major, or NULL for an output) in layout l, into *out (whose
 * DLTensor points at its own shape and strides). */
static void place2(struct placed *out, const void *src, uint32_t dtype, size_t n, size_t c, int l) {
    struct placed p;
    size_t origin, i, j;
    int byte_off;
    memset(&p, 0, sizeof p);
    p.es = size_of(dtype);
    layout_of(l, n, c, p.strides, &origin, &byte_off);
    p.bytes = (origin + reach(p.strides[0], n) + reach(p.strides[1], c) + 4) * p.es;
    p.buf = xmalloc(p.bytes);
    memset(p.buf, POISON, p.bytes);
    for (i = 0; i < n && src; i++)
        for (j = 0; j < c; j++)
            memcpy(p.buf + (size_t)((int64_t)origin + (int64_t)i * p.strides[0] + (int64_t)j * p.strides[1]) * p.es,
                   (const unsigned char *)src + (i * c + j) * p.es, p.es);
    p.shape[0] = (int64_t)n;
    p.shape[1] = (int64_t)c;
    p.t.device.device_type = kDLCPU;
    p.t.device.device_id = 0;
    p.t.ndim = 2;
    p.t.dtype = dl_type(dtype);
    p.t.shape = p.shape;
    p.t.strides = l == 0 ? NULL : p.strides;
    p.t.data = byte_off ? (void *)p.buf : (void *)(p.buf + origin * p.es);
    p.t.byte_offset = byte_off ? origin * p.es : 0;
    *out = p;
    out->t.shape = out->shape;
    out->t.strides = l == 0 ? NULL : out->strides;
}

/* A vector of len values in layout l: 0 compact (strides NULL), 1 stride 2, 2 stride -1,
 * 3 stride -3; ndim 0 when `scalar` (len must be 1). */
static void place1(struct placed *out, const void *src, uint32_t dtype, size_t len, int l, int scalar) {
    static const int64_t strides[4] = {1, 2, -1, -3};
    struct placed p;
    size_t origin, i;
    memset(&p, 0, sizeof p);
    p.es = size_of(dtype);
    p.strides[0] = strides[l % 4];
    origin = p.strides[0] < 0 && len ? (size_t)(-p.strides[0]) * (len - 1) : 0;
    p.bytes = (origin + reach(p.strides[0], len) + 3) * p.es;
    p.buf = xmalloc(p.bytes);
    memset(p.buf, POISON, p.bytes);
    for (i = 0; i < len && src; i++)
        memcpy(p.buf + (size_t)((int64_t)origin + (int64_t)i * p.strides[0]) * p.es,
               (const unsigned char *)src + i * p.es, p.es);
    p.shape[0] = (int64_t)len;
    p.t.device.device_type = kDLCPU;
    p.t.ndim = scalar ? 0 : 1;
    p.t.dtype = dl_type(dtype);
    p.t.shape = scalar ? NULL : p.shape;
    p.t.strides = l % 4 == 0 || scalar ? NULL : p.strides;
    p.t.data = p.buf + origin * p.es;
    *out = p;
    out->t.shape = scalar ? NULL : out->shape;
    out->t.strides = l % 4 == 0 || scalar ? NULL : out->strides;
}

/* The elements of a placed tensor, row-major, into dst; and whether every other byte of its
 * buffer is still POISON. */
static int gather(const struct placed *p, size_t n, size_t c, void *dst) {
    unsigned char *seen = xmalloc(p->bytes);
    const unsigned char *base = (const unsigned char *)p->t.data + p->t.byte_offset;
    int64_t s0 = p->t.ndim == 2 ? p->strides[0] : 0;
    int64_t s1 = p->t.ndim == 2 ? p->strides[1] : p->t.ndim == 1 ? p->strides[0] : 0;
    size_t i, j, k;
    int ok = 1;
    memset(seen, 0, p->bytes);
    if (p->t.ndim == 1) { c = n; n = 1; s1 = p->strides[0]; }
    if (p->t.ndim == 2 && !p->t.strides) { s0 = (int64_t)c; s1 = 1; }
    if (p->t.ndim == 1 && !p->t.strides) s1 = 1;
    for (i = 0; i < n; i++)
        for (j = 0; j < c; j++) {
            const unsigned char *e = base + ((int64_t)i * s0 + (int64_t)j * s1) * (int64_t)p->es;
            memcpy((unsigned char *)dst + (i * c + j) * p->es, e, p->es);
            memset(seen + (e - p->buf), 1, p->es);
        }
    for (k = 0; k < p->bytes; k++)
        if (!seen[k] && p->buf[k] != POISON) ok = 0;
    free(seen);
    return ok;
}

/* ---- every case in every layout ---- */

struct want {
    unsigned char *out, *grad, *half;
};

/* The typed, contiguous reference of a case (int64 targets). */
static struct want reference(const struct tcase *k) {
    struct want w;
    size_t nc = k->n * k->c;
    uint32_t fd = k->fs == 4 ? MML_DTYPE_FLOAT32 : MML_DTYPE_FLOAT64;
    w.out = xmalloc(k->out_len * k->fs);
    w.grad = xmalloc(nc * k->fs);
    w.half = k->es == 2 ? xmalloc(nc * 2) : NULL;
    CHECK(mml_forward_backward_typed(k->loss, k->dtype, k->input, k->c, MML_DTYPE_INT64, k->t64, k->n, k->c,
                                     k->up, k->out_len, w.out, k->out_len, fd, w.grad, k->c, NULL) == MML_STATUS_OK);
    CHECK(matches(w.out, k->want_out, k->out_nan, k->out_len, k->fs));
    if (w.half)
        CHECK(mml_backward_typed(k->loss, k->dtype, k->input, k->c, MML_DTYPE_INT64, k->t64, k->n, k->c, k->up,
                                 k->out_len, k->dtype, w.half, k->c, NULL) == MML_STATUS_OK);
    return w;
}

static void run_layouts(const struct tcase *k) {
    size_t n = k->n, c = k->c, nc = n * c;
    uint32_t fd = k->fs == 4 ? MML_DTYPE_FLOAT32 : MML_DTYPE_FLOAT64;
    struct want w = reference(k);
    unsigned char *got = xmalloc(nc * 8 + 8);
    int l, g;
    MmlError err;
    for (l = 0; l < LAYOUTS; l++) {
        for (g = 0; g < (k->es == 2 ? 2 : 1); g++) {
            uint32_t gd = g ? k->dtype : fd;
            int scalar_out = k->out_len == 1 && l % 3 == 1;
            int i32 = l % 2;
            struct placed x; place2(&x, k->input, k->dtype, n, c, l);
            struct placed y; place1(&y, i32 ? (const void *)k->t32 : (const void *)k->t64,
                                     i32 ? MML_DTYPE_INT32 : MML_DTYPE_INT64, n, l + 1, 0);
            struct placed up; place1(&up, k->up, fd, k->out_len, l + 2, scalar_out);
            struct placed out; place1(&out, NULL, fd, k->out_len, l + 3, scalar_out);
            struct placed gi; place2(&gi, NULL, gd, n, c, (l + 3) % LAYOUTS);
            const unsigned char *want_grad = g ? w.half : w.grad;
            size_t gs = g ? 2 : k->fs;
            snprintf(current, sizeof current, "%s layout %d grad %s", k->name, l, g ? "half" : "float");
            memset(&err, POISON, sizeof err);
            CHECK(mml_forward_backward_dlpack(k->loss, &x.t, &y.t, &up.t, &out.t, &gi.t, &err) == MML_STATUS_OK);
            CHECK(err.status == MML_STATUS_OK && strcmp(err.message, "ok") == 0);
            CHECK(gather(&out, k->out_len, 1, got) && memcmp(got, w.out, k->out_len * k->fs) == 0);
            CHECK(gather(&gi, n, c, got) && memcmp(got, want_grad, nc * gs) == 0);
            /* forward alone, backward alone */
            memset(out.buf, POISON, out.bytes);
            memset(gi.buf, POISON, gi.bytes);
            CHECK(mml_forward_dlpack(k->loss, &x.t, &y.t, &out.t, NULL) == MML_STATUS_OK);
            CHECK(gather(&out, k->out_len, 1, got) && memcmp(got, w.out, k->out_len * k->fs) == 0);
            CHECK(mml_backward_dlpack(k->loss, &x.t, &y.t, &up.t, &gi.t, &err) == MML_STATUS_OK);
            CHECK(gather(&gi, n, c, got) && memcmp(got, want_grad, nc * gs) == 0);
            /* the inputs were only read */
            CHECK(gather(&x, n, c, got) && memcmp(got, k->input, nc * k->es) == 0);
            free(x.buf); free(y.buf); free(up.buf); free(out.buf); free(gi.buf);
        }
    }
    /* one row as a 1-D tensor with a 0-dim target (and a 0-dim output for `none`) */
    if (n == 1) {
        int l1;
        for (l1 = 0; l1 < 4; l1++) {
            struct placed x; place1(&x, k->input, k->dtype, c, l1, 0);
            struct placed y; place1(&y, k->t64, MML_DTYPE_INT64, 1, 0, 1);
            struct placed up; place1(&up, k->up, fd, 1, 0, l1 % 2);
            struct placed out; place1(&out, NULL, fd, 1, 0, l1 % 2 == 0);
            struct placed gi; place1(&gi, NULL, fd, c, l1 + 1, 0);
            snprintf(current, sizeof current, "%s 1-D layout %d", k->name, l1);
            CHECK(mml_forward_backward_dlpack(k->loss, &x.t, &y.t, &up.t, &out.t, &gi.t, NULL) == MML_STATUS_OK);
            CHECK(gather(&out, 1, 1, got) && memcmp(got, w.out, k->fs) == 0);
            CHECK(gather(&gi, c, 1, got) && memcmp(got, w.grad, c * k->fs) == 0);
            free(x.buf); free(y.buf); free(up.buf); free(out.buf); free(gi.buf);
        }
    }
    /* a broadcast row: stride 0 between rows reads row 0 for every row */
    if (n > 0 && c > 0) {
        enum { M = 3 };
        unsigned char *rows = xmalloc(M * c * k->es), *ref_out = xmalloc(M * k->fs), *ref_grad = xmalloc(M * c * k->fs);
        unsigned char *ups = xmalloc(M * k->fs);
        int64_t t3[M];
        size_t i, olen = k->reduction == MML_REDUCTION_NONE ? M : 1;
        struct placed x, y, up, out, gi;
        for (i = 0; i < M; i++) {
            memcpy(rows + i * c * k->es, k->input, c * k->es);
            t3[i] = k->t64[0];
            memcpy(ups + i * k->fs, k->up, k->fs);
        }
        CHECK(mml_forward_backward_typed(k->loss, k->dtype, rows, c, MML_DTYPE_INT64, t3, M, c, ups, olen, ref_out,
                                         olen, fd, ref_grad, c, NULL) == MML_STATUS_OK);
        place2(&x, k->input, k->dtype, 1, c, 1);
        x.shape[0] = M;
        x.strides[0] = 0;
        place1(&y, t3, MML_DTYPE_INT64, M, 0, 0);
        place1(&up, ups, fd, olen, 0, 0);
        place1(&out, NULL, fd, olen, 1, 0);
        place2(&gi, NULL, fd, M, c, 3);
        snprintf(current, sizeof current, "%s broadcast", k->name);
        CHECK(mml_forward_backward_dlpack(k->loss, &x.t, &y.t, &up.t, &out.t, &gi.t, NULL) == MML_STATUS_OK);
        CHECK(gather(&out, olen, 1, got) && memcmp(got, ref_out, olen * k->fs) == 0);
        {
            unsigned char *g3 = xmalloc(M * c * k->fs);
            CHECK(gather(&gi, M, c, g3) && memcmp(g3, ref_grad, M * c * k->fs) == 0);
            free(g3);
        }
        free(x.buf); free(y.buf); free(up.buf); free(out.buf); free(gi.buf);
        free(rows); free(ref_out); free(ref_grad); free(ups);
    }
    free(got);
    free(w.out); free(w.grad); free(w.half);
}

/* A case repeated past the parallel threshold, pitched and column-major (none reduction). */
static void run_large(const struct tcase *k) {
    size_t copies = 131072 / (k->n * k->c) + 2, bn = k->n * copies, nc = bn * k->c, i;
    uint32_t fd = k->fs == 4 ? MML_DTYPE_FLOAT32 : MML_DTYPE_FLOAT64;
    unsigned char *bin = xmalloc(nc * k->es), *bup = xmalloc(bn * k->fs);
    unsigned char *ro = xmalloc(bn * k->fs), *rg = xmalloc(nc * k->fs), *got = xmalloc(nc * k->fs);
    int64_t *bt = xmalloc(bn * sizeof *bt);
    int l;
    MmlLoss *none = NULL;
    CHECK(mml_create(2, 0.9, NULL, 0, MML_REDUCTION_NONE, &none) == MML_STATUS_OK);
    for (i = 0; i < copies; i++) {
        memcpy(bin + i * k->n * k->c * k->es, k->input, k->n * k->c * k->es);
        memcpy(bt + i * k->n, k->t64, k->n * sizeof *bt);
    }
    for (i = 0; i < bn; i++) memcpy(bup + i * k->fs, k->up, k->fs);
    CHECK(mml_forward_backward_typed(none, k->dtype, bin, k->c, MML_DTYPE_INT64, bt, bn, k->c, bup, bn, ro, bn, fd,
                                     rg, k->c, NULL) == MML_STATUS_OK);
    for (l = 2; l <= 3; l++) {
        struct placed x; place2(&x, bin, k->dtype, bn, k->c, l);
        struct placed y; place1(&y, bt, MML_DTYPE_INT64, bn, 0, 0);
        struct placed up; place1(&up, bup, fd, bn, 0, 0);
        struct placed out; place1(&out, NULL, fd, bn, 1, 0);
        struct placed gi; place2(&gi, NULL, fd, bn, k->c, l);
        snprintf(current, sizeof current, "%s large layout %d", k->name, l);
        CHECK(mml_forward_backward_dlpack(none, &x.t, &y.t, &up.t, &out.t, &gi.t, NULL) == MML_STATUS_OK);
        CHECK(gather(&out, bn, 1, got) && memcmp(got, ro, bn * k->fs) == 0);
        CHECK(gather(&gi, bn, k->c, got) && memcmp(got, rg, nc * k->fs) == 0);
        free(x.buf); free(y.buf); free(up.buf); free(out.buf); free(gi.buf);
    }
    mml_destroy(none);
    free(bin); free(bup); free(ro); free(rg); free(got); free(bt);
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
            run_layouts(&k);
            if (threads == 2 && i % 23 == 0 && k.n * k.c > 0) run_large(&k);
            free_case(&k);
        }
    }
    CHECK(mml_set_num_threads(0) == MML_STATUS_OK);
    json_free(&root);
    return count / 2;
}

/* ---- every rule ---- */

enum { N = 4, C = 5 };
static float xs[N * C], ups[N], outs[N + 8], grads[N * C + 8];
static int64_t ts[N] = {0, 1, 2, 3};
static int64_t xshape[2] = {N, C}, vshape[1] = {N}, oshape[1] = {1};

static DLTensor tensor(void *data, uint32_t dtype, int ndim, int64_t *shape, int64_t *strides) {
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.device.device_type = kDLCPU;
    t.ndim = ndim;
    t.dtype = dl_type(dtype);
    t.shape = shape;
    t.strides = strides;
    return t;
}

#define REFUSED(call, st, arg)                                                          \
    do {                                                                                \
        memset(&err, POISON, sizeof err);                                               \
        memset(outs, POISON, sizeof outs);                                              \
        memset(grads, POISON, sizeof grads);                                            \
        CHECK((call) == (st));                                                          \
        CHECK(err.status == (st) && err.argument == (arg));                             \
        CHECK(memchr(err.message, '\0', sizeof err.message) && strlen(err.message) > 0); \
        CHECK(all_poison((unsigned char *)outs, sizeof outs) &&                         \
              all_poison((unsigned char *)grads, sizeof grads));                        \
        CHECK(memcmp(xs, xs_copy, sizeof xs) == 0);                                     \
    } while (0)

static void test_rules(void) {
    MmlLoss *mean = NULL, *none = NULL;
    MmlError err;
    float xs_copy[N * C];
    DLTensor x, y, up, out, gi, bad;
    size_t i;
    int64_t s_over[2] = {INT64_MAX / 2, 1}, s_self[2] = {1, 1}, s_zero[2] = {0, 1}, s_neg[2] = {-(INT64_MAX / 4), 1};
    int64_t s0[1] = {0}, neg_shape[2] = {-1, C}, big_shape[2] = {N, C + 1}, vbig[1] = {N + 1};
    snprintf(current, sizeof current, "DLPack rules");
    for (i = 0; i < N * C; i++) xs[i] = (float)(i % 7) / 4.0f;
    for (i = 0; i < N; i++) ups[i] = 1.0f;
    memcpy(xs_copy, xs, sizeof xs);
    CHECK(mml_create(1, 1.0, NULL, 0, MML_REDUCTION_MEAN, &mean) == MML_STATUS_OK);
    CHECK(mml_create(1, 1.0, NULL, 0, MML_REDUCTION_NONE, &none) == MML_STATUS_OK);
    x = tensor(xs, MML_DTYPE_FLOAT32, 2, xshape, NULL);
    y = tensor(ts, MML_DTYPE_INT64, 1, vshape, NULL);
    up = tensor(ups, MML_DTYPE_FLOAT32, 0, NULL, NULL);
    out = tensor(outs, MML_DTYPE_FLOAT32, 1, oshape, NULL);
    gi = tensor(grads, MML_DTYPE_FLOAT32, 2, xshape, NULL);
    /* the baseline call passes */
    CHECK(mml_forward_backward_dlpack(mean, &x, &y, &up, &out, &gi, &err) == MML_STATUS_OK);

    REFUSED(mml_forward_dlpack(NULL, &x, &y, &out, &err), MML_STATUS_NULL_POINTER, MML_ARG_LOSS);
    REFUSED(mml_forward_dlpack(mean, NULL, &y, &out, &err), MML_STATUS_NULL_POINTER, MML_ARG_INPUT);
    REFUSED(mml_forward_dlpack(mean, &x, NULL, &out, &err), MML_STATUS_NULL_POINTER, MML_ARG_TARGET);
    REFUSED(mml_forward_dlpack(mean, &x, &y, NULL, &err), MML_STATUS_NULL_POINTER, MML_ARG_OUTPUT);
    REFUSED(mml_backward_dlpack(mean, &x, &y, NULL, &gi, &err), MML_STATUS_NULL_POINTER, MML_ARG_GRAD_OUTPUT);
    REFUSED(mml_backward_dlpack(mean, &x, &y, &up, NULL, &err), MML_STATUS_NULL_POINTER, MML_ARG_GRAD_INPUT);
    /* device */
    bad = x; bad.device.device_type = kDLCUDA;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_INPUT);
    CHECK(err.expected == kDLCPU && err.actual == kDLCUDA && strstr(err.message, "kDLCPU") != NULL);
    bad = out; bad.device.device_type = kDLCUDAHost;
    REFUSED(mml_forward_dlpack(mean, &x, &y, &bad, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_OUTPUT);
    bad = y; bad.device.device_type = kDLMetal;
    REFUSED(mml_forward_dlpack(mean, &x, &bad, &out, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_TARGET);
    /* lanes */
    bad = x; bad.dtype.lanes = 4;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_INPUT);
    CHECK(err.actual == 4);
    /* dtypes */
    bad = x; bad.dtype.code = kDLInt; bad.dtype.bits = 32;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_INPUT);
    bad = x; bad.dtype.bits = 8;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_INPUT);
    bad = x; bad.dtype.code = kDLComplex; bad.dtype.bits = 64;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_INPUT);
    bad = y; bad.dtype = dl_type(MML_DTYPE_FLOAT32);
    REFUSED(mml_forward_dlpack(mean, &x, &bad, &out, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_TARGET);
    bad = y; bad.dtype.code = kDLUInt;
    REFUSED(mml_forward_dlpack(mean, &x, &bad, &out, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_TARGET);
    bad = out; bad.dtype = dl_type(MML_DTYPE_FLOAT64);
    REFUSED(mml_forward_dlpack(mean, &x, &y, &bad, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_OUTPUT);
    bad = up; bad.dtype = dl_type(MML_DTYPE_BFLOAT16);
    REFUSED(mml_backward_dlpack(mean, &x, &y, &bad, &gi, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_GRAD_OUTPUT);
    bad = gi; bad.dtype = dl_type(MML_DTYPE_BFLOAT16);
    REFUSED(mml_backward_dlpack(mean, &x, &y, &up, &bad, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_GRAD_INPUT);
    {
        /* half scores: grad in float32 or the same half type, not the other one */
        uint16_t h[N * C];
        DLTensor hx = tensor(h, MML_DTYPE_FLOAT16, 2, xshape, NULL);
        for (i = 0; i < N * C; i++) h[i] = 0x3C00;
        bad = gi; bad.dtype = dl_type(MML_DTYPE_BFLOAT16);
        REFUSED(mml_backward_dlpack(mean, &hx, &y, &up, &bad, &err), MML_STATUS_UNSUPPORTED_TENSOR,
                MML_ARG_GRAD_INPUT);
        CHECK(strstr(err.message, "float16") != NULL);
    }
    /* ndim */
    bad = x; bad.ndim = 3;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_INPUT);
    bad = x; bad.ndim = 0;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_INPUT);
    bad = x; bad.ndim = -1;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_INPUT);
    bad = y; bad.ndim = 2; bad.shape = xshape;
    REFUSED(mml_forward_dlpack(mean, &x, &bad, &out, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_TARGET);
    bad = out; bad.ndim = 2; bad.shape = xshape;
    REFUSED(mml_forward_dlpack(mean, &x, &y, &bad, &err), MML_STATUS_UNSUPPORTED_TENSOR, MML_ARG_OUTPUT);
    /* shapes that disagree */
    bad = y; bad.shape = vbig;
    REFUSED(mml_forward_dlpack(mean, &x, &bad, &out, &err), MML_STATUS_SHAPE_MISMATCH, MML_ARG_TARGET);
    CHECK(err.expected == N && err.actual == N + 1);
    bad = out; bad.shape = vbig;
    REFUSED(mml_forward_dlpack(mean, &x, &y, &bad, &err), MML_STATUS_SHAPE_MISMATCH, MML_ARG_OUTPUT);
    CHECK(err.expected == 1 && err.actual == N + 1);
    bad = out; bad.shape = vshape; bad.ndim = 0;
    REFUSED(mml_forward_dlpack(none, &x, &y, &bad, &err), MML_STATUS_SHAPE_MISMATCH, MML_ARG_OUTPUT);
    CHECK(err.expected == N && err.actual == 1);
    bad = up; bad.ndim = 1; bad.shape = vshape;
    REFUSED(mml_backward_dlpack(mean, &x, &y, &bad, &gi, &err), MML_STATUS_SHAPE_MISMATCH, MML_ARG_GRAD_OUTPUT);
    bad = gi; bad.shape = big_shape;
    REFUSED(mml_backward_dlpack(mean, &x, &y, &up, &bad, &err), MML_STATUS_SHAPE_MISMATCH, MML_ARG_GRAD_INPUT);
    CHECK(err.expected == N * C && err.actual == N * (C + 1));
    bad = gi; bad.ndim = 1; bad.shape = vshape;
    REFUSED(mml_backward_dlpack(mean, &x, &y, &up, &bad, &err), MML_STATUS_SHAPE_MISMATCH, MML_ARG_GRAD_INPUT);
    {
        DLTensor x1 = tensor(xs, MML_DTYPE_FLOAT32, 1, xshape + 1, NULL);
        REFUSED(mml_forward_dlpack(mean, &x1, &y, &out, &err), MML_STATUS_SHAPE_MISMATCH, MML_ARG_TARGET);
        CHECK(err.expected == 1 && err.actual == N);
    }
    bad = x; bad.shape = neg_shape;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_INVALID_ARGUMENT, MML_ARG_INPUT);
    CHECK(strstr(err.message, "negative") != NULL);
    bad = x; bad.shape = NULL;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_NULL_POINTER, MML_ARG_INPUT);
    bad = x; bad.data = NULL;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_NULL_POINTER, MML_ARG_INPUT);
    /* alignment */
    bad = x; bad.byte_offset = 2;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_INVALID_ARGUMENT, MML_ARG_INPUT);
    bad = out; bad.byte_offset = 1;
    REFUSED(mml_forward_dlpack(mean, &x, &y, &bad, &err), MML_STATUS_INVALID_ARGUMENT, MML_ARG_OUTPUT);
    /* strides and offsets that overflow */
    bad = x; bad.strides = s_over;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_INVALID_LAYOUT, MML_ARG_INPUT);
    CHECK(strstr(err.message, "overflow") != NULL);
    bad = x; bad.strides = s_neg;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_INVALID_LAYOUT, MML_ARG_INPUT);
    bad = x; bad.byte_offset = UINT64_MAX - 3;
    REFUSED(mml_forward_dlpack(mean, &bad, &y, &out, &err), MML_STATUS_INVALID_LAYOUT, MML_ARG_INPUT);
    bad = y; bad.strides = s_over;
    REFUSED(mml_forward_dlpack(mean, &x, &bad, &out, &err), MML_STATUS_INVALID_LAYOUT, MML_ARG_TARGET);
    bad = gi; bad.strides = s_over;
    REFUSED(mml_backward_dlpack(mean, &x, &y, &up, &bad, &err), MML_STATUS_INVALID_LAYOUT, MML_ARG_GRAD_INPUT);
    /* outputs that overlap themselves */
    bad = out; bad.shape = vshape; bad.strides = s0;
    REFUSED(mml_forward_dlpack(none, &x, &y, &bad, &err), MML_STATUS_ALIASED_BUFFERS, MML_ARG_OUTPUT);
    CHECK(strstr(err.message, "overlaps itself") != NULL);
    bad = gi; bad.strides = s_self;
    REFUSED(mml_backward_dlpack(mean, &x, &y, &up, &bad, &err), MML_STATUS_ALIASED_BUFFERS, MML_ARG_GRAD_INPUT);
    bad = gi; bad.strides = s_zero;
    REFUSED(mml_backward_dlpack(mean, &x, &y, &up, &bad, &err), MML_STATUS_ALIASED_BUFFERS, MML_ARG_GRAD_INPUT);
    {
        int64_t s_short[2] = {C - 1, 1};
        bad = gi; bad.strides = s_short;
        REFUSED(mml_backward_dlpack(mean, &x, &y, &up, &bad, &err), MML_STATUS_ALIASED_BUFFERS,
                MML_ARG_GRAD_INPUT);
    }
    /* ... or another tensor */
    bad = out; bad.data = grads + 3;
    REFUSED(mml_forward_backward_dlpack(mean, &x, &y, &up, &bad, &gi, &err), MML_STATUS_ALIASED_BUFFERS,
            MML_ARG_OUTPUT);
    CHECK(strstr(err.message, "grad_input") != NULL);
    {
        float arena[N * C + 4];
        DLTensor ax = tensor(arena, MML_DTYPE_FLOAT32, 2, xshape, NULL), ao = out;
        int64_t s_wide[1] = {C};
        memcpy(arena, xs, sizeof xs);
        ao.data = arena + N * C - 1;
        memset(&err, POISON, sizeof err);
        CHECK(mml_forward_dlpack(mean, &ax, &y, &ao, &err) == MML_STATUS_ALIASED_BUFFERS);
        CHECK(err.argument == MML_ARG_OUTPUT && strstr(err.message, "input") != NULL);
        CHECK(memcmp(arena, xs, sizeof xs) == 0);
        /* a column of the scores' buffer, strided through it: inside the input's extent */
        ao = tensor(arena + 1, MML_DTYPE_FLOAT32, 1, vshape, s_wide);
        CHECK(mml_forward_dlpack(none, &ax, &y, &ao, &err) == MML_STATUS_ALIASED_BUFFERS);
        CHECK(memcmp(arena, xs, sizeof xs) == 0);
    }
    bad = out; bad.data = ts;
    {
        int64_t keep[N];
        memcpy(keep, ts, sizeof ts);
        memset(&err, POISON, sizeof err);
        CHECK(mml_forward_dlpack(mean, &x, &y, &bad, &err) == MML_STATUS_ALIASED_BUFFERS);
        CHECK(err.argument == MML_ARG_OUTPUT && memcmp(keep, ts, sizeof ts) == 0);
    }
    /* the MmlError inside the output: refused, neither written */
    {
        union { MmlError e; float f[sizeof(MmlError) / sizeof(float) + 4]; } u;
        DLTensor uo = tensor(u.f, MML_DTYPE_FLOAT32, 1, oshape, NULL);
        memset(&u, POISON, sizeof u);
        CHECK(mml_forward_dlpack(mean, &x, &y, &uo, &u.e) == MML_STATUS_ALIASED_BUFFERS);
        CHECK(all_poison((unsigned char *)&u, sizeof u));
    }
    /* mml's own checks through DLPack: targets, classes, weights */
    {
        int32_t t32[N * 2] = {0, 9, 1, 9, 5, 9, 3, 9};
        int64_t s2[1] = {2};
        MmlLoss *weighted = NULL;
        float w[C + 1] = {1, 1, 1, 1, 1, 1};
        int64_t zshape[2] = {N, 0};
        DLTensor yt = tensor(t32, MML_DTYPE_INT32, 1, vshape, s2), xz = tensor(xs, MML_DTYPE_FLOAT32, 2, zshape, NULL);
        REFUSED(mml_forward_dlpack(mean, &x, &yt, &out, &err), MML_STATUS_TARGET_OUT_OF_RANGE, MML_ARG_TARGET);
        CHECK(err.row == 2 && err.value == 5);
        REFUSED(mml_forward_dlpack(mean, &xz, &y, &out, &err), MML_STATUS_INVALID_ARGUMENT, MML_ARG_CLASSES);
        CHECK(mml_create(1, 1.0, w, C + 1, MML_REDUCTION_MEAN, &weighted) == MML_STATUS_OK);
        REFUSED(mml_forward_dlpack(weighted, &x, &y, &out, &err), MML_STATUS_SHAPE_MISMATCH, MML_ARG_WEIGHT);
        CHECK(err.expected == C && err.actual == C + 1);
        mml_destroy(weighted);
    }
    /* an empty batch: NULL data is fine; sum gives 0 */
    {
        MmlLoss *sum = NULL;
        int64_t eshape[2] = {0, C}, e1[1] = {0};
        float o = -1.0f;
        DLTensor ex = tensor(NULL, MML_DTYPE_BFLOAT16, 2, eshape, NULL), ey = tensor(NULL, MML_DTYPE_INT32, 1, e1, NULL);
        DLTensor eo = tensor(&o, MML_DTYPE_FLOAT32, 0, NULL, NULL);
        CHECK(mml_create(1, 1.0, NULL, 0, MML_REDUCTION_SUM, &sum) == MML_STATUS_OK);
        CHECK(mml_forward_dlpack(sum, &ex, &ey, &eo, &err) == MML_STATUS_OK && o == 0.0f);
        mml_destroy(sum);
    }
    /* a misaligned DLTensor, and a misaligned MmlError */
    {
        unsigned char raw[sizeof(DLTensor) + 8];
        memcpy(raw + 1, &x, sizeof x);
        REFUSED(mml_forward_dlpack(mean, (DLTensor *)(void *)(raw + 1), &y, &out, &err), MML_STATUS_INVALID_ARGUMENT,
                MML_ARG_INPUT);
        memset(outs, POISON, sizeof outs);
        CHECK(mml_forward_dlpack(mean, &x, &y, &out, (MmlError *)(void *)(raw + 1)) == MML_STATUS_INVALID_ARGUMENT);
        CHECK(all_poison((unsigned char *)outs, sizeof outs));
    }
    mml_destroy(mean);
    mml_destroy(none);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/data";
    read_subset();
    size_t formats, golden32, golden64;
    printf("MML_ISA=%s: ran %s\n", getenv("MML_ISA") ? getenv("MML_ISA") : "(unset)", mml_kernel_path());
    test_rules();
    formats = run_file(dir, "formats.json", 0);
    golden32 = run_file(dir, "multi_margin_loss.json", 1);
    golden64 = run_file(dir, "multi_margin_loss.json", 2);
    CHECK(formats == 138 && golden32 == 184 && golden64 == 184);
    printf("dlpack: %zu formats.json cases and %zu golden cases in %d layouts on 1 and 2 threads; %d passed, %d failed\n",
           formats, golden32, LAYOUTS, passed, failed);
    return failed == 0 ? 0 : 1;
}
