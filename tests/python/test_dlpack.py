"""The DLPack entry points with tensors exported by a real producer: numpy's ``__dlpack__``.

Each array's capsule (PyCapsule "dltensor", a DLManagedTensor whose first member is the
DLTensor) is opened with ctypes' PyCapsule_GetPointer and handed to mml_forward_dlpack,
mml_backward_dlpack and mml_forward_backward_dlpack through ctypes. Every case of
tests/data/formats.json (float16 as numpy float16; bfloat16 as numpy uint16 whose exported
dtype is relabelled kDLBfloat, since numpy has no bfloat16; float64 with float64 weights) and of
multi_margin_loss.json (float32) runs in numpy's layouts: contiguous, a column slice of a wider
array (a row pitch), a transpose of a C array (column-major), every other row of a taller array,
rows reversed and columns reversed (negative strides), a broadcast row (stride 0), one-row 1-D
scores with a 0-dim target; with int64 and int32 targets, strided ones too; outputs written
into numpy arrays of the same layouts. Each must give the bits of the contiguous typed call
(mml_forward_backward_typed). Refusals (another dtype, a shape that disagrees, an output that
overlaps the scores) give their status and leave the output untouched.

numpy is required: without it this program fails (make test-dlpack installs it from PyPI).
Usage: python3 tests/python/test_dlpack.py [path/to/libmml.so] [tests/data]
"""

import ctypes
import json
import math
import os
import sys

import numpy as np  # required: an ImportError fails the test

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "libmml.so")
DATA = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "tests", "data")

F32, F64, BF16, F16, I64, I32 = 0, 1, 2, 3, 4, 5
OK, NULL_POINTER, SHAPE_MISMATCH, ALIASED, UNSUPPORTED, LAYOUT = 0, 1, 3, 5, 8, 9
KDL_BFLOAT = 4


class MmlError(ctypes.Structure):
    _fields_ = [
        ("status", ctypes.c_uint32),
        ("argument", ctypes.c_uint32),
        ("expected", ctypes.c_uint64),
        ("actual", ctypes.c_uint64),
        ("row", ctypes.c_uint64),
        ("value", ctypes.c_int64),
        ("message", ctypes.c_char * 256),
    ]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device_type", ctypes.c_int32),
        ("device_id", ctypes.c_int32),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


lib = ctypes.CDLL(LIB)
P = ctypes.c_void_p
lib.mml_create.argtypes = [ctypes.c_uint32, ctypes.c_double, P, ctypes.c_size_t, ctypes.c_uint32,
                           ctypes.POINTER(P)]
lib.mml_create_f64.argtypes = lib.mml_create.argtypes
lib.mml_destroy.argtypes = [P]
lib.mml_set_num_threads.argtypes = [ctypes.c_size_t]
lib.mml_forward_dlpack.argtypes = [P, P, P, P, ctypes.POINTER(MmlError)]
lib.mml_backward_dlpack.argtypes = [P, P, P, P, P, ctypes.POINTER(MmlError)]
lib.mml_forward_backward_dlpack.argtypes = [P, P, P, P, P, P, ctypes.POINTER(MmlError)]
lib.mml_forward_backward_typed.argtypes = [
    P, ctypes.c_uint32, P, ctypes.c_size_t, ctypes.c_uint32, P, ctypes.c_size_t, ctypes.c_size_t,
    P, ctypes.c_size_t, P, ctypes.c_size_t, ctypes.c_uint32, P, ctypes.c_size_t,
    ctypes.POINTER(MmlError)]
for f in (lib.mml_forward_dlpack, lib.mml_backward_dlpack, lib.mml_forward_backward_dlpack,
          lib.mml_forward_backward_typed, lib.mml_create, lib.mml_create_f64,
          lib.mml_set_num_threads):
    f.restype = ctypes.c_uint32

get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
get_pointer.restype = ctypes.c_void_p
get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]

checks = 0
failures = []


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        if len(failures) <= 30:
            print("FAIL:", what, file=sys.stderr)


class Exported:
    """An array exported through numpy's __dlpack__; `ptr` is its DLTensor*. The capsule (and
    with it the array) stays alive with this object; numpy's deleter runs when it goes."""

    def __init__(self, array, bfloat16=False):
        self.array = array
        self.capsule = array.__dlpack__()
        self.ptr = get_pointer(self.capsule, b"dltensor")
        if bfloat16:  # numpy has no bfloat16: its uint16 bits, relabelled
            t = DLTensor.from_address(self.ptr)
            assert (t.dtype.code, t.dtype.bits) == (1, 16)
            t.dtype.code = KDL_BFLOAT


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.itemsize]).tobytes()


def floats(values, dtype):
    """JSON numbers and the strings "nan", "inf", "-inf" (Python's float reads all of them)."""
    return np.array([float(v) for v in values], dtype=dtype)


class Case:
    def __init__(self, c, golden):
        self.name = c["name"]
        self.n, self.c = c["n"], c["c"]
        self.one_d = c["one_d"]
        dtype = "float32" if golden else c["dtype"]
        self.dtype = dtype
        self.code = {"float32": F32, "float64": F64, "bfloat16": BF16, "float16": F16}[dtype]
        self.float = np.float64 if dtype == "float64" else np.float32
        red = {"none": 0, "mean": 1, "sum": 2}[c["reduction"]]
        self.red = red
        self.out_len = self.n if red == 0 else 1
        handle = P()
        w = c["weight"]
        if w is None:
            st = lib.mml_create(c["p"], c["margin"], None, 0, red, ctypes.byref(handle))
        elif dtype == "float64":
            self.w = floats(w, np.float64)
            st = lib.mml_create_f64(c["p"], c["margin"], self.w.ctypes.data, len(w), red,
                                    ctypes.byref(handle))
        else:
            self.w = floats(w, np.float32)
            st = lib.mml_create(c["p"], c["margin"], self.w.ctypes.data, len(w), red,
                                ctypes.byref(handle))
        assert st == OK, (self.name, st)
        self.loss = handle
        n, cc = self.n, self.c
        if dtype in ("bfloat16", "float16"):
            raw = np.array(c["input_bits"], dtype=np.uint16).reshape(n, cc)
            self.x = raw.view(np.float16) if dtype == "float16" else raw
        else:
            self.x = floats(c["input"], self.float).reshape(n, cc)
        self.t = np.array(c["target"], dtype=np.int64)
        self.up = floats(c["grad_output"], self.float)

    def __del__(self):
        lib.mml_destroy(self.loss)

    def exported(self, array):
        return Exported(array, bfloat16=self.dtype == "bfloat16")

    def reference(self, grad_dtype):
        """The contiguous typed call: loss and gradient bits."""
        out = np.zeros(self.out_len, self.float)
        gnp = self.float if grad_dtype in (F32, F64) else self.x.dtype
        grad = np.zeros((self.n, self.c), gnp)
        x = np.ascontiguousarray(self.x)
        st = lib.mml_forward_backward_typed(
            self.loss, self.code, x.ctypes.data, self.c, I64, self.t.ctypes.data, self.n, self.c,
            self.up.ctypes.data, self.out_len, out.ctypes.data, self.out_len, grad_dtype,
            grad.ctypes.data, self.c, None)
        check(st == OK, f"{self.name}: typed reference status {st}")
        return bits(out), bits(grad)


def layouts(x):
    """(label, scores view, row order) for numpy's layouts of the (n, c) array x: the view holds
    x's rows in the given order."""
    n, c = x.shape
    wide = np.zeros((n, c + 5), x.dtype)
    wide[:, 2:2 + c] = x
    tall = np.zeros((2 * n, c), x.dtype)
    tall[::2] = x
    fortran = np.zeros((c, n), x.dtype)
    fortran[:] = x.T
    colrev = np.ascontiguousarray(x[:, ::-1])
    rows = np.arange(n)
    return [
        ("contiguous", x, rows),
        ("column slice of a wider array", wide[:, 2:2 + c], rows),
        ("transpose (column-major)", fortran.T, rows),
        ("every other row", tall[::2], rows),
        ("rows reversed", np.ascontiguousarray(x[::-1])[::-1], rows),
        ("columns reversed", colrev[:, ::-1], rows),
        ("rows reversed, as given", x[::-1], rows[::-1]),
    ]


def out_like(kind, shape, dtype):
    """An empty output in a layout of the same family."""
    if len(shape) == 1:
        n = shape[0]
        if kind % 3 == 1:
            return np.zeros(2 * n, dtype)[::2]
        if kind % 3 == 2:
            return np.zeros(n, dtype)[::-1]
        return np.zeros(n, dtype)
    n, c = shape
    if kind % 3 == 1:
        return np.zeros((c, n), dtype).T
    if kind % 3 == 2:
        return np.zeros((n, c + 3), dtype)[:, 1:1 + c]
    return np.zeros((n, c), dtype)


def run_case(k):
    half = k.code in (BF16, F16)
    for g, grad_code in enumerate([F64 if k.code == F64 else F32] + ([k.code] if half else [])):
        want_out, want_grad = k.reference(grad_code)
        gnp = k.float if g == 0 else k.x.dtype
        for i, (label, xv, order) in enumerate(layouts(k.x)):
            if (order != np.arange(k.n)).any() and k.red != 0:
                continue  # rows in another order sum a reduced loss in another order
            what = f"{k.name} [{label}, grad {'half' if g else 'float'}]"
            tgt = k.t[order]
            if i % 2:
                tgt = np.repeat(tgt.astype(np.int32), 2)[::2]  # int32, strided
            up = k.up[order] if k.red == 0 else k.up
            out = out_like(i, (k.out_len,), k.float)
            grad = out_like(i + 1, (k.n, k.c), gnp)
            ex = [k.exported(xv), Exported(tgt), Exported(up), Exported(out), Exported(grad)]
            if g:  # the gradient in the half type: bfloat16 as uint16 relabelled
                ex[4] = k.exported(grad)
            err = MmlError()
            st = lib.mml_forward_backward_dlpack(k.loss, ex[0].ptr, ex[1].ptr, ex[2].ptr, ex[3].ptr,
                                                 ex[4].ptr, ctypes.byref(err))
            check(st == OK, f"{what}: status {st} ({err.message.decode()})")
            back = np.argsort(order)
            got_out = out[back] if k.red == 0 else out
            check(bits(got_out) == want_out, f"{what}: loss bits")
            check(bits(grad[back]) == want_grad, f"{what}: gradient bits")
            # forward alone
            out2 = out_like(i + 2, (k.out_len,), k.float)
            ex2 = Exported(out2)  # held: the capsule owns the DLTensor
            st = lib.mml_forward_dlpack(k.loss, ex[0].ptr, ex[1].ptr, ex2.ptr, None)
            got_out = out2[back] if k.red == 0 else out2
            check(st == OK and bits(got_out) == want_out, f"{what}: forward alone")
    # a broadcast row (stride 0) against its rows written out
    if k.n >= 1:
        m = 3
        row = np.ascontiguousarray(k.x[0])
        bx = np.lib.stride_tricks.as_strided(row, shape=(m, k.c), strides=(0, row.itemsize),
                                             writeable=True)
        rows = np.ascontiguousarray(np.broadcast_to(row, (m, k.c)))
        bt = np.full(m, k.t[0], np.int64)
        olen = m if k.red == 0 else 1
        bup = np.full(olen, k.up[0], k.float)
        ro, rg = np.zeros(olen, k.float), np.zeros((m, k.c), k.float)
        st = lib.mml_forward_backward_typed(
            k.loss, k.code, rows.ctypes.data, k.c, I64, bt.ctypes.data, m, k.c, bup.ctypes.data, olen,
            ro.ctypes.data, olen, F64 if k.code == F64 else F32, rg.ctypes.data, k.c, None)
        o, gr = np.zeros(olen, k.float), np.zeros((m, k.c), k.float)
        ex = [k.exported(bx), Exported(bt), Exported(bup), Exported(o), Exported(gr)]
        st2 = lib.mml_forward_backward_dlpack(k.loss, *[e.ptr for e in ex], None)
        check(st == OK and st2 == OK and bits(o) == bits(ro) and bits(gr) == bits(rg),
              f"{k.name}: broadcast row")
    # one row as 1-D scores with a 0-dim target (and a 0-dim output)
    if k.n == 1:
        want_out, want_grad = k.reference(F64 if k.code == F64 else F32)
        x1 = k.x[0][::-1][::-1]
        t0 = np.array(k.t[0], np.int64)
        o0 = np.zeros((), k.float)
        u0 = np.array(k.up[0], k.float)
        g1 = np.zeros(2 * k.c, k.float)[::2]
        ex = [k.exported(x1), Exported(t0), Exported(u0), Exported(o0), Exported(g1)]
        st = lib.mml_forward_backward_dlpack(k.loss, *[e.ptr for e in ex], None)
        check(st == OK and bits(o0) == want_out and bits(g1) == want_grad, f"{k.name}: 1-D scores")


def refusals():
    handle = P()
    assert lib.mml_create(1, 1.0, None, 0, 1, ctypes.byref(handle)) == OK
    x = np.arange(20, dtype=np.float32).reshape(4, 5) / 8
    t = np.array([0, 1, 2, 3], np.int64)
    err = MmlError()

    def refused(status, xs, ts, out, what):
        poison = out.copy()
        ex = [Exported(xs), Exported(ts), Exported(out)]  # held: each capsule owns its DLTensor
        st = lib.mml_forward_dlpack(handle, *[e.ptr for e in ex], ctypes.byref(err))
        check(st == status and err.status == status, f"{what}: status {st}, want {status}")
        check(len(err.message) > 0, f"{what}: a message")
        check(bits(out) == bits(poison), f"{what}: output untouched")

    refused(UNSUPPORTED, x, t, np.full(1, 7, np.float16), "a float16 output for float32 scores")
    refused(UNSUPPORTED, x.astype(np.int8), t, np.full(1, 7, np.float32), "int8 scores")
    refused(UNSUPPORTED, x, t.astype(np.float32), np.full(1, 7, np.float32), "float targets")
    refused(UNSUPPORTED, x.reshape(2, 2, 5), t, np.full(1, 7, np.float32), "3-D scores")
    refused(SHAPE_MISMATCH, x, t[:3], np.full(1, 7, np.float32), "three targets for four rows")
    refused(SHAPE_MISMATCH, x, t, np.full(2, 7, np.float32), "two losses for a mean")
    buf = np.zeros(32, np.float32)
    buf[:20] = x.ravel()
    view = buf[:20].reshape(4, 5)
    before = bits(buf)
    ex = [Exported(view), Exported(t), Exported(buf[19:20])]
    st = lib.mml_forward_dlpack(handle, *[e.ptr for e in ex], ctypes.byref(err))
    check(st == ALIASED and bits(buf) == before, "an output inside the scores")
    lib.mml_destroy(handle)


def main():
    cases = 0
    for threads in (1, 2):
        check(lib.mml_set_num_threads(threads) == OK, "threads")
        for file, golden in (("formats.json", False), ("multi_margin_loss.json", True)):
            with open(os.path.join(DATA, file)) as f:
                data = json.load(f)
            check(len(data) == (138 if not golden else 184), f"{file}: case count")
            for c in data:
                run_case(Case(c, golden))
                cases += 1
    lib.mml_set_num_threads(0)
    refusals()
    print(f"test_dlpack.py: numpy {np.__version__}, {cases // 2} cases on 1 and 2 threads, "
          f"{checks} checks, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
