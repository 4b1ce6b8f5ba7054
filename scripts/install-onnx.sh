#!/usr/bin/env bash
# Makes a Python with the onnxruntime, onnx and numpy wheels from PyPI for make test-onnx and
# prints its path (the only line on stdout). The Python at hand ($PYTHON, else python3) is used
# when it has all three; otherwise a virtual environment of the project's own, target/onnx-venv,
# gets them (Debian's python3 refuses `pip install --user`, PEP 668). Installs python3 and
# python3-venv with apt when a fresh machine lacks them, as install-mono.sh does Mono (make
# test's plan runs the two one after the other: apt takes a lock). Any failure (no network, no
# wheel for this Python) fails: the tests never skip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ONNX Runtime 1.17 is the first with the C API version the plugin asks for (17).
REQUIREMENTS=("onnxruntime>=1.17" "onnx" "numpy")
VENV=target/onnx-venv
CHECK='import onnxruntime, onnx, numpy'

usable() { "$1" -c "$CHECK" 2>/dev/null; }

# The Python chosen, on stdout; a report line on stderr (make test's log shows it).
chosen() {
    local version
    version=$("$1" -c 'import onnxruntime; print(onnxruntime.__version__)')
    echo "install-onnx: $1 with onnxruntime $version" >&2
    echo "$1"
    exit 0
}

if [[ -x $VENV/bin/python ]] && usable "$VENV/bin/python"; then chosen "$VENV/bin/python"; fi
PY=${PYTHON:-python3}
if command -v "$PY" >/dev/null 2>&1 && usable "$PY"; then chosen "$(command -v "$PY")"; fi

apt_install() {
    echo "install-onnx: installing $* with apt" >&2
    "$(dirname "$0")"/apt-get.sh update -qq >&2
    "$(dirname "$0")"/apt-get.sh install -y -qq --no-install-recommends "$@" >&2
}

command -v "$PY" >/dev/null 2>&1 || { apt_install python3 python3-venv; PY=python3; }
# A half-made environment (an earlier run without ensurepip, an interrupted install) is redone.
if ! [[ -x $VENV/bin/python ]] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$VENV"
    if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
        rm -rf "$VENV"
        apt_install python3-venv
        "$PY" -m venv "$VENV" >&2
    fi
fi
echo "install-onnx: installing ${REQUIREMENTS[*]} from PyPI into $VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}" >&2
"$VENV/bin/python" -c "$CHECK" >&2
chosen "$VENV/bin/python"
