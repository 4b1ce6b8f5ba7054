#!/usr/bin/env bash
# Builds the C# binding with Mono's mcs and runs its console test runner against
# target/release/libmml.so. Usage: bindings/csharp/test.sh [path/to/multi_margin_loss.json]
# Assumes `cargo build --release` already ran (make test-csharp does it). Installs Mono's
# compiler and runtime when they are missing (scripts/install-mono.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
golden="${1:-$repo/tests/data/multi_margin_loss.json}"
lib="$repo/target/release/libmml.so"
out="$repo/target/csharp"

"$repo/scripts/install-mono.sh"

if [ ! -f "$lib" ]; then
    echo "test.sh: $lib is missing; run 'cargo build --release' first" >&2
    exit 1
fi

mkdir -p "$out"
mcs -nologo -target:library -unsafe -langversion:7 -warnaserror+ -optimize+ \
    -out:"$out/Mml.dll" "$here"/Mml/*.cs
mcs -nologo -target:exe -langversion:7 -warnaserror+ -r:"$out/Mml.dll" -r:System.Numerics.dll \
    -out:"$out/MmlTests.exe" "$here"/Tests/*.cs

if [ ! -f "$golden" ]; then
    echo "test.sh: golden file $golden not found" >&2
    exit 1
fi

# DllImport("mml") resolves to libmml.so on the loader path (Mono tries the lib prefix and
# the .so suffix itself), so no dllmap is needed.
cd "$out"
LD_LIBRARY_PATH="$repo/target/release${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    mono --debug MmlTests.exe "$golden"
