"""mml::MultiMarginLoss inside ONNX Runtime against a direct call of mml's C ABI, in one run.
(Not named onnxruntime.py: the script's folder comes first on sys.path and would shadow the
onnxruntime package.)

    make bench-onnx   (builds the libraries and the native half, then runs this script)

Both sides compute the same forward (float32, p = 1, margin 1, no weights, reduction mean) on
the same buffers: ONNX Runtime through a one-node model run with IOBinding (the inputs bound
once as OrtValues over the numpy arrays, zero copy; the output bound to a preallocated OrtValue),
the C ABI through ctypes (`mml_forward` on libmml.so, argument types declared, pointers computed
once). A sample is the time of a batch of calls divided by its size; the two sides alternate
sample by sample, so that the machine's drift falls on both; the figures are medians. Both
paths pay Python's call overhead (ctypes about 1 us, the onnxruntime binding's run a few us),
so the difference is ONNX Runtime's overhead plus the binding's: an upper bound of the
runtime's own. A third line, a one-node Identity model on one float run the same way, gives
the runtime's floor for any node, and a ctypes call of `mml_check_targets` on no targets (it
returns at once) the floor of a ctypes call: "net" is (ORT - Identity) - (C ABI - ctypes floor),
the operator's cost inside the runtime beyond what any node and any ctypes call pay. Every
result is checked bit for bit against the C ABI's.

Then the same from native code, where Python's costs do not blur the runtime's: the program
target/release/examples/ort_overhead (onnxruntime/examples/ort_overhead.rs; `make bench-onnx`
builds it) runs the same models through ONNX Runtime's C API (the wheel's libonnxruntime.so,
`OrtApi::Run` with preallocated OrtValues) against mml_forward called directly.

Environment: MML_ONNXRUNTIME_LIB and MML_LIB override target/release's libraries; BENCH_QUICK=1
runs fewer samples.
"""

import ctypes
import glob
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PLUGIN = os.environ.get(
    "MML_ONNXRUNTIME_LIB", os.path.join(ROOT, "target", "release", "libmml_onnxruntime.so"))
LIBMML = os.environ.get("MML_LIB", os.path.join(ROOT, "target", "release", "libmml.so"))
QUICK = os.environ.get("BENCH_QUICK") == "1"
NATIVE = os.path.join(ROOT, "target", "release", "examples", "ort_overhead")
MODELS = os.path.join(ROOT, "target", "bench")

SHAPES = [(4096, 10), (4194304, 10)]
REDUCTION_MEAN = 1


def c_abi():
    lib = ctypes.CDLL(LIBMML)
    size, u32, ptr = ctypes.c_size_t, ctypes.c_uint32, ctypes.c_void_p
    lib.mml_create.argtypes = [u32, ctypes.c_double, ptr, size, u32, ctypes.POINTER(ptr)]
    lib.mml_create.restype = u32
    lib.mml_forward.argtypes = [ptr, ptr, ptr, size, size, ptr, size]
    lib.mml_forward.restype = u32
    lib.mml_check_targets.argtypes = [ptr, size, size, ptr, ptr]
    lib.mml_check_targets.restype = u32
    lib.mml_kernel_path.restype = ctypes.c_char_p
    lib.mml_version.restype = ctypes.c_char_p
    return lib


def session(nodes, inputs, outputs, path):
    """A session of the model, also written to `path` for the native half."""
    graph = helper.make_graph(
        nodes, "bench",
        [helper.make_tensor_value_info(n, t, None) for n, t in inputs],
        [helper.make_tensor_value_info(n, t, None) for n, t in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("mml", 1)])
    model.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)
    options = ort.SessionOptions()
    options.register_custom_ops_library(PLUGIN)
    # The operator runs on mml's own pool; ONNX Runtime's would only spin beside it.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def bound(sess, feeds, output):
    """An IOBinding with `feeds` and `output` (numpy arrays) bound as OrtValues over them."""
    binding = sess.io_binding()
    for name, array in feeds.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array))
    binding.bind_ortvalue_output(sess.get_outputs()[0].name,
                                 ort.OrtValue.ortvalue_from_numpy(output))
    return binding


def timed(call, batch):
    start = time.perf_counter_ns()
    for _ in range(batch):
        call()
    return (time.perf_counter_ns() - start) / batch / 1e3  # us per call


def medians(calls, batch, samples):
    """Alternates the calls sample by sample; the median us per call of each."""
    for call in calls:  # warm-up: page faults, the pool's threads, ONNX Runtime's first run
        timed(call, max(1, batch // 4))
    times = [[] for _ in calls]
    for _ in range(samples):
        for call, t in zip(calls, times):
            t.append(timed(call, batch))
    return [statistics.median(t) for t in times]


def main():
    lib = c_abi()
    handle = ctypes.c_void_p()
    assert lib.mml_create(1, 1.0, None, 0, REDUCTION_MEAN, ctypes.byref(handle)) == 0
    print("onnxruntime %s (%s), onnx %s, numpy %s, Python %s" % (
        ort.__version__, ort.get_device(), onnx.__version__, np.__version__,
        sys.version.split()[0]))
    # The plugin links this same libmml (one copy, one pool).
    print("mml %s; kernel path %s; MML_NUM_THREADS=%s; %d CPUs" % (
        lib.mml_version().decode(), lib.mml_kernel_path().decode(),
        os.environ.get("MML_NUM_THREADS", "(unset)"), os.cpu_count()))

    loss = session([helper.make_node("MultiMarginLoss", ["scores", "target"], ["loss"],
                                     domain="mml", p=1, margin=1.0, reduction="mean")],
                   [("scores", TensorProto.FLOAT), ("target", TensorProto.INT64)],
                   [("loss", TensorProto.FLOAT)], os.path.join(MODELS, "ort_loss.onnx"))
    identity = session([helper.make_node("Identity", ["x"], ["y"])],
                       [("x", TensorProto.FLOAT)], [("y", TensorProto.FLOAT)],
                       os.path.join(MODELS, "ort_identity.onnx"))
    one, one_out = np.ones(1, np.float32), np.zeros(1, np.float32)
    identity_binding = bound(identity, {"x": one}, one_out)

    rng = np.random.default_rng(0)
    print("%-12s %10s %10s %10s %8s %11s %11s %8s" % (
        "forward", "C ABI us", "ORT us", "ORT-C us", "ORT/C", "Identity us", "ctypes us",
        "net us"))
    for n, c in SHAPES:
        scores = rng.standard_normal((n, c), dtype=np.float32)
        target = rng.integers(0, c, size=n, dtype=np.int64)
        out_c, out_ort = np.zeros(1, np.float32), np.zeros((), np.float32)
        args = (handle, scores.ctypes.data_as(ctypes.c_void_p),
                target.ctypes.data_as(ctypes.c_void_p), n, c,
                out_c.ctypes.data_as(ctypes.c_void_p), 1)
        forward = lib.mml_forward
        binding = bound(loss, {"scores": scores, "target": target}, out_ort)

        def direct():
            forward(*args)

        def runtime():
            loss.run_with_iobinding(binding)

        def floor():
            identity.run_with_iobinding(identity_binding)

        check_targets = lib.mml_check_targets
        no_targets = (args[2], 0, c, None, None)

        def ctypes_floor():
            check_targets(*no_targets)

        direct()
        runtime()
        assert out_c.view(np.uint32)[0] == out_ort.reshape(1).view(np.uint32)[0], (out_c, out_ort)
        big = n * c >= 1 << 20
        batch = 1 if big else 2000
        samples = (7 if QUICK else 21) if big else (9 if QUICK else 31)
        # The floor is a small call's: measured beside the small shape only.
        calls = [direct, runtime] if big else [direct, runtime, floor, ctypes_floor]
        t_c, t_ort, *floors = medians(calls, batch, samples)
        if floors:
            t_id, t_ct = floors
            extra = "%11.2f %11.2f %8.2f" % (t_id, t_ct, (t_ort - t_id) - (t_c - t_ct))
        else:
            extra = "%11s %11s %8s" % ("-", "-", "-")
        print("%-12s %10.2f %10.2f %10.2f %8.4f %s" % (
            "%dx%d" % (n, c), t_c, t_ort, t_ort - t_c, t_ort / t_c, extra))
    print("target: ORT-C <= 2 us + 5% of C ABI")
    sys.stdout.flush()

    runtimes = glob.glob(os.path.join(os.path.dirname(ort.__file__), "capi", "libonnxruntime.so*"))
    if not os.path.exists(NATIVE) or not runtimes:
        sys.exit("no %s or no libonnxruntime.so in the wheel: run `make bench-onnx`" % NATIVE)
    subprocess.run([NATIVE, sorted(runtimes)[0], PLUGIN, os.path.join(MODELS, "ort_loss.onnx"),
                    os.path.join(MODELS, "ort_identity.onnx")], check=True)


if __name__ == "__main__":
    main()
