#!/usr/bin/env bash
# Builds and tests the C++ binding against the repository's build of mml:
# configure + build with CMake into target/cpp-build (the suite as C++17 and C++20, and the
# span's compile-time rules in both), run the GoogleTest suites through ctest, and run the
# training example, which must end above 90% accuracy.
# Assumes `make build` has run (the Makefile's test-cpp target depends on it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/target/cpp-build"
jobs="$(nproc 2>/dev/null || echo 2)"

if [[ ! -f "$root/target/release/$("$root/scripts/soname.sh")" ]]; then
  echo "bindings/cpp/test.sh: the library of \`make build\` is missing in $root/target/release; run make build" >&2
  exit 1
fi

generator=()
if command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
fi
# A build directory configured with another generator cannot be reused.
if [[ -f "$build/CMakeCache.txt" ]]; then
  cached="$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$build/CMakeCache.txt")"
  want="$([[ ${#generator[@]} -gt 0 ]] && echo Ninja || echo 'Unix Makefiles')"
  [[ "$cached" == "$want" ]] || rm -rf "$build"
fi

# The DLPack overloads' tests must build wherever the repository has the DLPack header (they
# need <dlpack/dlpack.h> too: Debian's libdlpack-dev).
dlpack=OFF
[[ -f "$root/include/mml_dlpack.h" ]] && dlpack=ON

echo "== cpp: configure ($build)"
# -O1 without debug info: the test sources compile in a fraction of -O2 -g's time.
cmake -S "$here" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1" \
  -DMML_CPP_SANITIZE="${MML_CPP_SANITIZE:-ON}" -DMML_CPP_REQUIRE_CXX20=ON -DMML_CPP_REQUIRE_DLPACK=$dlpack >/dev/null
echo "== cpp: build"
cmake --build "$build" --parallel "$jobs"
echo "== cpp: ctest"
(cd "$build" && ctest --output-on-failure --parallel "$jobs")

echo "== cpp: example (examples/train.cpp)"
out="$("$build/mml_train")" || { echo "$out"; echo "bindings/cpp/test.sh: the example failed" >&2; exit 1; }
echo "$out"
acc="$(printf '%s\n' "$out" | sed -n 's/^final test accuracy: \([0-9.]*\)%$/\1/p' | tail -n 1)"
if [[ -z "$acc" ]]; then
  echo "bindings/cpp/test.sh: the example printed no final accuracy" >&2
  exit 1
fi
if ! awk -v a="$acc" 'BEGIN { exit !(a > 90.0) }'; then
  echo "bindings/cpp/test.sh: final accuracy $acc% is not above 90%" >&2
  exit 1
fi
echo "== cpp: all passed (example accuracy $acc%)"
