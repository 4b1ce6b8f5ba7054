#!/usr/bin/env bash
# Installs mml the way a native library is installed (cargo-c's layout; docs/ABI.md):
#
#   LIBDIR/libmml.so.0.1.0                  the shared library, stripped, SONAME libmml.so.0.1
#   LIBDIR/libmml.so.0.1 -> libmml.so.0.1.0   what programs load (the SONAME)
#   LIBDIR/libmml.so -> libmml.so.0.1         what the linker finds for -lmml
#   LIBDIR/libmml.a                         the static library, without debug info
#   LIBDIR/pkgconfig/mml.pc                 pkg-config: Cflags -I, Libs -L -lmml
#   LIBDIR/cmake/mml/mmlConfig.cmake        find_package(mml): mml::mml, mml::cpp, mml::mml_static
#   LIBDIR/cmake/mml/mmlConfigVersion.cmake
#   LIBDIR/mml/libmml_onnxruntime.so        the ONNX Runtime operator library (a plugin that
#                                           ONNX Runtime loads by path, so not on the link path)
#   INCLUDEDIR/mml.h, INCLUDEDIR/mml.hpp    the C header and the header-only C++17 wrapper
#   INCLUDEDIR/mml_dlpack.h                 the DLPack entry points (includes <dlpack/dlpack.h>)
#   INCLUDEDIR/mml_dlpack.hpp               mml.hpp with the DLPack overloads (needs mml_dlpack.h)
#   DATADIR/mml/go/                         the Go binding's sources (`#cgo pkg-config: mml`)
#   DATADIR/mml/csharp/                     the C# binding's sources
#   DATADIR/doc/mml/                        README.md, LICENSE-MIT, LICENSE-APACHE
#
# Usage: scripts/install.sh --prefix PREFIX [--libdir DIR] [--includedir DIR] [--datadir DIR]
#                           [--strip STRIP] [--relocatable]
#   (after `cargo build --release` and `make onnx`; `make install` does all three). LIBDIR defaults to PREFIX/lib,
#   INCLUDEDIR to PREFIX/include, DATADIR to PREFIX/share; relative ones are taken under PREFIX.
#   DESTDIR, when set, is prepended to every path written, while the installed files still
#   refer to PREFIX (for packaging). --strip '' keeps the debug info (for packagers whose tools
#   strip into a separate debug package). --relocatable writes mml.pc with a prefix relative to
#   its own location (${pcfiledir}), so the tree works wherever it is moved (`make dist`); the
#   CMake files always find the prefix from their own location when LIBDIR and INCLUDEDIR lie
#   under PREFIX.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="" libdir="" includedir="" datadir="" strip=strip relocatable=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --libdir) libdir=$2; shift 2 ;;
    --includedir) includedir=$2; shift 2 ;;
    --datadir) datadir=$2; shift 2 ;;
    --strip) strip=$2; shift 2 ;;
    --relocatable) relocatable=1; shift ;;
    *) echo "usage: $0 --prefix PREFIX [--libdir DIR] [--includedir DIR] [--datadir DIR]" \
            "[--strip STRIP] [--relocatable]" >&2; exit 2 ;;
  esac
done
[[ -n "$prefix" ]] || { echo "install.sh: --prefix is required" >&2; exit 2; }

# Absolute, without a trailing slash; DIR relative to PREFIX when not absolute.
absolute() { realpath -ms -- "$1"; }
under_prefix() { if [[ "$1" == /* ]]; then realpath -ms -- "$1"; else realpath -ms -- "$prefix/$1"; fi; }
is_under_prefix() { [[ "$prefix" == / || "$1" == "$prefix" || "$1" == "$prefix"/* ]]; }
prefix="$(absolute "$prefix")"
libdir="$(under_prefix "${libdir:-lib}")"
includedir="$(under_prefix "${includedir:-include}")"
datadir="$(under_prefix "${datadir:-share}")"
dest() { echo "${DESTDIR:-}$1"; }

lib="$root/target/release/libmml.so"
staticlib="$root/target/release/libmml.a"
plugin="$root/target/release/libmml_onnxruntime.so"
for f in "$lib" "$staticlib" "$plugin"; do
  if [[ ! -f "$f" ]]; then
    echo "install.sh: $f is missing: run \`make build onnx\` (or \`make install\`)" >&2
    exit 1
  fi
done

version="$("$root/scripts/soname.sh" --version)"
soname="$("$root/scripts/soname.sh")"
file="$("$root/scripts/soname.sh" --file)"
if ! grep -q "^#define MML_VERSION_STRING \"$version\"" "$root/include/mml.h"; then
  echo "install.sh: include/mml.h does not declare version $version (run \`make header\`)" >&2
  exit 1
fi
have="$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
if [[ "$have" != "$soname" ]]; then
  echo "install.sh: $lib has the SONAME '$have', expected $soname" >&2
  exit 1
fi

# PATH relative to FROM when PATH lies under PREFIX (and so moves with it), else absolute.
relative_or_absolute() { # from path
  if is_under_prefix "$1" && is_under_prefix "$2"; then realpath -ms --relative-to="$1" "$2"; else echo "$2"; fi
}
# How mml.pc and mmlConfig.cmake name a directory: under PREFIX, relative to the prefix
# variable of each; elsewhere, absolute.
pc_dir() {
  if is_under_prefix "$1"; then echo "\${prefix}/$(realpath -ms --relative-to="$prefix" "$1")"; else echo "$1"; fi
}
cmake_dir() {
  if is_under_prefix "$1"; then echo "\${_mml_prefix}/$(realpath -ms --relative-to="$prefix" "$1")"; else echo "$1"; fi
}

pcdir="$libdir/pkgconfig"
cmakedir="$libdir/cmake/mml"
if [[ $relocatable == 1 ]]; then
  pc_prefix="\${pcfiledir}/$(relative_or_absolute "$pcdir" "$prefix")"
else
  pc_prefix="$prefix"
fi
# The CMake package finds PREFIX from its own directory ("../../.." for LIBDIR = PREFIX/lib).
cmake_prefix="$(relative_or_absolute "$cmakedir" "$prefix")"
if [[ "$cmake_prefix" == /* ]]; then
  echo "install.sh: LIBDIR $libdir is outside PREFIX $prefix: the CMake package will use" \
       "absolute paths" >&2
else
  cmake_prefix="\${CMAKE_CURRENT_LIST_DIR}/$cmake_prefix"
fi

# Escapes a string for the replacement side of a sed s||| command.
sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
subst() {  # subst TEMPLATE OUTPUT
  sed -e "s|@VERSION@|$(sed_escape "$version")|g" \
      -e "s|@SONAME@|$(sed_escape "$soname")|g" \
      -e "s|@LIBFILE@|$(sed_escape "$file")|g" \
      -e "s|@PC_PREFIX@|$(sed_escape "$pc_prefix")|g" \
      -e "s|@PC_LIBDIR@|$(sed_escape "$(pc_dir "$libdir")")|g" \
      -e "s|@PC_INCLUDEDIR@|$(sed_escape "$(pc_dir "$includedir")")|g" \
      -e "s|@CMAKE_PREFIX@|$(sed_escape "$cmake_prefix")|g" \
      -e "s|@CMAKE_LIBDIR@|$(sed_escape "$(cmake_dir "$libdir")")|g" \
      -e "s|@CMAKE_INCLUDEDIR@|$(sed_escape "$(cmake_dir "$includedir")")|g" "$1" > "$2.tmp"
  chmod 0644 "$2.tmp"
  mv -f "$2.tmp" "$2"
}
# Installs a file under a temporary name and renames it, so that a running process that maps
# the old file keeps its mapping instead of seeing the file rewritten under it.
put() { # mode source target [strip-args...]
  local mode=$1 src=$2 target=$3; shift 3
  install -m "$mode" "$src" "$target.tmp"
  if [[ -n "$strip" && $# -gt 0 ]]; then "$strip" "$@" "$target.tmp"; fi
  mv -f "$target.tmp" "$target"
}

install -d "$(dest "$libdir")" "$(dest "$libdir")/mml" "$(dest "$includedir")" "$(dest "$pcdir")" "$(dest "$cmakedir")" \
  "$(dest "$datadir")/mml/go" "$(dest "$datadir")/mml/csharp/Mml" "$(dest "$datadir")/doc/mml"

# The shared library keeps its dynamic symbol table and build ID; symbols and debug info go.
put 0755 "$lib" "$(dest "$libdir")/$file" --strip-unneeded
ln -sfn "$file" "$(dest "$libdir")/$soname"
ln -sfn "$soname" "$(dest "$libdir")/libmml.so"
put 0644 "$staticlib" "$(dest "$libdir")/libmml.a" --strip-debug
put 0755 "$plugin" "$(dest "$libdir")/mml/libmml_onnxruntime.so" --strip-unneeded
put 0644 "$root/include/mml.h" "$(dest "$includedir")/mml.h"
put 0644 "$root/include/mml_dlpack.h" "$(dest "$includedir")/mml_dlpack.h"
put 0644 "$root/bindings/cpp/include/mml.hpp" "$(dest "$includedir")/mml.hpp"
put 0644 "$root/bindings/cpp/include/mml_dlpack.hpp" "$(dest "$includedir")/mml_dlpack.hpp"
subst "$root/pkgconfig/mml.pc.in" "$(dest "$pcdir")/mml.pc"
subst "$root/cmake/mmlConfig.cmake.in" "$(dest "$cmakedir")/mmlConfig.cmake"
subst "$root/cmake/mmlConfigVersion.cmake.in" "$(dest "$cmakedir")/mmlConfigVersion.cmake"

# The Go binding: its module without the tests and without cgo_local.go (the in-tree build
# mode, whose paths point into a source checkout); the default mode uses `#cgo pkg-config: mml`.
for f in "$root"/bindings/go/go.mod "$root"/bindings/go/README.md "$root"/bindings/go/*.go; do
  case "$(basename "$f")" in *_test.go | cgo_local.go) continue ;; esac
  put 0644 "$f" "$(dest "$datadir")/mml/go/$(basename "$f")"
done
# The C# binding's sources, without the test runner's access to its internals.
for f in "$root"/bindings/csharp/Mml/*; do
  [[ "$(basename "$f")" == InternalsVisibleToTests.cs ]] && continue
  put 0644 "$f" "$(dest "$datadir")/mml/csharp/Mml/$(basename "$f")"
done
put 0644 "$root/bindings/csharp/README.md" "$(dest "$datadir")/mml/csharp/README.md"
for f in README.md LICENSE-MIT LICENSE-APACHE; do
  put 0644 "$root/$f" "$(dest "$datadir")/doc/mml/$f"
done

echo "installed mml $version into ${DESTDIR:+$DESTDIR}$prefix:"
echo "  $libdir/$file (SONAME $soname), $soname, libmml.so, libmml.a"
echo "  $libdir/mml/libmml_onnxruntime.so (the ONNX Runtime operators)"
echo "  $pcdir/mml.pc, $cmakedir/mmlConfig.cmake"
echo "  $includedir/mml.h, $includedir/mml_dlpack.h, $includedir/mml.hpp, $includedir/mml_dlpack.hpp"
echo "  $datadir/mml/go, $datadir/mml/csharp, $datadir/doc/mml"
