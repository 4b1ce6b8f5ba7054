#!/usr/bin/env bash
# make test-onnx: libmml_onnxruntime.so inside the real ONNX Runtime. scripts/install-onnx.sh
# gives a Python with the onnxruntime, onnx and numpy wheels from PyPI (installed into
# target/onnx-venv when missing; a failed install fails the run), then the suite runs as the
# runtime at hand serves it (C API 24 or newer: one call describes a tensor), and its shape,
# error and graph tests again with MML_ONNXRUNTIME_API=17, the calls of ONNX Runtime 1.17-1.23.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PY=$(scripts/install-onnx.sh)
"$PY" onnxruntime/tests/test_onnxruntime.py "$@"
# The second run covers how tensors are described: every shape and rank, errors, graphs.
echo "== again with MML_ONNXRUNTIME_API=17 (ONNX Runtime 1.17-1.23's calls)"
again=("$@")
[[ $# -gt 0 ]] || again=(Options Graphs Errors)
MML_ONNXRUNTIME_API=17 "$PY" onnxruntime/tests/test_onnxruntime.py "${again[@]}"
