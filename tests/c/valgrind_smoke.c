/* A small C program for scripts/valgrind.sh: every entry point, error paths, and a large call
 * that starts the library's thread pool, so that memcheck sees the whole lifecycle (handles,
 * pool threads, status messages). Exits non-zero on a wrong status or value. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mml.h"

static int failures = 0;
#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);         \
            failures++;                                                                       \
        }                                                                                     \
    } while (0)

int main(void) {
    float weight[10];
    for (int j = 0; j < 10; j++) weight[j] = 1.0f + (float)j / 8.0f;

    MmlLoss *loss = NULL;
    CHECK(mml_create(2, 1.0, weight, 10, MML_REDUCTION_MEAN, &loss) == MML_STATUS_OK);
    CHECK(loss != NULL);

    /* The seed's example shape: 32 x 10. */
    enum { N = 32, C = 10 };
    float x[N * C], grad[N * C], grad2[N * C], out = -1.0f, out2 = -2.0f, up = 1.0f;
    int64_t y[N];
    for (int i = 0; i < N * C; i++) x[i] = (float)((i * 37) % 23) / 8.0f - 1.0f;
    for (int i = 0; i < N; i++) y[i] = (i * 7) % C;
    CHECK(mml_forward(loss, x, y, N, C, &out, 1) == MML_STATUS_OK);
    CHECK(mml_backward(loss, x, y, N, C, &up, 1, grad, N * C) == MML_STATUS_OK);
    CHECK(mml_forward_backward(loss, x, y, N, C, &up, 1, &out2, 1, grad2, N * C) == MML_STATUS_OK);
    CHECK(out == out2 && out > 0.0f);
    CHECK(memcmp(grad, grad2, sizeof grad) == 0);

    double xd[N * C], gd[N * C], od = 0.0, upd = 1.0;
    for (int i = 0; i < N * C; i++) xd[i] = x[i];
    CHECK(mml_forward_f64(loss, xd, y, N, C, &od, 1) == MML_STATUS_OK);
    CHECK(mml_backward_f64(loss, xd, y, N, C, &upd, 1, gd, N * C) == MML_STATUS_OK);
    CHECK(fabs(od - (double)out) < 1e-5);

    /* Errors: nothing written. */
    float canary = 42.0f;
    int64_t bad[N];
    memcpy(bad, y, sizeof bad);
    bad[5] = -3;
    CHECK(mml_forward(loss, x, bad, N, C, &canary, 1) == MML_STATUS_TARGET_OUT_OF_RANGE);
    size_t row = 0;
    int64_t value = 0;
    CHECK(mml_check_targets(bad, N, C, &row, &value) == MML_STATUS_TARGET_OUT_OF_RANGE);
    CHECK(row == 5 && value == -3);
    CHECK(mml_forward(loss, x, y, N, C, &canary, 2) == MML_STATUS_SHAPE_MISMATCH);
    CHECK(mml_forward(loss, NULL, y, N, C, &canary, 1) == MML_STATUS_NULL_POINTER);
    CHECK(mml_forward(loss, x, y, N, 0, &canary, 1) == MML_STATUS_INVALID_ARGUMENT);
    CHECK(mml_forward(loss, x, y, SIZE_MAX, C, &canary, 1) == MML_STATUS_INVALID_ARGUMENT);
    CHECK(mml_forward(loss, x, y, N, C, x + 3, 1) == MML_STATUS_ALIASED_BUFFERS);
    CHECK(canary == 42.0f);
    MmlLoss *none = NULL;
    CHECK(mml_create(3, 1.0, NULL, 0, MML_REDUCTION_SUM, &none) == MML_STATUS_INVALID_ARGUMENT);
    CHECK(none == NULL);
    for (uint32_t s = 0; s < 9; s++) CHECK(strlen(mml_status_message(s)) > 0);
    CHECK(strcmp(mml_version(), MML_VERSION_STRING) == 0);

    /* A large call on the pool (3 threads), then a different thread count (pool rebuilt). */
    size_t big_n = 20000, big_c = 10;
    float *bx = malloc(big_n * big_c * sizeof *bx);
    float *bg = malloc(big_n * big_c * sizeof *bg);
    int64_t *by = malloc(big_n * sizeof *by);
    CHECK(bx && bg && by);
    for (size_t i = 0; i < big_n * big_c; i++) bx[i] = (float)(i % 101) / 50.0f - 1.0f;
    for (size_t i = 0; i < big_n; i++) by[i] = (int64_t)(i % big_c);
    float r1 = 0.0f, r2 = 0.0f;
    CHECK(mml_set_num_threads(3) == MML_STATUS_OK);
    CHECK(mml_forward_backward(loss, bx, by, big_n, big_c, &up, 1, &r1, 1, bg, big_n * big_c) == MML_STATUS_OK);
    CHECK(mml_set_num_threads(2) == MML_STATUS_OK);
    CHECK(mml_forward(loss, bx, by, big_n, big_c, &r2, 1) == MML_STATUS_OK);
    CHECK(r1 == r2);
    CHECK(mml_get_num_threads() == 2);
    free(bx);
    free(bg);
    free(by);

    mml_destroy(loss);
    mml_destroy(NULL);
    if (failures) {
        fprintf(stderr, "valgrind_smoke: %d failures\n", failures);
        return 1;
    }
    printf("valgrind_smoke: ok\n");
    return 0;
}
