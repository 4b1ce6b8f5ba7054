#!/usr/bin/env bash
# Installs DLPack's header (Debian's libdlpack-dev: dlpack/dlpack.h, header only) when it is
# missing: include/mml_dlpack.h includes it, and the DLPack tests compile against it. No-op
# otherwise. The repository never carries its own copy of dlpack.h.
set -euo pipefail
if echo '#include <dlpack/dlpack.h>' | "${CC:-cc}" -E -x c - >/dev/null 2>&1; then exit 0; fi
echo "install-dlpack: installing DLPack's header (libdlpack-dev)" >&2
export DEBIAN_FRONTEND=noninteractive
"$(dirname "$0")"/apt-get.sh update -qq
"$(dirname "$0")"/apt-get.sh install -y -qq --no-install-recommends libdlpack-dev >/dev/null
