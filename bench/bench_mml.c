/* Times mml through its C ABI only (include/mml.h, libmml.so): per-call nanoseconds for small
 * shapes, GB/s for large ones, median of repeated runs, beside a read loop and a copy loop over
 * the same bytes measured in the same run, on as many threads as mml uses for the shape (one below
 * its parallel threshold). Build and run with bench/run.sh. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
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

/* mml's parallel threshold (engine::PARALLEL_MIN_ELEMENTS): smaller calls run on one thread. */
enum { PARALLEL_MIN_ELEMENTS = 1 << 17 };

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
/* The roofline's read loop, the same sum as criterion's (`benches/kernels.rs`): sixteen float
 * partial sums, here four 4-lane vectors kept in registers. Written with vector types because
 * an array of sixteen sums compiled (GCC 12, -O2) to a loop that stored and reloaded them on
 * every 64 bytes, a chain through memory that capped it near 20 GB/s even in cache: well under
 * the memory's speed on the large shapes, which made every kernel look faster than memory. */
typedef float f32x4 __attribute__((vector_size(16)));
static f32x4 load4(const float *p) {
    f32x4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static float read_range(const float *x, size_t len) {
    f32x4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        a0 += load4(x + i);
        a1 += load4(x + i + 4);
        a2 += load4(x + i + 8);
        a3 += load4(x + i + 12);
    }
    f32x4 a = (a0 + a1) + (a2 + a3);
    float s = (a[0] + a[1]) + (a[2] + a[3]);
    for (; i < len; i++) s += x[i];
    return s;
}

/* The loops run on as many threads as mml's calls of the shape do: the calling thread and
 * `threads - 1` helpers, each over one contiguous share of the buffer. The helpers live as long
 * as the process and wait for work as mml's pool does: yielding the CPU for a while after each
 * loop, then asleep (threads started per call waited milliseconds for a core on a busy machine,
 * which made the roofline look slow). */
static size_t loop_threads = 1;
enum { MAX_LOOP_THREADS = 64, IDLE_ROUNDS = 64 };
typedef struct {
    const float *src;
    float *dst;
    size_t len;
    float sum;
} Share;
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    unsigned long generation; /* bumped (under the lock, read with __atomic) per loop */
    unsigned long finished;   /* helpers done with the current loop */
    void (*body)(Share *);
    Share shares[MAX_LOOP_THREADS];
    size_t started;
} helpers = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL, {{0}}, 0};

static void *helper(void *arg) {
    size_t index = (size_t)arg;
    unsigned long seen = 0;
    for (;;) {
        unsigned long now = __atomic_load_n(&helpers.generation, __ATOMIC_ACQUIRE);
        for (int r = 0; now == seen && r < IDLE_ROUNDS; r++) {
            sched_yield();
            now = __atomic_load_n(&helpers.generation, __ATOMIC_ACQUIRE);
        }
        if (now == seen) {
            pthread_mutex_lock(&helpers.lock);
            while ((now = __atomic_load_n(&helpers.generation, __ATOMIC_ACQUIRE)) == seen)
                pthread_cond_wait(&helpers.wake, &helpers.lock);
            pthread_mutex_unlock(&helpers.lock);
        }
        seen = now;
        helpers.body(&helpers.shares[index]);
        __atomic_add_fetch(&helpers.finished, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void read_share(Share *s) { s->sum = read_range(s->src, s->len); }
static void copy_share(Share *s) { memcpy(s->dst, s->src, s->len * sizeof(float)); }

static float on_threads(Case *k, void (*body)(Share *)) {
    size_t len = k->n * k->c, t = len >= PARALLEL_MIN_ELEMENTS ? loop_threads : 1;
    for (; helpers.started + 1 < t; helpers.started++) {
        pthread_t id;
        if (pthread_create(&id, NULL, helper, (void *)(helpers.started + 1)) != 0) abort();
    }
    for (size_t i = 0; i < t; i++) {
        size_t begin = len * i / t, end = len * (i + 1) / t;
        helpers.shares[i] = (Share){k->input + begin, k->copy + begin, end - begin, 0};
    }
    if (t > 1) {
        helpers.body = body;
        __atomic_store_n(&helpers.finished, 0, __ATOMIC_RELAXED);
        pthread_mutex_lock(&helpers.lock);
        __atomic_add_fetch(&helpers.generation, 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&helpers.wake);
        pthread_mutex_unlock(&helpers.lock);
    }
    body(&helpers.shares[0]);
    while (__atomic_load_n(&helpers.finished, __ATOMIC_ACQUIRE) + 1 < t) sched_yield();
    float s = 0;
    for (size_t i = 0; i < t; i++) s += helpers.shares[i].sum;
    return s;
}
static void op_read(Case *k) { sink = on_threads(k, read_share); }
static void op_copy(Case *k) {
    on_threads(k, copy_share);
    sink = k->copy[k->n * k->c / 2];
}

enum { OPS = 5 };
static void (*const ops[OPS])(Case *) = {op_forward, op_backward, op_fused, op_read, op_copy};

static double median(double *v, int count) {
    qsort(v, (size_t)count, sizeof v[0], cmp_double);
    return v[count / 2];
}

/* Nanoseconds per call of each of `ops` in each run (`t[op][run]`). Each run times `reps` calls
 * of every op in turn, so that the kernels and the loops they are compared to see the same
 * machine: on a shared one, memory speed drifts by tens of percent between runs a few seconds
 * apart, which a comparison of medians taken one op after another picks up as a ratio. An
 * untimed call first gives each op the caches it would find when called repeatedly, as it was
 * before the other ops ran. */
static void time_ops(Case *k, int reps, double t[OPS][RUNS]) {
    for (int r = 0; r < RUNS; r++) {
        for (int o = 0; o < OPS; o++) {
            ops[o](k);
            double t0 = now_ns();
            for (int i = 0; i < reps; i++) ops[o](k);
            t[o][r] = (now_ns() - t0) / reps;
        }
    }
}

int main(int argc, char **argv) {
    static const size_t shapes[][2] = {{32, 10}, {256, 10}, {4096, 10}, {4096, 1000},
                                       {65536, 100}, {4194304, 10}, {32768, 1000},
                                       {65536, 300}};
    size_t threads = argc > 1 ? (size_t)atoi(argv[1]) : 1;
    if (mml_set_num_threads(threads) != MML_STATUS_OK) return 1;
    loop_threads = mml_get_num_threads();
    if (loop_threads > MAX_LOOP_THREADS) return 1;
    printf("mml %s, %zu thread(s); median of %d runs (read and copy loops on as many threads as\n"
           "mml uses for the shape; the last three columns: each run's kernel GB/s over that run's\n"
           "read or copy GB/s, median)\n",
           mml_version(), mml_get_num_threads(), RUNS);
    printf("%-12s %11s %11s %11s %11s %11s | %8s %8s %8s %8s %8s | %8s %8s %8s\n", "shape", "fwd ns",
           "bwd ns", "fused ns", "read ns", "copy ns", "fwd GB/s", "bwd GB/s", "fus GB/s", "read", "copy",
           "fwd/read", "bwd/copy", "fus/copy");
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
        double t[OPS][RUNS];
        time_ops(&k, reps, t);
        double in = (double)len * 4, tg = (double)k.n * 8;
        double fwd_read[RUNS], bwd_copy[RUNS], fus_copy[RUNS];
        for (int r = 0; r < RUNS; r++) {
            fwd_read[r] = (in + tg) / t[0][r] / (in / t[3][r]);
            bwd_copy[r] = (2 * in + tg) / t[1][r] / (2 * in / t[4][r]);
            fus_copy[r] = (2 * in + tg) / t[2][r] / (2 * in / t[4][r]);
        }
        double f = median(t[0], RUNS), b = median(t[1], RUNS), u = median(t[2], RUNS), r = median(t[3], RUNS),
               c = median(t[4], RUNS);
        char name[32];
        snprintf(name, sizeof name, "%zux%zu", k.n, k.c);
        printf("%-12s %11.0f %11.0f %11.0f %11.0f %11.0f | %8.2f %8.2f %8.2f %8.2f %8.2f | %7.0f%% %7.0f%% %7.0f%%\n",
               name, f, b, u, r, c, (in + tg) / f, (2 * in + tg) / b, (2 * in + tg) / u, in / r, 2 * in / c,
               100 * median(fwd_read, RUNS), 100 * median(bwd_copy, RUNS), 100 * median(fus_copy, RUNS));
        mml_destroy(k.loss);
        free(k.input);
        free(k.grad);
        free(k.copy);
        free(k.target);
    }
    return 0;
}
