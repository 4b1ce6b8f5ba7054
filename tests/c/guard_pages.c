/*
 * Guard pages: every buffer of every computing entry point (mml_forward, mml_backward,
 * mml_forward_backward and their _f64 forms), and the weights of mml_create, placed flush
 * against an inaccessible (PROT_NONE) page: once ending at the page before it, once starting
 * at the page after it. A read or write one byte past either end of any buffer faults, and the
 * fault fails the test, naming the call. Each call's outputs must have the same bits at both
 * placements as in ordinary heap buffers.
 *
 * The shapes exercise each kernel path's tails: c in 1..17, 31..33, 63..65, 127..129,
 * 255..257 and 1023..1025, with n around multiples of 4, 8 and 16 up to 65, up to 4097 for
 * c <= 129; for every c, the smallest n of a large call (n*c >= 131072 scores: blocks on the
 * pool) and shapes with a short last block; 4097x1025 (16 MiB of float scores: long rows read
 * in streams) and 262145x17 (blocks prefetched 4 KiB ahead, past the buffers' ends into the guard
 * pages, which a prefetch never faults on). f32 and f64, every reduction (large calls: none
 * and sum; mean runs sum's blocks), p = 2 with weights.
 * `make test-c` runs it once per MML_ISA; it prints the path that ran.
 */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mml.h"

/* The call being made, for the fault handler's report. */
static char current[256];

static void on_fault(int sig) {
    static const char head[] = "guard_pages: FAULT (signal) during ";
    ssize_t ignored = write(2, head, sizeof head - 1);
    ignored = write(2, current, strlen(current));
    ignored = write(2, "\n", 1);
    (void)ignored;
    _exit(128 + sig);
}

/* A mapping with an inaccessible page on each side of `cap` usable bytes. */
struct guarded {
    unsigned char *base;
    size_t cap;
};

static size_t page;

static struct guarded guarded_new(size_t bytes) {
    size_t cap = (bytes + page - 1) / page * page;
    unsigned char *p = mmap(NULL, cap + 2 * page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p, page, PROT_NONE) != 0 ||
        mprotect(p + page + cap, page, PROT_NONE) != 0) {
        perror("guard_pages: mmap/mprotect");
        exit(2);
    }
    struct guarded g = {p + page, cap};
    return g;
}

/* `bytes` flush against the page after (at_end) or before (!at_end) the usable bytes. */
static void *place(const struct guarded *g, size_t bytes, int at_end) {
    if (bytes > g->cap) {
        fprintf(stderr, "guard_pages: a buffer of %zu bytes exceeds its mapping\n", bytes);
        exit(2);
    }
    return at_end ? g->base + g->cap - bytes : g->base;
}

enum { INPUT, TARGET, GRAD_OUTPUT, OUTPUT, GRAD_INPUT, WEIGHT, BUFFERS };
static struct guarded buf[BUFFERS];

enum { LARGE = 131072 };

enum op { FORWARD, BACKWARD, FUSED };
static const char *const op_names[] = {"forward", "backward", "fused"};
static const char *const reduction_names[] = {"none", "mean", "sum"};
static const unsigned char CANARY = 0xc3;

static long calls;
static int failures;

/* One call; outputs of `size` bytes per value. */
static uint32_t call(int size, enum op op, const MmlLoss *loss, const void *x, const int64_t *t,
                     size_t n, size_t c, const void *up, size_t out_len, void *out, void *grad) {
    calls++;
    if (size == 4) {
        switch (op) {
        case FORWARD: return mml_forward(loss, x, t, n, c, out, out_len);
        case BACKWARD: return mml_backward(loss, x, t, n, c, up, out_len, grad, n * c);
        case FUSED: return mml_forward_backward(loss, x, t, n, c, up, out_len, out, out_len, grad, n * c);
        }
    } else {
        switch (op) {
        case FORWARD: return mml_forward_f64(loss, x, t, n, c, out, out_len);
        case BACKWARD: return mml_backward_f64(loss, x, t, n, c, up, out_len, grad, n * c);
        case FUSED: return mml_forward_backward_f64(loss, x, t, n, c, up, out_len, out, out_len, grad, n * c);
        }
    }
    return 999;
}

/* Inputs and the heap run's outputs, reused from shape to shape (grown as needed). */
static unsigned char *x, *up, *want_out, *want_grad;
static int64_t *t;
static float *w;
static size_t x_cap, n_cap, c_cap;

static void grow(size_t n, size_t c) {
    if (n * c * 8 > x_cap) {
        x_cap = n * c * 8;
        x = realloc(x, x_cap);
        want_grad = realloc(want_grad, x_cap);
    }
    if (n * 8 > n_cap) {
        n_cap = n * 8;
        t = realloc(t, n_cap);
        up = realloc(up, n_cap);
        want_out = realloc(want_out, n_cap);
    }
    if (c * 4 > c_cap) {
        c_cap = c * 4;
        w = realloc(w, c_cap);
    }
    if (!x || !want_grad || !t || !up || !want_out || !w) {
        fprintf(stderr, "guard_pages: out of memory\n");
        exit(2);
    }
}

static double value(size_t i) {
    /* A coarse grid (hinge ties), with a NaN, infinities and a negative zero now and then. */
    switch ((i * 2654435761u) % 97) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return -0.0;
    default: return (double)((i * 7919) % 33) * 0.125 - 2.0;
    }
}

/* Every entry point and reduction of one shape and precision, at each placement. */
static void shape(size_t n, size_t c, int size) {
    grow(n, c);
    for (size_t i = 0; i < n * c; i++) {
        if (size == 4) ((float *)x)[i] = (float)value(i); else ((double *)x)[i] = value(i);
    }
    for (size_t i = 0; i < n; i++) {
        t[i] = (int64_t)((i * 40503u) % c);
        if (size == 4) ((float *)up)[i] = 0.5f + (float)(i % 5); else ((double *)up)[i] = 0.5 + (double)(i % 5);
    }
    for (size_t j = 0; j < c; j++) w[j] = 0.25f + (float)(j % 7) / 4.0f;
    size_t xb = n * c * size, tb = n * sizeof(int64_t), wb = c * sizeof(float);

    for (uint32_t reduction = 0; reduction <= 2; reduction++) {
        /* Large calls: mean runs the blocks of sum (only its constants differ). */
        if (n * c >= LARGE && reduction == MML_REDUCTION_MEAN) continue;
        size_t out_len = reduction == MML_REDUCTION_NONE ? n : 1, ob = out_len * size;
        MmlLoss *heap_loss = NULL;
        if (mml_create(2, 1.0, w, c, reduction, &heap_loss) != MML_STATUS_OK) {
            fprintf(stderr, "guard_pages: mml_create failed\n");
            exit(2);
        }
        for (int op = FORWARD; op <= FUSED; op++) {
            memset(want_out, CANARY, ob);
            memset(want_grad, CANARY, xb);
            snprintf(current, sizeof current, "%s %zux%zu f%d %s, heap buffers", op_names[op], n,
                     c, size * 8, reduction_names[reduction]);
            if (call(size, op, heap_loss, x, t, n, c, up, out_len, want_out, want_grad) !=
                MML_STATUS_OK) {
                fprintf(stderr, "guard_pages: %s: not OK\n", current);
                failures++;
            }
            for (int at_end = 0; at_end <= 1; at_end++) {
                const char *where = at_end ? "each buffer ending at a guard page"
                                           : "each buffer starting after a guard page";
                snprintf(current, sizeof current, "mml_create, weights %s", where);
                float *gw = place(&buf[WEIGHT], wb, at_end);
                memcpy(gw, w, wb);
                MmlLoss *loss = NULL;
                if (mml_create(2, 1.0, gw, c, reduction, &loss) != MML_STATUS_OK) exit(2);
                unsigned char *gx = place(&buf[INPUT], xb, at_end);
                int64_t *gt = place(&buf[TARGET], tb, at_end);
                unsigned char *gup = place(&buf[GRAD_OUTPUT], ob, at_end);
                unsigned char *gout = place(&buf[OUTPUT], ob, at_end);
                unsigned char *ggrad = place(&buf[GRAD_INPUT], xb, at_end);
                memcpy(gx, x, xb);
                memcpy(gt, t, tb);
                memcpy(gup, up, ob);
                memset(gout, CANARY, ob);
                memset(ggrad, CANARY, xb);
                snprintf(current, sizeof current, "%s %zux%zu f%d %s, %s", op_names[op], n, c,
                         size * 8, reduction_names[reduction], where);
                uint32_t s = call(size, op, loss, gx, gt, n, c, gup, out_len, gout, ggrad);
                /* The forward-only call writes no gradient, the backward no output: both stay
                 * canaries, as in the heap run. */
                if (s != MML_STATUS_OK || memcmp(gout, want_out, ob) != 0 ||
                    (op != FORWARD && memcmp(ggrad, want_grad, xb) != 0)) {
                    fprintf(stderr, "guard_pages: %s: status %u or bits differ from heap buffers\n",
                            current, s);
                    failures++;
                }
                mml_destroy(loss);
            }
        }
        mml_destroy(heap_loss);
    }
}

static const size_t CLASSES[] = {1,   2,   3,   4,   5,   6,   7,   8,    9,    10,   11,
                                 12,  13,  14,  15,  16,  17,  31,  32,   33,   63,   64,
                                 65,  127, 128, 129, 255, 256, 257, 1023, 1024, 1025};
static const size_t SMALL_ROWS[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65};
static const size_t MID_ROWS[] = {127, 128, 129, 255, 256, 257, 4095, 4096, 4097};

int main(void) {
    page = (size_t)sysconf(_SC_PAGESIZE);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    /* Room for the largest shapes: 262145x17 and 4097x1025 doubles. */
    size_t most_scores = 262145 * 17 > 4097 * 1025 ? 262145 * 17 : 4097 * 1025;
    buf[INPUT] = guarded_new(most_scores * 8);
    buf[GRAD_INPUT] = guarded_new(most_scores * 8);
    buf[TARGET] = guarded_new(262145 * 8);
    buf[GRAD_OUTPUT] = guarded_new(262145 * 8);
    buf[OUTPUT] = guarded_new(262145 * 8);
    buf[WEIGHT] = guarded_new(1025 * 4);

    size_t shapes = 0;
    for (size_t ci = 0; ci < sizeof CLASSES / sizeof *CLASSES; ci++) {
        size_t c = CLASSES[ci];
        size_t rows[32], count = 0;
        for (size_t i = 0; i < sizeof SMALL_ROWS / sizeof *SMALL_ROWS; i++) rows[count++] = SMALL_ROWS[i];
        if (c <= 129)
            for (size_t i = 0; i < sizeof MID_ROWS / sizeof *MID_ROWS; i++) rows[count++] = MID_ROWS[i];
        /* Large calls: the first n at the threshold, and one whose last block is 17 rows. */
        size_t first_large = (LARGE + c - 1) / c;
        size_t block = (65536 + c - 1) / c;
        block = (block + 15) / 16 * 16;
        rows[count++] = first_large;
        rows[count++] = (first_large + block - 1) / block * block + 17;
        for (size_t r = 0; r < count; r++)
            for (int size = 4; size <= 8; size += 4) shape(rows[r], c, size);
        shapes += count;
    }
    /* Long rows read in streams (16 MiB of float scores), and short rows prefetched far ahead. */
    for (int size = 4; size <= 8; size += 4) {
        shape(4097, 1025, size);
        shape(262145, 17, size);
    }
    shapes += 2;
    printf("guard_pages: MML_ISA=%s: ran %s; %zu shapes x f32/f64, %ld calls with every buffer "
           "against a guard page at either end: %s\n",
           getenv("MML_ISA") ? getenv("MML_ISA") : "(unset)", mml_kernel_path(), shapes, calls,
           failures == 0 ? "no fault, same bits" : "FAILED");
    return failures == 0 ? 0 : 1;
}
