#!/usr/bin/env bash
# Each host's own route to mml, tested from outside the repository against installed copies
# only (`make test-install`; after `make build`):
#
#   layout  `make install PREFIX=<tmp>/prefix`: the versioned library and its links, SONAME,
#           stripped shared library, static library without debug info, headers, pkg-config and
#           CMake files, the Go and C# sources, the licenses;
#   C       pkg-config: tests/install/smoke.c and tests/c/test_mml.c with an rpath, and smoke.c
#           without one, run with LD_LIBRARY_PATH (the README's two ways);
#   C++     CMake find_package(mml): the C++ binding's GoogleTest suite, and smoke.c linked
#           statically through mml::mml_static;
#   Go      a program in a module of its own (tests/install/go) whose go.mod requires the
#           binding and replaces it with PREFIX/share/mml/go; built with PKG_CONFIG_PATH and no
#           CGO_* variable (the binding's `#cgo pkg-config: mml`), run path to the prefix only;
#   ONNX Runtime  the operator library at the path `pkg-config --variable=onnxruntime_plugin mml`
#           gives, linked to the prefix's libmml, loaded by the onnxruntime wheel (scripts/install-onnx.sh's Python): a forward and
#           a gradient, bit for bit the installed libmml's (tests/install/onnxruntime_smoke.py);
#   C#      the NuGet package (bindings/csharp/pack.sh, `make nuget`): its structure, then a
#           program (tests/install/csharp) compiled with mcs against the unpacked package's
#           Mml.dll and run by Mono with the package's native library;
#   dist    the `make dist` tarball unpacked in a directory of its own: C through pkg-config
#           and through CMake;
#   LIBDIR  a multiarch install (LIBDIR=PREFIX/lib/x86_64-linux-gnu): C through pkg-config and
#           CMake; and DESTDIR staging, whose files still name the final prefix;
#   README  the README's C, C++, Go and C# examples, built as it says against the install (C#
#           also against the unpacked package). Its Rust example is a doctest (src/lib.rs).
#
# Every program is built in a temporary directory; each binary is checked (ldd, readelf) to load
# libmml from the copy under test and to carry no run path into the repository.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/tests/install"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/mml-install-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
case "$tmp/" in "$root"/*) echo "tests/install/test.sh: TMPDIR lies inside the repository" >&2; exit 1 ;; esac
prefix="$tmp/prefix"
jobs="$(nproc 2>/dev/null || echo 2)"
CC="${CC:-cc}"
version="$("$root/scripts/soname.sh" --version)"
soname="$("$root/scripts/soname.sh")"
file="$("$root/scripts/soname.sh" --file)"
# Nothing from the caller's environment may point the builds elsewhere.
unset CGO_CFLAGS CGO_LDFLAGS CGO_CPPFLAGS CPATH C_INCLUDE_PATH LIBRARY_PATH LD_LIBRARY_PATH \
      PKG_CONFIG_PATH PKG_CONFIG_LIBDIR CMAKE_PREFIX_PATH GOFLAGS MONO_PATH

fail() { echo "tests/install/test.sh: $*" >&2; exit 1; }

# Fails unless BINARY loads the SONAME from DIR and has no run path into the repository.
check_loads_from() { # binary dir [extra env for ldd]
  local bin="$1" dir="$2" resolved
  shift 2
  resolved="$(env "$@" ldd "$bin" | awk -v s="$soname" '$1 == s { print $3 }')"
  [[ -z "$resolved" ]] || resolved="$(realpath -ms -- "$resolved")"  # lib/mml/../x is lib/x
  [[ "$resolved" == "$dir/$soname" ]] ||
    fail "$bin loads $soname from '$resolved', expected $dir/$soname"
  if readelf -d "$bin" | grep -E 'R(UN)?PATH' | grep -qF "$root"; then
    fail "$bin has a run path into the repository: $(readelf -d "$bin" | grep -E 'R(UN)?PATH')"
  fi
  echo "   $(basename "$bin"): $soname => $resolved"
}
run_ok() { # binary [env...]: runs it, shows its last line
  local bin="$1"; shift
  env "$@" "$bin" >"$tmp/out.txt" 2>&1 || { cat "$tmp/out.txt"; fail "$(basename "$bin") failed"; }
  tail -n 1 "$tmp/out.txt" | sed 's/^/   /'
}
# C through pkg-config against the .pc files in PCDIR only; the binary gets an rpath to LIBDIR.
c_pkg_config() { # pcdir libdir source output
  local cflags libs
  cflags="$(PKG_CONFIG_LIBDIR="$1" pkg-config --cflags mml)"
  libs="$(PKG_CONFIG_LIBDIR="$1" pkg-config --libs mml)"
  # shellcheck disable=SC2086  # pkg-config output is a list of words
  "$CC" -std=c99 -Wall -Wextra -Werror $cflags "$3" -o "$4" $libs -Wl,-rpath,"$2" -lm
  check_loads_from "$4" "$2"
  run_ok "$4"
}
# smoke.c through CMake's find_package(mml) with CMAKE_PREFIX_PATH=PREFIX only.
c_cmake() { # prefix build-dir libdir
  cmake -S "$here/c-cmake" -B "$2" -DCMAKE_PREFIX_PATH="$1" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_BUILD_TYPE=Release >"$2.configure.txt" || { cat "$2.configure.txt"; fail "cmake configure failed"; }
  grep 'mml .* from' "$2.configure.txt" | sed 's/^-- /   /'
  cmake --build "$2" >"$2.build.txt" || { cat "$2.build.txt"; fail "cmake build failed"; }
  check_loads_from "$2/mml_smoke" "$3"
  run_ok "$2/mml_smoke"
}

# ---- layout: make install, as the README says
echo "== install: make install PREFIX=$prefix"
make -C "$root" --no-print-directory -s install PREFIX="$prefix" >/dev/null
for f in "lib/$file" "lib/$soname" lib/libmml.so lib/libmml.a include/mml.h include/mml_dlpack.h include/mml.hpp \
         include/mml_dlpack.hpp \
         lib/mml/libmml_onnxruntime.so lib/pkgconfig/mml.pc lib/cmake/mml/mmlConfig.cmake lib/cmake/mml/mmlConfigVersion.cmake \
         share/mml/go/go.mod share/mml/go/mml.go share/mml/go/cgo_pkgconfig.go \
         share/mml/csharp/Mml/Mml.csproj share/doc/mml/LICENSE-MIT share/doc/mml/LICENSE-APACHE; do
  [[ -e "$prefix/$f" ]] || fail "missing $prefix/$f"
done
[[ -f "$prefix/lib/$file" && ! -L "$prefix/lib/$file" ]] || fail "lib/$file is not a regular file"
[[ "$(readlink "$prefix/lib/$soname")" == "$file" ]] || fail "lib/$soname does not link to $file"
[[ "$(readlink "$prefix/lib/libmml.so")" == "$soname" ]] || fail "lib/libmml.so does not link to $soname"
readelf -d "$prefix/lib/$file" | grep -qF "Library soname: [$soname]" || fail "lib/$file lacks the SONAME $soname"
if readelf -S "$prefix/lib/$file" | grep -qE '\.debug_|\.symtab'; then fail "lib/$file is not stripped"; fi
if objdump -h "$prefix/lib/libmml.a" | grep -q '\.debug_'; then fail "lib/libmml.a has debug info"; fi
if readelf -S "$prefix/lib/mml/libmml_onnxruntime.so" | grep -qE '\.debug_|\.symtab'; then
  fail "lib/mml/libmml_onnxruntime.so is not stripped"
fi
for f in share/mml/go/cgo_local.go share/mml/go/mml_test.go; do
  [[ ! -e "$prefix/$f" ]] || fail "$f is installed (in-tree or test file)"
done
cmp -s "$root/include/mml.h" "$prefix/include/mml.h" || fail "installed mml.h differs"
cmp -s "$root/include/mml_dlpack.h" "$prefix/include/mml_dlpack.h" || fail "installed mml_dlpack.h differs"
cmp -s "$root/LICENSE-MIT" "$prefix/share/doc/mml/LICENSE-MIT" || fail "installed LICENSE-MIT differs"
echo "   $file ($(du -k "$prefix/lib/$file" | cut -f1) KiB, stripped), $soname -> $file," \
     "libmml.so -> $soname, libmml.a ($(du -k "$prefix/lib/libmml.a" | cut -f1) KiB, no debug info)"

# ---- ONNX Runtime: the plugin where pkg-config says, loaded by the runtime
echo "== install: ONNX Runtime operators via pkg-config --variable=onnxruntime_plugin"
plugin="$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --variable=onnxruntime_plugin mml)"
[[ "$plugin" == "$prefix/lib/mml/libmml_onnxruntime.so" ]] ||
  fail "mml.pc names the plugin '$plugin', expected $prefix/lib/mml/libmml_onnxruntime.so"
grep -qF 'set(mml_ONNXRUNTIME_PLUGIN "${_mml_prefix}/lib/mml/libmml_onnxruntime.so")' \
  "$prefix/lib/cmake/mml/mmlConfig.cmake" || fail "mmlConfig.cmake does not name the plugin"
# It links the prefix's libmml (run path $ORIGIN/..): one mml in a process that uses both.
check_loads_from "$plugin" "$prefix/lib"
python="$("$root/scripts/install-onnx.sh" 2>/dev/null)"
(cd "$tmp" && "$python" "$here/onnxruntime_smoke.py" "$plugin" "$prefix/lib/$soname") \
  >"$tmp/out.txt" 2>&1 || { cat "$tmp/out.txt"; fail "the installed plugin failed in ONNX Runtime"; }
sed 's/^/   /' "$tmp/out.txt"

# ---- C through pkg-config
echo "== install: C via pkg-config"
pc="$prefix/lib/pkgconfig"
[[ "$(PKG_CONFIG_LIBDIR="$pc" pkg-config --modversion mml)" == "$version" ]] ||
  fail "pkg-config says version $(PKG_CONFIG_LIBDIR="$pc" pkg-config --modversion mml), Cargo.toml $version"
[[ "$(PKG_CONFIG_LIBDIR="$pc" pkg-config --cflags mml | xargs)" == "-I$prefix/include" ]] ||
  fail "unexpected pkg-config --cflags: $(PKG_CONFIG_LIBDIR="$pc" pkg-config --cflags mml)"
[[ "$(PKG_CONFIG_LIBDIR="$pc" pkg-config --libs mml | xargs)" == "-L$prefix/lib -lmml" ]] ||
  fail "unexpected pkg-config --libs: $(PKG_CONFIG_LIBDIR="$pc" pkg-config --libs mml)"
c_pkg_config "$pc" "$prefix/lib" "$here/smoke.c" "$tmp/smoke"
c_pkg_config "$pc" "$prefix/lib" "$root/tests/c/test_mml.c" "$tmp/test_mml"
# Without an rpath the program runs with LD_LIBRARY_PATH (the README's other way).
# shellcheck disable=SC2046
"$CC" -std=c99 $(PKG_CONFIG_LIBDIR="$pc" pkg-config --cflags mml) "$here/smoke.c" -o "$tmp/smoke_env" \
  $(PKG_CONFIG_LIBDIR="$pc" pkg-config --libs mml)
if readelf -d "$tmp/smoke_env" | grep -qE 'R(UN)?PATH'; then fail "smoke_env has a run path"; fi
check_loads_from "$tmp/smoke_env" "$prefix/lib" LD_LIBRARY_PATH="$prefix/lib"
run_ok "$tmp/smoke_env" LD_LIBRARY_PATH="$prefix/lib"

# ---- C++ through CMake find_package(mml), and C linked statically
echo "== install: C++ via CMake find_package(mml)"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
build="$tmp/cmake-build"
cmake -S "$here/cpp" -B "$build" "${generator[@]}" \
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
check_loads_from "$build/mml_cpp_test_installed" "$prefix/lib"
if ldd "$build/mml_smoke_static" | grep -q 'libmml\.so'; then
  fail "mml_smoke_static is linked against libmml.so, expected the static library"
fi
echo "   mml_smoke_static: no libmml.so dependency (static)"
(cd "$build" && ctest --output-on-failure --parallel "$jobs" | tail -n 3 | sed 's/^/   /')

# ---- Go: a module of its own, the binding from PREFIX/share/mml/go, flags from pkg-config
echo "== install: Go via #cgo pkg-config (a module of its own)"
app="$tmp/goapp"
mkdir -p "$app"
cp "$here/go/main.go" "$app/"
cat >"$app/go.mod" <<EOF
module example.com/mmlapp

go 1.22

require github.com/mml-project/mml/bindings/go v$version

replace github.com/mml-project/mml/bindings/go => $prefix/share/mml/go
EOF
(cd "$app" && GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off CGO_ENABLED=1 \
   PKG_CONFIG_PATH="$prefix/lib/pkgconfig" go build -ldflags "-r $prefix/lib" -o "$app/mmlapp" .) ||
  fail "go build failed"
check_loads_from "$app/mmlapp" "$prefix/lib"
run_ok "$app/mmlapp"

# ---- C#: the NuGet package, unpacked; a program compiled and run against its contents
echo "== install: C# via the NuGet package"
"$root/bindings/csharp/pack.sh" "$tmp/nuget" >/dev/null
nupkg="$tmp/nuget/Mml.$version.nupkg"
[[ -f "$nupkg" ]] || fail "no $nupkg"
unpacked="$tmp/nuget/unpacked"
mkdir -p "$unpacked"
(cd "$unpacked" && unzip -q "$nupkg")
props="$(cd "$unpacked" && ls package/services/metadata/core-properties/)"
expected="$(printf '%s\n' "Mml.nuspec" "README.md" "[Content_Types].xml" "_rels/.rels" \
  "lib/netstandard2.0/Mml.dll" "lib/netstandard2.0/Mml.xml" \
  "package/services/metadata/core-properties/$props" "runtimes/linux-x64/native/libmml.so" | LC_ALL=C sort)"
actual="$(cd "$unpacked" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)"
[[ "$actual" == "$expected" ]] || fail "package contents differ; got:"$'\n'"$actual"
nuspec="$unpacked/Mml.nuspec"
for want in "<id>Mml</id>" "<version>$version</version>" \
            '<license type="expression">MIT OR Apache-2.0</license>' "<description>" "<authors>" \
            'xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"' \
            '<group targetFramework=".NETStandard2.0" />'; do
  grep -qF -- "$want" "$nuspec" || fail "Mml.nuspec lacks $want"
done
for ext in rels psmdcp nuspec dll xml so md; do
  grep -qF "Extension=\"$ext\"" "$unpacked/[Content_Types].xml" || fail "[Content_Types].xml lacks $ext"
done
for target in "/Mml.nuspec" "/package/services/metadata/core-properties/$props"; do
  grep -qF "Target=\"$target\"" "$unpacked/_rels/.rels" || fail "_rels/.rels lacks $target"
done
readelf -d "$unpacked/runtimes/linux-x64/native/libmml.so" | grep -qF "Library soname: [$soname]" ||
  fail "the package's libmml.so lacks the SONAME $soname"
echo "   Mml.$version.nupkg: $(wc -l <<<"$actual") files, nuspec, content types and relationships as NuGet writes them"
cs="$tmp/csharp"
mkdir -p "$cs"
mcs -nologo -langversion:7 -warnaserror+ -r:"$unpacked/lib/netstandard2.0/Mml.dll" \
  -out:"$cs/app.exe" "$here/csharp/Program.cs" || fail "mcs failed"
native="$unpacked/runtimes/linux-x64/native"
# The dynamic loader names every library it initialises (LD_DEBUG=libs): the one that provides
# mml must be the package's.
MONO_PATH="$unpacked/lib/netstandard2.0" LD_LIBRARY_PATH="$native" LD_DEBUG=libs \
  mono "$cs/app.exe" >"$tmp/out.txt" 2>"$tmp/mono.txt" ||
  { cat "$tmp/out.txt"; grep -v 'LD_DEBUG\|^ *[0-9]*:' "$tmp/mono.txt" || true; fail "the C# program failed"; }
loaded="$(sed -n 's/.*calling init: \(.*libmml[^ ]*\)$/\1/p' "$tmp/mono.txt" | sort -u)"
[[ "$loaded" == "$native/libmml.so" ]] || fail "Mono loaded libmml from '$loaded', expected $native/libmml.so"
sed 's/^/   /' "$tmp/out.txt"
echo "   app.exe: Mml.dll and $loaded from the unpacked package"

# ---- dist: the tarball, unpacked where it was never built
echo "== install: make dist, unpacked elsewhere"
"$root/scripts/dist.sh" "$tmp/dist" >/dev/null
tarball="$(ls "$tmp/dist"/mml-"$version"-*.tar.gz)"
mkdir -p "$tmp/elsewhere"
tar -C "$tmp/elsewhere" -xzf "$tarball"
dist="$(ls -d "$tmp/elsewhere"/mml-"$version"-*)"
[[ -d "$dist/share/mml/go" && -d "$dist/share/mml/csharp" && -f "$dist/lib/$file" &&
   -f "$dist/lib/mml/libmml_onnxruntime.so" ]] ||
  fail "the tarball lacks the library, the ONNX Runtime plugin or the bindings' sources"
grep -q '^prefix=${pcfiledir}/' "$dist/lib/pkgconfig/mml.pc" || fail "the tarball's mml.pc is not relocatable"
check_loads_from "$dist/lib/mml/libmml_onnxruntime.so" "$dist/lib"
echo "   $(basename "$tarball") -> $dist"
c_pkg_config "$dist/lib/pkgconfig" "$dist/lib" "$here/smoke.c" "$tmp/smoke_dist"
c_cmake "$dist" "$tmp/dist-cmake" "$dist/lib"

# ---- LIBDIR (multiarch) and DESTDIR
echo "== install: LIBDIR=PREFIX/lib/x86_64-linux-gnu, and DESTDIR staging"
stage="$tmp/destdir"
DESTDIR="$stage" "$root/scripts/install.sh" --prefix /usr --libdir lib/x86_64-linux-gnu >/dev/null
for f in "usr/lib/x86_64-linux-gnu/$file" usr/lib/x86_64-linux-gnu/pkgconfig/mml.pc \
         usr/lib/x86_64-linux-gnu/cmake/mml/mmlConfig.cmake usr/include/mml.h usr/share/mml/go/go.mod; do
  [[ -e "$stage/$f" ]] || fail "DESTDIR install lacks $f"
done
grep -qx 'prefix=/usr' "$stage/usr/lib/x86_64-linux-gnu/pkgconfig/mml.pc" &&
  grep -qx 'libdir=${prefix}/lib/x86_64-linux-gnu' "$stage/usr/lib/x86_64-linux-gnu/pkgconfig/mml.pc" ||
  fail "the DESTDIR install's mml.pc does not name /usr and its multiarch libdir"
if grep -rqF "$stage" "$stage/usr/lib/x86_64-linux-gnu/pkgconfig" "$stage/usr/lib/x86_64-linux-gnu/cmake"; then
  fail "the DESTDIR install's files name the staging directory"
fi
echo "   DESTDIR=$stage: files under usr/, mml.pc and mmlConfig.cmake name /usr"
multi="$tmp/multiarch"
"$root/scripts/install.sh" --prefix "$multi" --libdir lib/x86_64-linux-gnu >/dev/null
c_pkg_config "$multi/lib/x86_64-linux-gnu/pkgconfig" "$multi/lib/x86_64-linux-gnu" "$here/smoke.c" "$tmp/smoke_multi"
c_cmake "$multi" "$tmp/multi-cmake" "$multi/lib/x86_64-linux-gnu"

# ---- the README's examples, built the way the README says
echo "== install: the README's examples"
readme="$tmp/readme"
mkdir -p "$readme/go"
extract() { # language file: the README's first ```language block
  awk -v lang="$1" '$0 == "```" lang { on = 1; next } on && /^```/ { exit } on { print }' \
    "$root/README.md" >"$2"
  [[ -s "$2" ]] || fail "README.md has no $1 example"
}
extract c "$readme/app.c"
extract cpp "$readme/app.cpp"
extract go "$readme/go/main.go"
extract csharp "$readme/App.cs"
pc_flags() { PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs mml; }
# shellcheck disable=SC2046
"$CC" -std=c89 -Wall -Wextra -Wpedantic -Werror "$readme/app.c" $(pc_flags) -Wl,-rpath,"$prefix/lib" \
  -o "$readme/app_c" || fail "the README's C example does not build as C89"
run_ok "$readme/app_c"
# shellcheck disable=SC2046
"${CXX:-c++}" -std=c++17 -Wall -Wextra -Werror "$readme/app.cpp" $(pc_flags) -Wl,-rpath,"$prefix/lib" \
  -o "$readme/app_cpp" || fail "the README's C++ example does not build"
run_ok "$readme/app_cpp"
require="require github.com/mml-project/mml/bindings/go v$version"
replace="replace github.com/mml-project/mml/bindings/go => /opt/mml/share/mml/go"
grep -qF "$require" "$root/README.md" && grep -qF "$replace" "$root/README.md" ||
  fail "README.md lacks the go.mod lines '$require' and '$replace'"
printf 'module example.com/readme\n\ngo 1.22\n\n%s\n\n%s\n' "$require" \
  "${replace//\/opt\/mml/$prefix}" >"$readme/go/go.mod"
[[ -z "$(gofmt -l "$readme/go")" ]] || fail "the README's Go example is not gofmt-formatted"
(cd "$readme/go" && GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off CGO_ENABLED=1 \
   PKG_CONFIG_PATH="$prefix/lib/pkgconfig" go build -ldflags "-r $prefix/lib" -o app .) ||
  fail "the README's Go example does not build"
check_loads_from "$readme/go/app" "$prefix/lib"
run_ok "$readme/go/app"
# C#: against the unpacked package, then against Mml.dll compiled from the installed sources.
mcs -nologo -warnaserror+ -r:"$unpacked/lib/netstandard2.0/Mml.dll" -out:"$readme/App.exe" \
  "$readme/App.cs" || fail "the README's C# example does not build against the package"
MONO_PATH="$unpacked/lib/netstandard2.0" LD_LIBRARY_PATH="$native" mono "$readme/App.exe" \
  >"$tmp/out.txt" 2>&1 || { cat "$tmp/out.txt"; fail "the README's C# example failed (package)"; }
sed 's/^/   /' "$tmp/out.txt"
mcs -nologo -t:library -unsafe -out:"$readme/Mml.dll" "$prefix"/share/mml/csharp/Mml/*.cs ||
  fail "the installed C# sources do not build"
mcs -nologo -warnaserror+ -r:"$readme/Mml.dll" -out:"$readme/App2.exe" "$readme/App.cs" ||
  fail "the README's C# example does not build against the installed sources"
(cd "$readme" && LD_LIBRARY_PATH="$prefix/lib" mono App2.exe) >"$tmp/out.txt" 2>&1 ||
  { cat "$tmp/out.txt"; fail "the README's C# example failed (install)"; }
sed 's/^/   /' "$tmp/out.txt"

echo "== install: all routes passed"
