/*
 * A small consumer of an installed mml, built by tests/install/test.sh through pkg-config and
 * (statically) through CMake's mml::mml_static. Prints the library it ran against.
 * Exits 0 only if the library matches the header and computes PyTorch's documented example.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mml.h>

int main(void) {
    /* torch.nn.MultiMarginLoss() docs: x = [[0.1, 0.2, 0.4, 0.8]], y = [3] -> 0.3250. */
    const float x[4] = {0.1f, 0.2f, 0.4f, 0.8f};
    const int64_t y[1] = {3};
    const int64_t bad_y[1] = {4};
    float out = -1.0f;
    float grad[4] = {0};
    const float one = 1.0f;
    MmlLoss *loss = NULL;
    int failures = 0;

    if (strcmp(mml_version(), MML_VERSION_STRING) != 0 || mml_abi_version() != MML_ABI_VERSION) {
        fprintf(stderr, "smoke: library %s (ABI %u) does not match header %s (ABI %d)\n",
                mml_version(), (unsigned)mml_abi_version(), MML_VERSION_STRING, MML_ABI_VERSION);
        return 1;
    }
    if (mml_create(1, 1.0, NULL, 0, MML_REDUCTION_MEAN, &loss) != MML_STATUS_OK) {
        fprintf(stderr, "smoke: mml_create failed\n");
        return 1;
    }
    if (mml_forward(loss, x, y, 1, 4, &out, 1) != MML_STATUS_OK || fabsf(out - 0.325f) > 1e-6f) {
        fprintf(stderr, "smoke: forward gave %.9g, expected 0.325\n", (double)out);
        failures++;
    }
    if (mml_backward(loss, x, y, 1, 4, &one, 1, grad, 4) != MML_STATUS_OK || grad[0] != 0.25f ||
        grad[3] != -0.75f) {
        fprintf(stderr, "smoke: backward gave %g %g %g %g\n", (double)grad[0], (double)grad[1],
                (double)grad[2], (double)grad[3]);
        failures++;
    }
    if (mml_forward(loss, x, bad_y, 1, 4, &out, 1) != MML_STATUS_TARGET_OUT_OF_RANGE) {
        fprintf(stderr, "smoke: an out-of-range target was accepted\n");
        failures++;
    }
    mml_destroy(loss);
    if (failures == 0) printf("smoke: ok (mml %s, loss %.4f)\n", mml_version(), (double)out);
    return failures == 0 ? 0 : 1;
}
