#!/usr/bin/env bash
# make test-onnx: libmml_onnxruntime.so inside the real ONNX Runtime. Installs the onnxruntime,
# onnx and numpy wheels from PyPI when the Python at hand lacks them (pip --user, or, where
# that is refused, a virtual environment in target/onnx-venv), then runs the suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PY=${PYTHON:-python3}
[[ -x target/onnx-venv/bin/python ]] && PY=target/onnx-venv/bin/python
REQUIREMENTS=("onnxruntime>=1.17" "onnx" "numpy")

if ! "$PY" -c 'import onnxruntime, onnx, numpy' 2>/dev/null; then
    echo "test-onnx: installing ${REQUIREMENTS[*]} from PyPI"
    in_venv=$("$PY" -c 'import sys; print(int(sys.prefix != sys.base_prefix))')
    if [[ $in_venv == 1 ]]; then
        "$PY" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
    elif ! "$PY" -m pip install --user --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"; then
        echo "test-onnx: pip --user refused; using a virtual environment in target/onnx-venv"
        "$PY" -m venv target/onnx-venv
        PY=target/onnx-venv/bin/python
        "$PY" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
    fi
fi

exec "$PY" onnxruntime/tests/test_onnxruntime.py "$@"
