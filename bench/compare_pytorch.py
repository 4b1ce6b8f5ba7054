#!/usr/bin/env python3
"""Times torch.nn.functional.multi_margin_loss (forward; forward+backward through autograd) beside mml's C ABI (ctypes,
target/release/libmml.so) on the same arrays (mml: forward; fused forward+backward) and prints the ratios. Skips cleanly
without torch or numpy. Usage: bench/compare_pytorch.py [THREADS]   (both libraries on THREADS threads)."""

import ctypes
import os
import sys
import time

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"SKIPPED: {e.name} is not installed")
    sys.exit(0)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
lib = ctypes.CDLL(os.path.join(ROOT, "target", "release", "libmml.so"))
lib.mml_get_num_threads.restype = ctypes.c_size_t
F, I, S = ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_int64), ctypes.c_size_t


def median_s(fn, runs=15):
    fn()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return sorted(t)[runs // 2]


def main():
    if len(sys.argv) > 1:  # a thread count for both libraries (default: each one's own)
        threads = int(sys.argv[1])
        torch.set_num_threads(threads)
        assert lib.mml_set_num_threads(S(threads)) == 0
    handle = ctypes.c_void_p()
    assert lib.mml_create(1, ctypes.c_double(1.0), None, S(0), 1, ctypes.byref(handle)) == 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; mml {lib.mml_get_num_threads()} threads")
    print(f"{'shape':>14} {'torch fwd ms':>13} {'mml fwd ms':>11} {'ratio':>6} {'torch f+b ms':>13} {'mml fused ms':>12} {'ratio':>6}")
    for n, c in [(32, 10), (4096, 10), (4096, 1000), (65536, 100), (4194304, 10), (32768, 1000)]:
        x = torch.rand(n, c) * 4 - 2
        y = torch.randint(0, c, (n,))
        xa, ya = x.numpy(), y.numpy()
        out = np.zeros(1, np.float32)
        grad = np.zeros((n, c), np.float32)
        up = np.ones(1, np.float32)
        p = lambda a, t: a.ctypes.data_as(t)
        tf = median_s(lambda: torch.nn.functional.multi_margin_loss(x, y))
        mf = median_s(lambda: lib.mml_forward(handle, p(xa, F), p(ya, I), S(n), S(c), p(out, F), S(1)))
        xr = x.clone().requires_grad_()
        def torch_bwd():
            xr.grad = None
            torch.nn.functional.multi_margin_loss(xr, y).backward()
        tb = median_s(torch_bwd)
        mb = median_s(lambda: lib.mml_forward_backward(handle, p(xa, F), p(ya, I), S(n), S(c), p(up, F), S(1),
                                                       p(out, F), S(1), p(grad, F), S(n * c)))
        print(f"{n:>7}x{c:<6} {tf*1e3:13.3f} {mf*1e3:11.3f} {tf/mf:6.1f} {tb*1e3:13.3f} {mb*1e3:12.3f} {tb/mb:6.1f}")
    lib.mml_destroy(handle)


if __name__ == "__main__":
    main()
