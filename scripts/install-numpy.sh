#!/usr/bin/env bash
# Installs numpy from PyPI when python3 cannot import it (tests/python/test_dlpack.py exports
# its tensors through numpy's __dlpack__; without numpy that test fails, it never skips).
# python3 and pip come from the distribution's packages when missing. No-op otherwise.
set -euo pipefail
if command -v python3 >/dev/null 2>&1 && python3 -c 'import numpy' >/dev/null 2>&1; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    echo "install-numpy: installing python3 and pip (python3-pip)" >&2
    "$(dirname "$0")"/apt-get.sh update -qq
    "$(dirname "$0")"/apt-get.sh install -y -qq --no-install-recommends python3 python3-pip >/dev/null
fi
echo "install-numpy: installing numpy from PyPI" >&2
# Debian's python3 refuses installs outside a virtual environment (PEP 668) unless told.
python3 -m pip install --quiet --user numpy 2>/dev/null ||
    python3 -m pip install --quiet --user --break-system-packages numpy ||
    python3 -m pip install --quiet numpy
python3 -c 'import numpy'
