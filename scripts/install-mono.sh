#!/usr/bin/env bash
# Installs Mono's compiler and runtime from the distribution's packages when either is missing
# (the C# binding's tests need them; a fresh CI machine has neither). No-op otherwise.
set -euo pipefail
if command -v mcs >/dev/null 2>&1 && command -v mono >/dev/null 2>&1; then exit 0; fi
echo "install-mono: installing Mono (mono-mcs, mono-runtime)" >&2
# mono-mcs depends on the class libraries the C# test runner uses (System.Core among them).
export DEBIAN_FRONTEND=noninteractive
"$(dirname "$0")"/apt-get.sh update -qq
"$(dirname "$0")"/apt-get.sh install -y -qq --no-install-recommends mono-mcs mono-runtime >/dev/null
