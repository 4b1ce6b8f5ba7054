#!/usr/bin/env bash
# Installs mml into a temporary prefix with scripts/install.sh, then builds and runs consumers
# against that installed copy ONLY:
#   (a) C through pkg-config: tests/install/smoke.c and the project's C test tests/c/test_mml.c;
#   (b) C++ through CMake find_package(mml): the C++ binding's GoogleTest suite, plus smoke.c
#       linked statically through mml::mml_static.
# Each binary is checked (ldd/readelf) to resolve libmml.so from the prefix, and the compile
# commands are checked to use only the prefix's headers.
# Assumes `cargo build --release` has run (the Makefile's test-install target depends on build).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/mml-install-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
jobs="$(nproc 2>/dev/null || echo 2)"
CC="${CC:-cc}"

fail() { echo "tests/install/test.sh: $*" >&2; exit 1; }

# Fails unless BINARY loads libmml.so from the prefix (and from nowhere in the repository).
check_resolves_from_prefix() {
  local bin="$1" resolved
  resolved="$(ldd "$bin" | awk '$1 == "libmml.so" { print $3 }')"
  [[ "$resolved" == "$prefix/lib/libmml.so" ]] ||
    fail "$bin resolves libmml.so to '$resolved', expected $prefix/lib/libmml.so"
  if readelf -d "$bin" | grep -E 'R(UN)?PATH' | grep -qF "$root"; then
    fail "$bin has a run path into the repository: $(readelf -d "$bin" | grep -E 'R(UN)?PATH')"
  fi
  echo "   $(basename "$bin"): libmml.so => $resolved"
}

version="$(awk '/^\[/ { s = $0; next } s == "[package]" && /^version[ \t]*=/ {
  sub(/^[^"]*"/, ""); sub(/".*$/, ""); print; exit }' "$root/Cargo.toml")"

echo "== install: scripts/install.sh $prefix"
"$root/scripts/install.sh" "$prefix" >/dev/null
for f in lib/libmml.so lib/libmml.a include/mml.h include/mml.hpp lib/pkgconfig/mml.pc \
         lib/cmake/mml/mmlConfig.cmake lib/cmake/mml/mmlConfigVersion.cmake; do
  [[ -f "$prefix/$f" ]] || fail "missing $prefix/$f"
done
readelf -d "$prefix/lib/libmml.so" | grep -q 'Library soname: \[libmml\.so\]' ||
  fail "installed libmml.so lacks the SONAME libmml.so"
cmp -s "$root/include/mml.h" "$prefix/include/mml.h" || fail "installed mml.h differs"

# ---- (a) C through pkg-config, seeing only the prefix's .pc files.
echo "== install: C via pkg-config"
export PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[[ "$(pkg-config --modversion mml)" == "$version" ]] ||
  fail "pkg-config says version $(pkg-config --modversion mml), Cargo.toml says $version"
cflags="$(pkg-config --cflags mml | sed "s/[[:space:]]*$//")"
libs="$(pkg-config --libs mml | sed "s/[[:space:]]*$//")"
[[ "$cflags" == "-I$prefix/include" ]] || fail "unexpected pkg-config --cflags: $cflags"
[[ "$libs" == "-L$prefix/lib -lmml" ]] || fail "unexpected pkg-config --libs: $libs"

c_programs=("$root/tests/install/smoke.c")
if [[ -f "$root/tests/c/test_mml.c" ]]; then
  c_programs+=("$root/tests/c/test_mml.c")
else
  echo "   warning: tests/c/test_mml.c does not exist; only smoke.c is built" >&2
fi
for src in "${c_programs[@]}"; do
  bin="$tmp/$(basename "${src%.c}")"
  # shellcheck disable=SC2086  # pkg-config output is a list of words
  "$CC" -std=c99 -Wall -Wextra -Werror $cflags "$src" -o "$bin" $libs \
    -Wl,-rpath,"$prefix/lib" -lm
  check_resolves_from_prefix "$bin"
  "$bin" > "$tmp/out.txt" 2>&1 || { cat "$tmp/out.txt"; fail "$(basename "$bin") failed"; }
  tail -n 1 "$tmp/out.txt" | sed 's/^/   /'
done

# ---- (b) C++ through CMake find_package(mml), and C linked statically.
echo "== install: C++ via CMake find_package(mml)"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
build="$tmp/cmake-build"
cmake -S "$root/tests/install/cpp" -B "$build" "${generator[@]}" \
  -DCMAKE_PREFIX_PATH="$prefix" -DMML_EXPECTED_PREFIX="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1" -DCMAKE_C_FLAGS_RELEASE="-O1" \
  > "$tmp/configure.txt" || { cat "$tmp/configure.txt"; fail "cmake configure failed"; }
grep 'mml .* from' "$tmp/configure.txt" | sed 's/^-- /   /'
cmake --build "$build" --parallel "$jobs" > "$tmp/build.txt" ||
  { cat "$tmp/build.txt"; fail "cmake build failed"; }

# Headers: the include flags name the prefix and nothing in the repository's include dirs.
commands="$build/compile_commands.json"
grep -qF -- "$prefix/include" "$commands" || fail "compile commands do not use $prefix/include"
for dir in "$root/include" "$root/bindings/cpp/include" "$root/target"; do
  if grep -qF -- "$dir" "$commands"; then fail "compile commands refer to $dir"; fi
done
check_resolves_from_prefix "$build/mml_cpp_test_installed"
if ldd "$build/mml_smoke_static" | grep -q 'libmml\.so'; then
  fail "mml_smoke_static is linked against libmml.so, expected the static library"
fi
echo "   mml_smoke_static: no libmml.so dependency (static)"

(cd "$build" && ctest --output-on-failure --parallel "$jobs")
echo "== install: all passed"
