#!/usr/bin/env bash
# make test-onnx: libmml_onnxruntime.so inside the real ONNX Runtime. scripts/install-onnx.sh
# gives a Python with the onnxruntime, onnx and numpy wheels from PyPI (installed into
# target/onnx-venv when missing; a failed install fails the run), then the suite runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PY=$(scripts/install-onnx.sh)
"$PY" onnxruntime/tests/test_onnxruntime.py "$@"
