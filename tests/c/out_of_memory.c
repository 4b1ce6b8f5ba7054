/*
 * Allocation failure through the C ABI, in the manner of SQLite's malloc tests: this program
 * defines malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign itself, so that
 * every allocation libmml.so makes (and the C library makes for it) comes here, and passes them
 * on to glibc's allocator (its __libc_* entry points) except the one chosen to fail. Each call
 * below runs once unconstrained, counting the allocations made while it runs (on every thread:
 * the pool's workers included), then once for each k up to that count plus one with the k-th
 * allocation failing. Every run must either succeed with the unconstrained run's bits or return
 * MML_STATUS_OUT_OF_MEMORY with every output byte untouched; none may abort the process.
 *
 * Covered: mml_create with weights; large forward, backward and fused calls (n*c >= 131072
 * scores: 16384x10 and 4096x100) with each reduction, f32 and f64, on a pool that is already
 * built (2 threads).
 *
 * glibc only (the __libc_* entry points). Built without sanitizers (`make test-c`): ASan
 * replaces the allocator itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mml.h"

#ifndef __GLIBC__
#error "this test interposes glibc's allocator"
#endif

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static atomic_int armed;
static atomic_long counted, fail_at, failures;

/* Whether the allocation being made now is the one to fail. */
static int fail_now(void) {
    if (!atomic_load(&armed)) return 0;
    long k = atomic_fetch_add(&counted, 1) + 1;
    if (k == atomic_load(&fail_at)) {
        atomic_fetch_add(&failures, 1);
        return 1;
    }
    return 0;
}

void *malloc(size_t size) {
    if (fail_now()) { errno = ENOMEM; return NULL; }
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    if (fail_now()) { errno = ENOMEM; return NULL; }
    return __libc_calloc(count, size);
}

void *realloc(void *ptr, size_t size) {
    if (fail_now()) { errno = ENOMEM; return NULL; }
    return __libc_realloc(ptr, size);
}

void *memalign(size_t alignment, size_t size) {
    if (fail_now()) { errno = ENOMEM; return NULL; }
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    return memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    if (fail_now()) return ENOMEM;
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

static int failed_checks;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            failed_checks++;                                                \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

/* Counting (and failing the k-th allocation, 0 for none) around one library call only: this
 * program's own allocations neither count nor fail. */
static void arm(long k) {
    atomic_store(&counted, 0);
    atomic_store(&failures, 0);
    atomic_store(&fail_at, k);
    atomic_store(&armed, 1);
}

static long disarm(int *failed) {
    atomic_store(&armed, 0);
    *failed = (int)atomic_load(&failures);
    return atomic_load(&counted);
}

enum { C_MAX = 100 };
static float weights[C_MAX];

static void create_fails_cleanly(void) {
    MmlLoss *sentinel = (MmlLoss *)(uintptr_t)0x5a5a5a58u;
    MmlLoss *out = sentinel;
    int failed;
    arm(0);
    uint32_t s = mml_create(2, 1.0, weights, 10, MML_REDUCTION_SUM, &out);
    long points = disarm(&failed);
    CHECK(s == MML_STATUS_OK && out != sentinel, "unconstrained mml_create: status %u", s);
    /* It copies the weights at least: none counted means this allocator is not the one in use
     * (as under valgrind, which replaces it too). */
    CHECK(points >= 2, "mml_create made %ld allocations: the interposed allocator is not in effect",
          points);
    mml_destroy(out);
    for (long k = 1; k <= points + 1; k++) {
        out = sentinel;
        arm(k);
        s = mml_create(2, 1.0, weights, 10, MML_REDUCTION_SUM, &out);
        disarm(&failed);
        if (k <= points) {
            CHECK(failed == 1 && s == MML_STATUS_OUT_OF_MEMORY && out == sentinel,
                  "mml_create with allocation %ld of %ld failing: status %u", k, points, s);
        } else {
            CHECK(failed == 0 && s == MML_STATUS_OK && out != sentinel,
                  "mml_create past its allocations: status %u", s);
            mml_destroy(out);
        }
    }
    printf("mml_create with weights: %ld allocation points, each fails it with "
           "MML_STATUS_OUT_OF_MEMORY\n", points);
}

enum op { FORWARD, BACKWARD, FUSED };
static const char *const op_names[] = {"forward", "backward", "fused"};
static const char *const reduction_names[] = {"none", "mean", "sum"};

/* Bytes a call writes: a canary pattern before it, compared after. */
static const unsigned char CANARY = 0xa7;

/* One call of the given precision (4: float, 8: double) on buffers of bytes. */
static uint32_t call(int size, enum op op, const MmlLoss *loss, const void *x, const int64_t *t,
                     size_t n, size_t c, const void *up, size_t out_len, void *out, void *grad) {
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

static int all_canary(const unsigned char *p, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (p[i] != CANARY) return 0;
    return 1;
}

/* A large call at each of its allocation points; returns how many it has. */
static long large_call(int size, enum op op, size_t n, size_t c, uint32_t reduction) {
    MmlLoss *loss = NULL;
    CHECK(mml_create(2, 1.0, weights, c, reduction, &loss) == MML_STATUS_OK, "create");
    size_t out_len = reduction == MML_REDUCTION_NONE ? n : 1;
    unsigned char *x = malloc(n * c * size), *up = malloc(out_len * size);
    int64_t *t = malloc(n * sizeof *t);
    unsigned char *out = malloc(out_len * size), *grad = malloc(n * c * size);
    unsigned char *want_out = malloc(out_len * size), *want_grad = malloc(n * c * size);
    for (size_t i = 0; i < n * c; i++) {
        double v = (double)((i * 7919) % 29) * 0.125 - 2.0;
        if (size == 4) ((float *)x)[i] = (float)v; else ((double *)x)[i] = v;
    }
    for (size_t i = 0; i < n; i++) t[i] = (int64_t)((i * 31) % c);
    for (size_t i = 0; i < out_len; i++) {
        if (size == 4) ((float *)up)[i] = 0.75f; else ((double *)up)[i] = 0.75;
    }
    /* The unconstrained run (after a first one that settles the pool), counted. */
    CHECK(call(size, op, loss, x, t, n, c, up, out_len, out, grad) == MML_STATUS_OK, "warm-up");
    memset(want_out, CANARY, out_len * size);
    memset(want_grad, CANARY, n * c * size);
    int failed;
    arm(0);
    uint32_t s = call(size, op, loss, x, t, n, c, up, out_len, want_out, want_grad);
    long points = disarm(&failed);
    CHECK(s == MML_STATUS_OK, "unconstrained %s: status %u", op_names[op], s);
    for (long k = 1; k <= points + 1; k++) {
        memset(out, CANARY, out_len * size);
        memset(grad, CANARY, n * c * size);
        arm(k);
        s = call(size, op, loss, x, t, n, c, up, out_len, out, grad);
        long count = disarm(&failed);
        CHECK(failed == (k <= points), "%s %zux%zu: allocation %ld of %ld (this run made %ld)",
              op_names[op], n, c, k, points, count);
        if (s == MML_STATUS_OUT_OF_MEMORY) {
            CHECK(failed && all_canary(out, out_len * size) && all_canary(grad, n * c * size),
                  "%s %zux%zu %s: MML_STATUS_OUT_OF_MEMORY without a failure, or with output "
                  "written", op_names[op], n, c, reduction_names[reduction]);
        } else {
            CHECK(s == MML_STATUS_OK && memcmp(out, want_out, out_len * size) == 0 &&
                      memcmp(grad, want_grad, n * c * size) == 0,
                  "%s %zux%zu %s f%d, allocation %ld failing: status %u, or other bits",
                  op_names[op], n, c, reduction_names[reduction], size * 8, k, s);
        }
    }
    free(x); free(up); free(t); free(out); free(grad); free(want_out); free(want_grad);
    mml_destroy(loss);
    return points;
}

int main(void) {
    for (int j = 0; j < C_MAX; j++) weights[j] = 0.5f + (float)j / 16.0f;
    /* stdout's buffer is allocated before anything is counted. */
    printf("out_of_memory: interposed malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign\n");
    fflush(stdout);
    create_fails_cleanly();
    CHECK(mml_set_num_threads(2) == MML_STATUS_OK, "threads");
    long calls = 0, with_points = 0, max_points = 0;
    const size_t shapes[][2] = {{16384, 10}, {4096, 100}};
    for (int sh = 0; sh < 2; sh++)
        for (uint32_t r = 0; r <= 2; r++)
            for (int op = FORWARD; op <= FUSED; op++)
                for (int size = 4; size <= 8; size += 4) {
                    long points = large_call(size, (enum op)op, shapes[sh][0], shapes[sh][1], r);
                    calls++;
                    if (points > 0) with_points++;
                    if (points > max_points) max_points = points;
                }
    printf("large calls on a built 2-thread pool: %ld calls, %ld of them with allocation points "
           "(at most %ld each); every failure ran on or reported cleanly\n",
           calls, with_points, max_points);
    printf("%s\n", failed_checks == 0 ? "out_of_memory: no allocation failure aborted; all passed"
                                      : "out_of_memory: FAILED");
    return failed_checks == 0 ? 0 : 1;
}
