"""The installed ONNX Runtime operator library, loaded by the path pkg-config gives
(tests/install/test.sh): a forward and its gradient through ONNX Runtime, each bit for bit the
installed libmml's C ABI on the same data.

    python onnxruntime_smoke.py PLUGIN LIBMML
"""
import ctypes
import sys

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper


def session(node, inputs, output):
    graph = helper.make_graph(
        [node], "smoke", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("mml", 1)])
    options = ort.SessionOptions()
    options.register_custom_ops_library(sys.argv[1])
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def main():
    plugin, libmml = sys.argv[1:3]
    lib = ctypes.CDLL(libmml)
    P, Z, U = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32
    lib.mml_create.argtypes = [U, ctypes.c_double, P, Z, U, P]
    lib.mml_forward.argtypes = [P, P, P, Z, Z, P, Z]
    lib.mml_backward.argtypes = [P, P, P, Z, Z, P, Z, P, Z]
    lib.mml_destroy.argtypes = [P]
    for f in (lib.mml_create, lib.mml_forward, lib.mml_backward):
        f.restype = U
    n, c = 37, 10
    rng = np.random.default_rng(23)
    x = rng.standard_normal((n, c)).astype(np.float32)
    y = rng.integers(0, c, n).astype(np.int64)
    attributes = {"p": 2, "margin": 0.75, "reduction": "sum"}
    scores = ("scores", TensorProto.FLOAT, [n, c])
    target = ("target", TensorProto.INT64, [n])
    forward = session(helper.make_node("MultiMarginLoss", ["scores", "target"], ["loss"],
                                       domain="mml", **attributes), [scores, target], "loss")
    backward = session(helper.make_node("MultiMarginLossGrad", ["up", "scores", "target"],
                                        ["grad"], domain="mml", **attributes),
                       [("up", TensorProto.FLOAT, []), scores, target], "grad")
    up = np.array(0.5, np.float32)
    (loss,) = forward.run(None, {"scores": x, "target": y})
    (grad,) = backward.run(None, {"up": up, "scores": x, "target": y})

    handle = ctypes.c_void_p()
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)
    # mml_create(p, margin, weight, weight_len, reduction = 2 (sum), &handle)
    assert lib.mml_create(2, 0.75, None, 0, 2, ctypes.byref(handle)) == 0
    want_loss, want_grad = np.zeros(1, np.float32), np.zeros((n, c), np.float32)
    up1 = up.reshape(1)
    assert lib.mml_forward(handle, ptr(x), ptr(y), n, c, ptr(want_loss), 1) == 0
    assert lib.mml_backward(handle, ptr(x), ptr(y), n, c, ptr(up1), 1, ptr(want_grad),
                            n * c) == 0
    lib.mml_destroy(handle)
    assert loss.reshape(1).view(np.uint32)[0] == want_loss.view(np.uint32)[0], (loss, want_loss)
    assert np.array_equal(grad.view(np.uint32), want_grad.view(np.uint32)), "gradient bits"
    print("onnxruntime %s: %s gives libmml's bits (loss %r, %d gradients)"
          % (ort.__version__, plugin, float(loss), grad.size))


if __name__ == "__main__":
    main()
