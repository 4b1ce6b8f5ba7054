"""Export a PyTorch model that uses torch.nn.functional.multi_margin_loss to ONNX, with
aten::multi_margin_loss mapped to mml::MultiMarginLoss, then run it in ONNX Runtime with
libmml_onnxruntime.so and check the loss against PyTorch's, bit for bit.

ONNX has no multi-margin loss operator, so without a mapping the export fails:
    torch.onnx.export(...) -> UnsupportedOperatorError: Exporting the operator
    'aten::multi_margin_loss' to ONNX opset version 20 is not supported

Two routes, both here:
  --exporter torchscript  torch.onnx.register_custom_op_symbolic + torch.onnx.export(dynamo=False)
                          (the TorchScript exporter; deprecated since PyTorch 2.9, still in 2.15)
  --exporter dynamo       torch.onnx.export(dynamo=True, custom_translation_table=...) with an
                          onnxscript function; needs the `onnxscript` package

Usage (from the repository root, after `make build onnx`):
    python examples/onnxruntime/export_pytorch.py [--exporter torchscript|dynamo|both]
        [--library target/release/libmml_onnxruntime.so] [--save DIR]

Needs torch, onnx, onnxruntime and numpy (and onnxscript for dynamo). --save DIR writes each
exported model and the inputs and PyTorch's results as JSON (the repository's copies in
examples/onnxruntime/exported/ are what `make test-onnx` runs; see docs/ONNXRUNTIME.md).
"""

import argparse
import contextlib
import json
import os

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_LIBRARY = os.path.join(ROOT, "target", "release", "libmml_onnxruntime.so")

# aten's reduction enum (torch.nn._reduction) -> the operator's `reduction` attribute.
REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


class Classifier(torch.nn.Module):
    """A linear classifier with two multi-margin losses: PyTorch's defaults, and p=2, margin
    0.5, per-class weights, one loss per sample. Returns the scores too."""

    def __init__(self, features=20, classes=10):
        super().__init__()
        self.linear = torch.nn.Linear(features, classes)
        self.register_buffer("class_weight", torch.linspace(0.5, 2.0, classes))

    def forward(self, x, y):
        scores = self.linear(x)
        mean_loss = F.multi_margin_loss(scores, y)
        per_sample = F.multi_margin_loss(scores, y, p=2, margin=0.5, weight=self.class_weight,
                                         reduction="none")
        return scores, mean_loss, per_sample


# --- Route 1: the TorchScript exporter, torch.onnx.register_custom_op_symbolic ---------------

def margin_attribute(margin):
    """`margin_f` (a float attribute) when float holds the margin exactly, else `margin_t`, a
    one-element double tensor: libmml_onnxruntime.so reads either, and a double model needs the
    double margin to give PyTorch's float64 bits."""
    if float(np.float32(margin)) == margin:
        return {"margin_f": margin}
    return {"margin_t": torch.tensor(margin, dtype=torch.float64)}


def multi_margin_loss_symbolic(g, scores, target, p, margin, weight, reduction):
    """aten::multi_margin_loss(self, target, p, margin, weight, reduction) -> mml::MultiMarginLoss."""
    from torch.onnx import symbolic_helper

    p = symbolic_helper._maybe_get_const(p, "f")
    margin = symbolic_helper._maybe_get_const(margin, "f")
    reduction = symbolic_helper._maybe_get_const(reduction, "i")
    if not all(isinstance(v, (int, float)) for v in (p, margin, reduction)):
        raise RuntimeError("mml::MultiMarginLoss needs p, margin and reduction as constants")
    inputs = [scores, target]
    if not symbolic_helper._is_none(weight):
        inputs.append(weight)
    return g.op("mml::MultiMarginLoss", *inputs, p_i=int(p), reduction_s=REDUCTIONS[reduction],
                **margin_attribute(float(margin)))


def export_torchscript(model, args, path):
    torch.onnx.register_custom_op_symbolic("aten::multi_margin_loss",
                                           multi_margin_loss_symbolic, opset_version=1)
    torch.onnx.export(model, args, path, dynamo=False, opset_version=17,
                      input_names=["x", "y"],
                      output_names=["scores", "mean_loss", "per_sample"],
                      custom_opsets={"mml": 1})


# --- Route 2: the dynamo exporter, custom_translation_table ----------------------------------

def register_onnx_schema():
    """onnxscript builds nodes only of operators with an ONNX schema: declare mml's."""
    import onnx
    from onnx.defs import OpSchema

    if onnx.defs.has("MultiMarginLoss", "mml"):
        return
    optional = OpSchema.FormalParameterOption.Optional
    onnx.defs.register_schema(OpSchema(
        "MultiMarginLoss", "mml", 1,
        doc="PyTorch's multi_margin_loss, computed by libmml_onnxruntime.so",
        inputs=[OpSchema.FormalParameter("scores", "T"),
                OpSchema.FormalParameter("target", "I"),
                OpSchema.FormalParameter("weight", "L", param_option=optional)],
        outputs=[OpSchema.FormalParameter("loss", "L")],
        type_constraints=[
            ("T", ["tensor(float)", "tensor(double)", "tensor(float16)", "tensor(bfloat16)"],
             "scores"),
            ("I", ["tensor(int64)", "tensor(int32)"], "targets"),
            ("L", ["tensor(float)", "tensor(double)"], "loss and weights")],
        attributes=[
            OpSchema.Attribute("p", OpSchema.AttrType.INT, "1 or 2"),
            OpSchema.Attribute("margin", OpSchema.AttrType.FLOAT, "the margin"),
            OpSchema.Attribute("reduction", OpSchema.AttrType.STRING, "none, mean or sum")]))


@contextlib.contextmanager
def multi_margin_loss_kept_whole():
    """PyTorch (2.15 at least) registers a Python decomposition of aten.multi_margin_loss at the
    Autograd dispatch key (torch/_decomp/decompositions.py). The dynamo exporter re-traces the
    program to run its decompositions, which meets that kernel before the translation table is
    consulted, so the loss arrives as elementwise ONNX operators. Lifted for the export only."""
    from torch._C import DispatchKey

    op = torch.ops.aten.multi_margin_loss.default
    saved = op.py_kernels.pop(DispatchKey.Autograd, None)
    op._dispatch_cache.clear()
    try:
        yield
    finally:
        if saved is not None:
            op.py_kernels[DispatchKey.Autograd] = saved
        op._dispatch_cache.clear()


def export_dynamo(model, args, path):
    import onnxscript

    register_onnx_schema()
    mml = onnxscript.values.Opset("mml", 1)

    def multi_margin_loss(scores, target, p=1, margin=1.0, weight=None, reduction=1):
        attributes = {"p": int(p), "margin": float(margin), "reduction": REDUCTIONS[reduction]}
        if weight is None:
            return mml.MultiMarginLoss(scores, target, **attributes)
        return mml.MultiMarginLoss(scores, target, weight, **attributes)

    with multi_margin_loss_kept_whole():
        program = torch.onnx.export(
            model, args, dynamo=True, opset_version=18,
            input_names=["x", "y"], output_names=["scores", "mean_loss", "per_sample"],
            custom_translation_table={torch.ops.aten.multi_margin_loss.default:
                                      multi_margin_loss})
    program.save(path)


# --- Run in ONNX Runtime and check -------------------------------------------------------------

def run_in_onnxruntime(path, library, x, y):
    options = ort.SessionOptions()
    options.register_custom_ops_library(library)
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x, "y": y})


def check(model, path, library, x, y):
    """ONNX Runtime's losses are PyTorch's multi_margin_loss of ONNX Runtime's scores, bit for
    bit (its Gemm and PyTorch's addmm may round the scores differently, so the loss is checked
    on the scores the graph computed)."""
    scores, mean_loss, per_sample = run_in_onnxruntime(path, library, x, y)
    with torch.no_grad():
        torch_scores = model.linear(torch.from_numpy(x)).numpy()
        s, t = torch.from_numpy(scores), torch.from_numpy(y)
        want_mean = F.multi_margin_loss(s, t).numpy()
        want_per_sample = F.multi_margin_loss(s, t, p=2, margin=0.5, weight=model.class_weight,
                                              reduction="none").numpy()
    np.testing.assert_allclose(scores, torch_scores, rtol=1e-5, atol=1e-6)
    for got, want, what in ((mean_loss, want_mean, "mean loss"),
                            (per_sample, want_per_sample, "per-sample loss")):
        if got.shape != want.shape or got.tobytes() != want.tobytes():
            raise AssertionError("%s: ONNX Runtime %r, PyTorch %r" % (what, got, want))
    return scores, mean_loss, per_sample


def bits(array):
    array = np.ascontiguousarray(array, dtype=np.float32)
    return {"shape": list(array.shape), "bits": array.reshape(-1).view(np.uint32).tolist()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exporter", choices=["torchscript", "dynamo", "both"], default="both")
    parser.add_argument("--library", default=os.environ.get("MML_ONNXRUNTIME_LIB",
                                                            DEFAULT_LIBRARY))
    parser.add_argument("--save", metavar="DIR", help="write the models and the expected values")
    parser.add_argument("--out", metavar="DIR", default=os.path.join(ROOT, "target", "export"))
    options = parser.parse_args()

    torch.manual_seed(0)
    model = Classifier().eval()
    x = torch.randn(64, 20)
    y = torch.randint(0, 10, (64,))
    out = options.save or options.out
    os.makedirs(out, exist_ok=True)
    routes = ["torchscript", "dynamo"] if options.exporter == "both" else [options.exporter]
    expected = {"x": bits(x.numpy()), "y": y.tolist(), "torch": torch.__version__,
                "onnxruntime": ort.__version__, "models": {}}
    for route in routes:
        path = os.path.join(out, "classifier_%s.onnx" % route)
        (export_torchscript if route == "torchscript" else export_dynamo)(model, (x, y), path)
        scores, mean_loss, per_sample = check(model, path, options.library, x.numpy(), y.numpy())
        with torch.no_grad():
            torch_scores, torch_mean, torch_per_sample = model(x, y)
        expected["models"][os.path.basename(path)] = {
            "torch_scores": bits(torch_scores.numpy()),
            "torch_mean_loss": bits(torch_mean.numpy()),
            "torch_per_sample": bits(torch_per_sample.numpy())}
        print("%s: %s exported; in ONNX Runtime %s: mean loss %r, per-sample losses of %d "
              "samples, both PyTorch's bits on the graph's scores" % (
                  route, path, ort.__version__, float(mean_loss), per_sample.size))
    if options.save:
        with open(os.path.join(out, "expected.json"), "w") as f:
            json.dump(expected, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
