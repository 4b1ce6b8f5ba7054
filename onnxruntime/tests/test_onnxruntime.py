"""libmml_onnxruntime.so inside the real ONNX Runtime (make test-onnx).

Models are built with onnx.helper and run by the onnxruntime wheel from PyPI with the library
registered. Results are compared bit for bit with mml's C ABI (target/release/libmml.so through
ctypes) on the same data, NaN sign and payload included, and with the golden files
tests/data/multi_margin_loss.json and formats.json (whose "nan" carries no bits: there, any NaN
matches). Every case runs with int64 and with int32 targets; the half-precision cases of
formats.json with float16 and bfloat16 scores.
"""

import ctypes
import json
import os
import subprocess
import threading
import unittest

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLUGIN = os.environ.get(
    "MML_ONNXRUNTIME_LIB", os.path.join(ROOT, "target", "release", "libmml_onnxruntime.so")
)
LIBMML = os.environ.get("MML_LIB", os.path.join(ROOT, "target", "release", "libmml.so"))
GOLDEN = os.path.join(ROOT, "tests", "data", "multi_margin_loss.json")
FORMATS = os.path.join(ROOT, "tests", "data", "formats.json")

REDUCTION = {"none": 0, "mean": 1, "sum": 2}
ONNX_TYPE = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE,
             np.int64: TensorProto.INT64, np.int32: TensorProto.INT32}
TARGET_TYPES = (np.int64, np.int32)
BITS = {np.float32: np.uint32, np.float64: np.uint64}


# --- mml's C ABI, the reference ------------------------------------------------------------

def _c_abi():
    lib = ctypes.CDLL(LIBMML)
    size, u32, f64 = ctypes.c_size_t, ctypes.c_uint32, ctypes.c_double
    ptr = ctypes.c_void_p
    lib.mml_create.argtypes = [u32, f64, ptr, size, u32, ctypes.POINTER(ptr)]
    lib.mml_create.restype = u32
    lib.mml_destroy.argtypes = [ptr]
    lib.mml_destroy.restype = None
    for name in ("mml_forward", "mml_forward_f64"):
        getattr(lib, name).argtypes = [ptr, ptr, ptr, size, size, ptr, size]
        getattr(lib, name).restype = u32
    for name in ("mml_backward", "mml_backward_f64"):
        getattr(lib, name).argtypes = [ptr, ptr, ptr, size, size, ptr, size, ptr, size]
        getattr(lib, name).restype = u32
    lib.mml_kernel_path.restype = ctypes.c_char_p
    return lib


C = _c_abi()


def _address(array):
    return array.ctypes.data_as(ctypes.c_void_p)


def c_abi(dtype, p, margin, weight, reduction, scores, target, grad_output=None):
    """The loss (grad_output None) or the gradient, computed by mml's C ABI."""
    handle = ctypes.c_void_p()
    w = None if weight is None else np.ascontiguousarray(weight, dtype=np.float32)
    status = C.mml_create(p, margin, None if w is None else _address(w),
                          0 if w is None else w.size, REDUCTION[reduction], ctypes.byref(handle))
    assert status == 0, status
    try:
        x = np.ascontiguousarray(scores, dtype=dtype)
        t = np.ascontiguousarray(target, dtype=np.int64)
        c = x.shape[-1]
        n = x.size // c
        suffix = "_f64" if dtype is np.float64 else ""
        if grad_output is None:
            out = np.zeros(n if reduction == "none" else 1, dtype=dtype)
            status = getattr(C, "mml_forward" + suffix)(
                handle, _address(x), _address(t), n, c, _address(out), out.size)
        else:
            up = np.ascontiguousarray(grad_output, dtype=dtype).reshape(-1)
            out = np.zeros(n * c, dtype=dtype)
            status = getattr(C, "mml_backward" + suffix)(
                handle, _address(x), _address(t), n, c, _address(up), up.size, _address(out),
                out.size)
        assert status == 0, status
        return out
    finally:
        C.mml_destroy(handle)


# --- models and sessions ----------------------------------------------------------------------

def session_options():
    options = ort.SessionOptions()
    options.register_custom_ops_library(PLUGIN)
    options.log_severity_level = 4  # the tests provoke errors; they are asserted, not logged
    return options


def model(nodes, inputs, outputs, initializers=()):
    """A model of `nodes`; inputs and outputs are (name, element type), of any shape."""
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, t, None) for n, t in inputs],
        [helper.make_tensor_value_info(n, t, None) for n, t in outputs],
        initializer=list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                helper.make_opsetid("mml", 1)])
    m.ir_version = 8  # readable by every ONNX Runtime this library supports (1.17 and newer)
    return m.SerializeToString()


def loss_node(inputs, output, **attributes):
    return helper.make_node("MultiMarginLoss", inputs, [output], domain="mml", **attributes)


def grad_node(inputs, output, **attributes):
    return helper.make_node("MultiMarginLossGrad", inputs, [output], domain="mml", **attributes)


_SESSIONS = {}


def single_op_session(grad, dtype, p, margin, reduction, weighted, targets=np.int64,
                      double_margin=False):
    """A session of one operator node, cached per configuration (shapes are free). The margin is
    a float attribute, or with `double_margin` a one-element double tensor attribute."""
    key = (grad, dtype, p, margin, reduction, weighted, targets, double_margin)
    if key not in _SESSIONS:
        t = ONNX_TYPE[dtype]
        inputs = ([("grad_output", t)] if grad else []) + [("scores", t), ("target", ONNX_TYPE[targets])]
        inputs += [("weight", t)] if weighted else []
        make = grad_node if grad else loss_node
        if double_margin:
            node = make([n for n, _ in inputs], "out", p=p, reduction=reduction)
            node.attribute.append(helper.make_attribute(
                "margin", numpy_helper.from_array(np.array(margin, np.float64), "margin")))
        else:
            node = make([n for n, _ in inputs], "out", p=p, margin=float(margin),
                        reduction=reduction)
        _SESSIONS[key] = ort.InferenceSession(
            model([node], inputs, [("out", t)]), session_options(),
            providers=["CPUExecutionProvider"])
    return _SESSIONS[key]


# --- comparisons ---------------------------------------------------------------------------

def assert_same_bits(test, got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    test.assertEqual(got.dtype, want.dtype, what)
    bits = BITS[got.dtype.type]
    g, w = got.reshape(-1).view(bits), want.reshape(-1).view(bits)
    bad = np.nonzero(g != w)[0]
    test.assertEqual(got.size, want.size, what)
    test.assertEqual(len(bad), 0, "%s: first difference at %s: got %r (%#x), want %r (%#x)" % (
        what, bad[:1], got.reshape(-1)[bad[:1]], g[bad[:1]], want.reshape(-1)[bad[:1]], w[bad[:1]])
        if len(bad) else what)


def assert_golden(test, got, want, what):
    """Bits equal, except that an expected NaN (the file's "nan") matches any NaN."""
    got = np.asarray(got).reshape(-1)
    want = np.asarray(want, dtype=got.dtype).reshape(-1)
    test.assertEqual(got.size, want.size, what)
    bits = BITS[got.dtype.type]
    same = (got.view(bits) == want.view(bits)) | (np.isnan(got) & np.isnan(want))
    test.assertTrue(same.all(), "%s: got %r, want %r" % (what, got[~same][:3], want[~same][:3]))


def number(v):
    return float(v)  # float("nan"), float("inf") and float("-inf") read the file's strings


def golden_cases(path=GOLDEN):
    with open(path) as f:  # a missing file fails: it never skips
        return json.load(f)


def case_arrays(case, dtype):
    """The case's tensors: float32 values (decimal -> double -> float, which is correctly
    rounded), widened to double for the float64 runs."""
    f32 = lambda key: np.array([number(v) for v in case[key]], dtype=np.float32)
    scores = f32("input").astype(dtype)
    target = np.array(case["target"], dtype=np.int64)
    up = f32("grad_output").astype(dtype)
    weight = None if case["weight"] is None else f32("weight")
    if case["one_d"]:
        scores, target = scores.reshape(case["c"]), target.reshape(())
    else:
        scores = scores.reshape(case["n"], case["c"])
    if case["one_d"] or case["reduction"] != "none":
        up = up.reshape(())
    return scores, target, up, weight


class Golden(unittest.TestCase):
    """Every golden case, through ONNX Runtime, against the C ABI and the file."""

    def run_cases(self, dtype, loss_key, grad_key):
        cases = golden_cases()
        self.assertEqual(len(cases), 184)
        for case, targets in ((case, targets) for case in cases for targets in TARGET_TYPES):
            p, margin, reduction = case["p"], number(case["margin"]), case["reduction"]
            scores, target, up, weight = case_arrays(case, dtype)
            target = target.astype(targets)
            feeds = {"scores": scores, "target": target}
            if weight is not None:
                feeds["weight"] = weight.astype(dtype)
            label = "%s %s %s targets" % (case["name"], np.dtype(dtype).name,
                                          np.dtype(targets).name)

            session = single_op_session(False, dtype, p, margin, reduction, weight is not None,
                                        targets)
            (loss,) = session.run(None, feeds)
            self.assertEqual(loss.shape, target.shape if reduction == "none" else (), label)
            want = c_abi(dtype, p, margin, weight, reduction, scores, target)
            assert_same_bits(self, loss, want.reshape(loss.shape), label + " loss vs C ABI")
            assert_golden(self, loss, [number(v) for v in case[loss_key]], label + " loss vs golden")

            session = single_op_session(True, dtype, p, margin, reduction, weight is not None,
                                        targets)
            (grad,) = session.run(None, dict(feeds, grad_output=up))
            self.assertEqual(grad.shape, scores.shape, label)
            want = c_abi(dtype, p, margin, weight, reduction, scores, target, up)
            assert_same_bits(self, grad, want.reshape(grad.shape), label + " grad vs C ABI")
            assert_golden(self, grad, [number(v) for v in case[grad_key]], label + " grad vs golden")

    def test_float32_matches_c_abi_and_pytorch(self):
        self.run_cases(np.float32, "forward_torch_f32", "grad_input_torch_f32")

    def test_float64_matches_c_abi_and_float64_reference(self):
        self.run_cases(np.float64, "forward_f64", "grad_input_f64")


class Formats(unittest.TestCase):
    """formats.json: float64 data that float cannot hold (scores, double weights, double margin
    as a tensor attribute), against PyTorch's float64 results, with int64 and int32 targets."""

    def test_float64_cases_match_pytorch(self):
        cases = [case for case in golden_cases(FORMATS) if case["dtype"] == "float64"]
        self.assertEqual(len(cases), 36)
        doubles = lambda key: np.array([number(v) for v in case[key]], dtype=np.float64)
        for case, targets in ((case, targets) for case in cases for targets in TARGET_TYPES):
            p, margin, reduction = case["p"], number(case["margin"]), case["reduction"]
            scores, up = doubles("input"), doubles("grad_output")
            target = np.array(case["target"], dtype=targets)
            if case["one_d"]:
                scores, target = scores.reshape(case["c"]), target.reshape(())
            else:
                scores = scores.reshape(case["n"], case["c"])
            if case["one_d"] or reduction != "none":
                up = up.reshape(())
            feeds = {"scores": scores, "target": target}
            if case["weight"] is not None:
                feeds["weight"] = doubles("weight")
            label = "%s %s targets" % (case["name"], np.dtype(targets).name)
            weighted = case["weight"] is not None
            session = single_op_session(False, np.float64, p, margin, reduction, weighted,
                                        targets, double_margin=True)
            (loss,) = session.run(None, feeds)
            self.assertEqual(loss.shape, target.shape if reduction == "none" else (), label)
            assert_golden(self, loss, doubles("forward"), label + " loss")
            session = single_op_session(True, np.float64, p, margin, reduction, weighted,
                                        targets, double_margin=True)
            (grad,) = session.run(None, dict(feeds, grad_output=up))
            self.assertEqual(grad.shape, scores.shape, label)
            assert_golden(self, grad, doubles("grad_input_f64"), label + " grad")


def random_batch(rng, n, c, dtype):
    scores = (rng.integers(-64, 64, size=(n, c)) / 32).astype(dtype)  # exact ties occur
    target = rng.integers(0, c, size=n).astype(np.int64)
    return scores, target


class Options(unittest.TestCase):
    def test_double_margin_as_tensor_attribute(self):
        """A margin float cannot hold reaches the double kernels as a double tensor attribute."""
        rng = np.random.default_rng(1)
        scores, target = random_batch(rng, 37, 7, np.float64)
        margin = 0.1
        inputs = [("scores", TensorProto.DOUBLE), ("target", TensorProto.INT64)]
        tensor = numpy_helper.from_array(np.array(margin, dtype=np.float64), "margin")
        node = loss_node(["scores", "target"], "loss", p=2, reduction="none")
        node.attribute.append(helper.make_attribute("margin", tensor))
        session = ort.InferenceSession(model([node], inputs, [("loss", TensorProto.DOUBLE)]),
                                       session_options())
        (loss,) = session.run(None, {"scores": scores, "target": target})
        assert_same_bits(self, loss, c_abi(np.float64, 2, margin, None, "none", scores, target),
                         "double margin")
        # A float attribute holds float(0.1): a different loss, the C ABI's for that margin.
        session = single_op_session(False, np.float64, 2, margin, "none", False)
        (narrow,) = session.run(None, {"scores": scores, "target": target})
        margin32 = float(np.float32(margin))
        assert_same_bits(self, narrow, c_abi(np.float64, 2, margin32, None, "none", scores, target),
                         "float margin")
        self.assertFalse(np.array_equal(loss, narrow))

    def test_defaults_are_pytorchs(self):
        """No attributes: p = 1, margin = 1, reduction = mean."""
        rng = np.random.default_rng(2)
        scores, target = random_batch(rng, 16, 5, np.float32)
        inputs = [("scores", TensorProto.FLOAT), ("target", TensorProto.INT64)]
        session = ort.InferenceSession(
            model([loss_node(["scores", "target"], "loss")], inputs, [("loss", TensorProto.FLOAT)]),
            session_options())
        (loss,) = session.run(None, {"scores": scores, "target": target})
        assert_same_bits(self, loss, c_abi(np.float32, 1, 1.0, None, "mean", scores, target)[0],
                         "defaults")

    def test_integer_margin_attribute(self):
        """onnx.helper writes margin=2 as an int attribute: taken as 2.0."""
        rng = np.random.default_rng(3)
        scores, target = random_batch(rng, 8, 4, np.float32)
        inputs = [("scores", TensorProto.FLOAT), ("target", TensorProto.INT64)]
        node = loss_node(["scores", "target"], "loss", margin=2, reduction="sum")
        session = ort.InferenceSession(model([node], inputs, [("loss", TensorProto.FLOAT)]),
                                       session_options())
        (loss,) = session.run(None, {"scores": scores, "target": target})
        assert_same_bits(self, loss, c_abi(np.float32, 1, 2.0, None, "sum", scores, target)[0],
                         "int margin")

    def test_empty_batch(self):
        """n = 0: sum 0, mean NaN, none an empty loss; an empty gradient."""
        scores = np.zeros((0, 4), np.float32)
        target = np.zeros(0, np.int64)
        for reduction, want in (("sum", np.float32(0)), ("none", np.zeros(0, np.float32))):
            (loss,) = single_op_session(False, np.float32, 1, 1.0, reduction, False).run(
                None, {"scores": scores, "target": target})
            assert_same_bits(self, loss, want, reduction)
        (loss,) = single_op_session(False, np.float32, 1, 1.0, "mean", False).run(
            None, {"scores": scores, "target": target})
        self.assertTrue(np.isnan(loss) and loss.shape == ())
        (grad,) = single_op_session(True, np.float32, 1, 1.0, "mean", False).run(
            None, {"grad_output": np.array(1, np.float32), "scores": scores, "target": target})
        self.assertEqual(grad.shape, (0, 4))


class Graphs(unittest.TestCase):
    """The operators between ordinary ONNX operators."""

    def test_matmul_loss_and_weight_gradient(self):
        """scores = x @ w; loss = MultiMarginLoss(scores, y); grad = MultiMarginLossGrad(1,
        scores, y); dw = x^T @ grad, in one graph: forward and backward of a linear layer."""
        rng = np.random.default_rng(4)
        for dtype in (np.float32, np.float64):
            t = ONNX_TYPE[dtype]
            n, d, c = 64, 12, 10
            x = rng.standard_normal((n, d)).astype(dtype)
            w = (rng.standard_normal((d, c)) / 4).astype(dtype)
            y = rng.integers(0, c, size=n).astype(np.int64)
            class_weight = rng.uniform(0.5, 2, size=c).astype(np.float32)
            one = numpy_helper.from_array(np.array(1, dtype=dtype), "one")
            nodes = [
                helper.make_node("MatMul", ["x", "w"], ["scores"]),
                loss_node(["scores", "y", "class_weight"], "loss", p=2, margin=0.5),
                grad_node(["one", "scores", "y", "class_weight"], "grad", p=2, margin=0.5),
                helper.make_node("Transpose", ["x"], ["xt"]),
                helper.make_node("MatMul", ["xt", "grad"], ["dw"]),
            ]
            m = model(nodes,
                      [("x", t), ("w", t), ("y", TensorProto.INT64), ("class_weight", t)],
                      [("loss", t), ("scores", t), ("grad", t), ("dw", t)], [one])
            session = ort.InferenceSession(m, session_options())
            loss, scores, grad, dw = session.run(
                None, {"x": x, "w": w, "y": y, "class_weight": class_weight.astype(dtype)})
            label = np.dtype(dtype).name
            self.assertEqual(scores.shape, (n, c))
            # The loss and gradient of the scores MatMul gave, bit for bit.
            assert_same_bits(self, loss, c_abi(dtype, 2, 0.5, class_weight, "mean", scores, y)[0],
                             label + " loss")
            assert_same_bits(self, grad, c_abi(dtype, 2, 0.5, class_weight, "mean", scores, y,
                                               np.array(1, dtype)).reshape(n, c), label + " grad")
            # The weight gradient is the product ONNX's MatMul computes (its own summation order).
            np.testing.assert_allclose(dw, x.T.astype(np.float64) @ grad.astype(np.float64),
                                       rtol=1e-5, atol=1e-7, err_msg=label + " dw")
            self.assertGreater(np.abs(dw).sum(), 0)
            self.assertTrue(np.isfinite(loss) and loss > 0)


def run_expecting_error(test, session, feeds):
    with test.assertRaises(Exception) as caught:
        session.run(None, feeds)
    return str(caught.exception)


HALF_TYPE = {"float16": TensorProto.FLOAT16, "bfloat16": TensorProto.BFLOAT16}


def bound_run(session, inputs, outputs):
    """Runs `session` through IOBinding. `inputs`: name -> (numpy array, ONNX type or None for
    the array's own); `outputs`: name -> (numpy array to fill, ONNX type or None). Half types
    travel as their raw 16-bit patterns (numpy has no bfloat16)."""
    def value(array, onnx_type):
        if onnx_type is None:
            return ort.OrtValue.ortvalue_from_numpy(array)
        return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(array, onnx_type)
    binding = session.io_binding()
    for name, (array, onnx_type) in inputs.items():
        binding.bind_ortvalue_input(name, value(array, onnx_type))
    for name, (array, onnx_type) in outputs.items():
        binding.bind_ortvalue_output(name, value(array, onnx_type))
    session.run_with_iobinding(binding)


class HalfPrecision(unittest.TestCase):
    """formats.json's float16 and bfloat16 cases, with int64 and int32 targets: the loss (float)
    is the file's and the C ABI's on the scores widened to float (exact), bit for bit; the
    gradient (of the scores' type) is the file's bits, PyTorch's float gradient rounded to the
    scores' type (its CPU autocast)."""

    def session(self, grad, half, p, margin, reduction, weighted, targets):
        key = ("half", grad, half, p, margin, reduction, weighted, targets)
        if key not in _SESSIONS:
            inputs = ([("grad_output", TensorProto.FLOAT)] if grad else []) + [
                ("scores", HALF_TYPE[half]), ("target", ONNX_TYPE[targets])]
            inputs += [("weight", TensorProto.FLOAT)] if weighted else []
            make = grad_node if grad else loss_node
            node = make([n for n, _ in inputs], "out", p=p, margin=float(margin),
                        reduction=reduction)
            out_type = HALF_TYPE[half] if grad else TensorProto.FLOAT
            _SESSIONS[key] = ort.InferenceSession(model([node], inputs, [("out", out_type)]),
                                                  session_options())
        return _SESSIONS[key]

    def test_half_cases_match_pytorch_and_c_abi(self):
        cases = [case for case in golden_cases(FORMATS) if case["dtype"] in HALF_TYPE]
        self.assertEqual(len(cases), 102)
        self.assertEqual({case["dtype"] for case in cases}, set(HALF_TYPE))
        f32 = lambda key: np.array([number(v) for v in case[key]], dtype=np.float32)
        for case, targets in ((case, targets) for case in cases for targets in TARGET_TYPES):
            half, p, reduction = case["dtype"], case["p"], case["reduction"]
            margin, weighted = number(case["margin"]), case["weight"] is not None
            shape = (case["c"],) if case["one_d"] else (case["n"], case["c"])
            bits = np.array(case["input_bits"], dtype=np.uint16).reshape(shape)
            widened = f32("input").reshape(shape)
            target = np.array(case["target"], dtype=targets)
            target = target.reshape(()) if case["one_d"] else target
            loss_shape = target.shape if reduction == "none" else ()
            up = f32("grad_output").reshape(loss_shape)
            weight = f32("weight") if weighted else None
            label = "%s %s targets" % (case["name"], np.dtype(targets).name)
            inputs = {"scores": (bits, HALF_TYPE[half]), "target": (target, None)}
            if weighted:
                inputs["weight"] = (weight, None)

            loss = np.zeros(loss_shape, np.float32)
            bound_run(self.session(False, half, p, margin, reduction, weighted, targets),
                      inputs, {"out": (loss, None)})
            want = c_abi(np.float32, p, margin, weight, reduction, widened, target)
            assert_same_bits(self, loss, want.reshape(loss_shape), label + " loss vs C ABI")
            assert_golden(self, loss, f32("forward"), label + " loss vs PyTorch")

            grad = np.full(shape, 0xFFFF, np.uint16)  # every element must be written
            bound_run(self.session(True, half, p, margin, reduction, weighted, targets),
                      dict(inputs, grad_output=(up, None)), {"out": (grad, HALF_TYPE[half])})
            want = np.array(case["grad_input_bits"], dtype=np.uint16).reshape(shape)
            bad = np.nonzero(grad.reshape(-1) != want.reshape(-1))[0]
            self.assertEqual(len(bad), 0, "%s grad: first difference at %s: got %#x, want %#x" % (
                label, bad[:1], grad.reshape(-1)[bad[0]], want.reshape(-1)[bad[0]])
                if len(bad) else label)

    def test_half_errors_carry_mmls_message(self):
        session = self.session(False, "bfloat16", 1, 1.0, "mean", True, np.int32)
        inputs = {"scores": (np.zeros((2, 3), np.uint16), TensorProto.BFLOAT16),
                  "target": (np.array([0, 3], np.int32), None),
                  "weight": (np.ones(3, np.float32), None)}
        with self.assertRaises(Exception) as caught:
            bound_run(session, inputs, {"out": (np.zeros((), np.float32), None)})
        self.assertIn("mml::MultiMarginLoss: target[1] = 3 is outside [0, 3)", str(caught.exception))
        inputs["target"] = (np.array([0, 2], np.int32), None)
        inputs["weight"] = (np.ones(4, np.float32), None)
        with self.assertRaises(Exception) as caught:
            bound_run(session, inputs, {"out": (np.zeros((), np.float32), None)})
        self.assertIn("weight has 4 elements, expected 3", str(caught.exception))


class Errors(unittest.TestCase):
    """Bad input: a Python exception carrying mml's own message, never a crash."""

    def setUp(self):
        rng = np.random.default_rng(5)
        self.scores, self.target = random_batch(rng, 4, 5, np.float32)

    def feeds(self, **changes):
        return dict({"scores": self.scores, "target": self.target}, **changes)

    def test_bad_target(self):
        for targets in TARGET_TYPES:
            target = np.array([0, 7, 1, 2], targets)
            for grad in (False, True):
                session = single_op_session(grad, np.float32, 1, 1.0, "none", False, targets)
                extra = {"grad_output": np.ones(4, np.float32)} if grad else {}
                message = run_expecting_error(self, session, self.feeds(target=target, **extra))
                op = "MultiMarginLossGrad" if grad else "MultiMarginLoss"
                self.assertIn("mml::%s: target[1] = 7 is outside [0, 5)" % op, message)
            session = single_op_session(False, np.float64, 1, 1.0, "sum", False, targets)
            message = run_expecting_error(self, session, self.feeds(
                scores=self.scores.astype(np.float64), target=np.array([0, 1, -3, 2], targets)))
            self.assertIn("mml::MultiMarginLoss: target[2] = -3 is outside [0, 5)", message)
        session = single_op_session(False, np.float32, 1, 1.0, "sum", False, np.int32)
        message = run_expecting_error(self, session, self.feeds(
            target=np.array([0, 1, 2, -2**31], np.int32)))
        self.assertIn("target[3] = -2147483648 is outside [0, 5)", message)

    def test_wrong_weight_length(self):
        session = single_op_session(False, np.float32, 1, 1.0, "mean", True)
        message = run_expecting_error(self, session, self.feeds(weight=np.ones(3, np.float32)))
        self.assertIn("mml::MultiMarginLoss: weight has 3 elements, expected 5", message)
        message = run_expecting_error(self, session, self.feeds(weight=np.ones(0, np.float32)))
        self.assertIn("mml::MultiMarginLoss: weight has 0 elements, expected 5", message)
        session = single_op_session(True, np.float64, 1, 1.0, "mean", True)
        message = run_expecting_error(self, session, {
            "grad_output": np.array(1, np.float64), "scores": self.scores.astype(np.float64),
            "target": self.target, "weight": np.ones(6)})
        self.assertIn("weight has 6 elements, expected 5", message)

    def test_shapes(self):
        session = single_op_session(False, np.float32, 1, 1.0, "none", False)
        cases = [
            (self.feeds(target=self.target[:3]), "target has 3 elements, expected 4"),
            (self.feeds(scores=self.scores.reshape(2, 2, 5)),
             "scores must have shape [N, C] or [C], got rank 3"),
            (self.feeds(scores=np.array(1, np.float32)),
             "scores must have shape [N, C] or [C], got rank 0"),
            (self.feeds(target=self.target.reshape(2, 2)),
             "target must have shape [N] or [], got rank 2"),
            (self.feeds(scores=np.zeros((4, 0), np.float32)),
             "the number of classes c must be at least 1"),
        ]
        for feeds, expected in cases:
            self.assertIn(expected, run_expecting_error(self, session, feeds))
        session = single_op_session(False, np.float32, 1, 1.0, "none", True)
        message = run_expecting_error(self, session, self.feeds(weight=np.ones((1, 5), np.float32)))
        self.assertIn("weight must have shape [C], got rank 2", message)
        session = single_op_session(True, np.float32, 1, 1.0, "none", False)
        message = run_expecting_error(self, session, self.feeds(grad_output=np.ones(3, np.float32)))
        self.assertIn("grad_output has 3 elements, expected 4", message)
        session = single_op_session(True, np.float32, 1, 1.0, "sum", False)
        message = run_expecting_error(self, session, self.feeds(grad_output=np.ones(4, np.float32)))
        self.assertIn("grad_output has 4 elements, expected 1", message)

    def creation_error(self, node, inputs, output_type=TensorProto.FLOAT):
        with self.assertRaises(Exception) as caught:
            ort.InferenceSession(model([node], inputs, [("out", output_type)]), session_options())
        return str(caught.exception)

    def test_attributes(self):
        inputs = [("scores", TensorProto.FLOAT), ("target", TensorProto.INT64)]
        for attributes, expected in (
                ({"p": 3}, "p must be 1 or 2, got 3"),
                ({"p": -1}, "p must be 1 or 2, got -1"),
                ({"reduction": "avg"}, 'reduction must be "none", "mean" or "sum", got "avg"'),
                ({"p": 1.5}, "attribute p must be an int"),
                ({"reduction": 1}, "attribute reduction must be a string"),
                ({"margin": "1"}, "attribute margin must be a float")):
            message = self.creation_error(loss_node(["scores", "target"], "out", **attributes), inputs)
            self.assertIn("mml::MultiMarginLoss: " + expected, message)
        node = loss_node(["scores", "target"], "out", p=7)
        node.name = "my_loss"
        message = self.creation_error(node, inputs)
        self.assertIn('mml::MultiMarginLoss (node "my_loss"): p must be 1 or 2, got 7', message)

    def test_session_survives_errors(self):
        session = single_op_session(False, np.float32, 1, 1.0, "mean", False)
        run_expecting_error(self, session, self.feeds(target=np.array([9, 9, 9, 9])))
        (loss,) = session.run(None, self.feeds())
        assert_same_bits(self, loss, c_abi(np.float32, 1, 1.0, None, "mean", self.scores,
                                           self.target)[0], "after an error")


class Concurrency(unittest.TestCase):
    def test_two_sessions_many_threads(self):
        """The library registered in two sessions' options at once (two registrations), both
        run from 8 threads, small calls and large ones (on mml's pool): the serial bits."""
        rng = np.random.default_rng(6)
        small = random_batch(rng, 33, 10, np.float32)
        large = random_batch(rng, 16384, 10, np.float32)
        inputs = [("scores", TensorProto.FLOAT), ("target", TensorProto.INT64)]
        sessions = []
        for reduction in ("sum", "none"):
            node = loss_node(["scores", "target"], "out", p=2, reduction=reduction)
            sessions.append(ort.InferenceSession(model([node], inputs, [("out", TensorProto.FLOAT)]),
                                                 session_options()))
        work = [(s, b) for s in sessions for b in (small, large)]
        expected = [s.run(None, {"scores": b[0], "target": b[1]})[0] for s, b in work]
        for (s, b), want, reduction in zip(work, expected, ("sum", "sum", "none", "none")):
            assert_same_bits(self, want, c_abi(np.float32, 2, 1.0, None, reduction, *b)
                             .reshape(want.shape), "serial")
        failures = []

        def worker(seed):
            order = np.random.default_rng(seed)
            try:
                for _ in range(40):
                    i = order.integers(len(work))
                    s, b = work[i]
                    (got,) = s.run(None, {"scores": b[0], "target": b[1]})
                    if got.tobytes() != expected[i].tobytes():
                        failures.append((seed, i))
            except Exception as error:  # reported below, on the main thread
                failures.append(error)

        threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])


EXPORTED = os.path.join(ROOT, "examples", "onnxruntime", "exported")


class ExportedFromPyTorch(unittest.TestCase):
    """The models examples/onnxruntime/export_pytorch.py exported from PyTorch (its torchscript
    and dynamo routes; torch itself is not installed here): they load with the library, and
    their losses are mml's C ABI's on the scores the graph computed (PyTorch's bits, by the
    golden tests), the scores close to PyTorch's."""

    def test_exported_models_run(self):
        with open(os.path.join(EXPORTED, "expected.json")) as f:  # missing: fails
            expected = json.load(f)
        unbits = lambda v: np.array(v["bits"], np.uint32).view(np.float32).reshape(v["shape"])
        x, y = unbits(expected["x"]), np.array(expected["y"], np.int64)
        self.assertEqual(sorted(expected["models"]),
                         ["classifier_dynamo.onnx", "classifier_torchscript.onnx"])
        for name, want in sorted(expected["models"].items()):
            path = os.path.join(EXPORTED, name)
            graph = onnx.load(path).graph
            losses = [n for n in graph.node if n.domain == "mml"]
            self.assertEqual([n.op_type for n in losses], ["MultiMarginLoss"] * 2, name)
            initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
            class_weight = initializers[losses[1].input[2]]
            session = ort.InferenceSession(path, session_options(),
                                           providers=["CPUExecutionProvider"])
            scores, mean_loss, per_sample = session.run(None, {"x": x, "y": y})
            np.testing.assert_allclose(scores, unbits(want["torch_scores"]), rtol=1e-5,
                                       atol=1e-6, err_msg=name)
            assert_same_bits(self, mean_loss, c_abi(np.float32, 1, 1.0, None, "mean", scores,
                                                    y).reshape(()), name + " mean loss")
            assert_same_bits(self, per_sample, c_abi(np.float32, 2, 0.5, class_weight, "none",
                                                     scores, y), name + " per-sample loss")
            np.testing.assert_allclose(mean_loss, unbits(want["torch_mean_loss"]), rtol=1e-5)
            np.testing.assert_allclose(per_sample, unbits(want["torch_per_sample"]), rtol=1e-5,
                                       atol=1e-6)


class Library(unittest.TestCase):
    def test_not_linked_to_onnxruntime(self):
        dynamic = subprocess.run(["readelf", "-d", "-W", PLUGIN], check=True, capture_output=True,
                                 text=True).stdout
        needed = [line for line in dynamic.splitlines() if "(NEEDED)" in line]
        self.assertTrue(needed)
        self.assertFalse([line for line in needed if "onnxruntime" in line], needed)
        self.assertIn("Library soname: [libmml_onnxruntime.so]", dynamic)
        symbols = subprocess.run(["nm", "-D", "--defined-only", PLUGIN], check=True,
                                 capture_output=True, text=True).stdout
        self.assertIn(" T RegisterCustomOps", symbols)

    def test_one_mml_in_the_process(self):
        """The plugin links libmml.so.0.1 (found beside it) instead of carrying a copy of mml:
        with the C ABI already loaded through ctypes, a session adds no second mml."""
        dynamic = subprocess.run(["readelf", "-d", "-W", PLUGIN], check=True, capture_output=True,
                                 text=True).stdout
        self.assertIn("Shared library: [libmml.so.0.1]", dynamic)
        self.assertIn("Library runpath: [$ORIGIN:$ORIGIN/..]", dynamic)
        symbols = subprocess.run(["nm", "-D", "--defined-only", PLUGIN], check=True,
                                 capture_output=True, text=True).stdout
        self.assertNotIn(" mml_forward", symbols)
        single_op_session(False, np.float32, 1, 1.0, "mean", False)
        with open("/proc/self/maps") as maps:
            mapped = {os.path.realpath(line.split()[-1]) for line in maps
                      if os.path.basename(line.split()[-1]).startswith("libmml")}
        self.assertEqual(mapped, {os.path.realpath(LIBMML), os.path.realpath(PLUGIN)})


if __name__ == "__main__":
    print("onnxruntime %s, onnx %s, numpy %s; mml kernel path %s (the plugin calls this libmml)" % (
        ort.__version__, onnx.__version__, np.__version__, C.mml_kernel_path().decode()))
    unittest.main()
