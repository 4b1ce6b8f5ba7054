#!/usr/bin/env bash
# Installs mml into PREFIX:
#   PREFIX/lib/libmml.so                   shared library (SONAME libmml.so)
#   PREFIX/lib/libmml.a                    static library
#   PREFIX/include/mml.h                   the C header
#   PREFIX/include/mml.hpp                 the header-only C++17 wrapper
#   PREFIX/lib/pkgconfig/mml.pc            pkg-config: Libs -lmml, Cflags -I
#   PREFIX/lib/cmake/mml/mmlConfig.cmake   find_package(mml): mml::mml, mml::cpp, mml::mml_static
#   PREFIX/lib/cmake/mml/mmlConfigVersion.cmake
#
# Usage: scripts/install.sh PREFIX      (after cargo build --release; `make install` does both)
# DESTDIR, when set, is prepended to every installed path (for packaging), while the installed
# files still refer to PREFIX.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 PREFIX" >&2
  exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$1"
if [[ "$prefix" != /* ]]; then
  prefix="$(pwd)/$prefix"
fi
prefix="${prefix%/}"
[[ -n "$prefix" ]] || prefix="/"
dest="${DESTDIR:-}$prefix"

lib="$root/target/release/libmml.so"
staticlib="$root/target/release/libmml.a"
for f in "$lib" "$staticlib"; do
  if [[ ! -f "$f" ]]; then
    echo "install.sh: $f is missing: run \`cargo build --release\` (or \`make install\`)" >&2
    exit 1
  fi
done

# The version in Cargo.toml's [package] section; the header must carry the same.
version="$(awk '
  /^\[/ { section = $0; next }
  section == "[package]" && /^version[ \t]*=/ {
    sub(/^[^"]*"/, ""); sub(/".*$/, ""); print; exit
  }' "$root/Cargo.toml")"
if [[ ! "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]]; then
  echo "install.sh: cannot read the version from $root/Cargo.toml" >&2
  exit 1
fi
if ! grep -q "^#define MML_VERSION_STRING \"$version\"" "$root/include/mml.h"; then
  echo "install.sh: include/mml.h does not declare version $version (stale header?)" >&2
  exit 1
fi
if command -v readelf >/dev/null 2>&1; then
  if ! readelf -d "$lib" | grep -q 'Library soname: \[libmml\.so\]'; then
    echo "install.sh: $lib does not have the SONAME libmml.so" >&2
    exit 1
  fi
fi

# Escapes a string for the replacement side of a sed s||| command.
sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
subst() {  # subst TEMPLATE OUTPUT
  sed -e "s|@PREFIX@|$(sed_escape "$prefix")|g" \
      -e "s|@VERSION@|$(sed_escape "$version")|g" \
      -e "s|@MML_VERSION@|$(sed_escape "$version")|g" "$1" > "$2.tmp"
  chmod 0644 "$2.tmp"
  mv -f "$2.tmp" "$2"
}

install -d "$dest/lib" "$dest/include" "$dest/lib/pkgconfig" "$dest/lib/cmake/mml"
# Install to a temporary name and rename, so that a running process using the old library
# keeps its mapping instead of seeing the file rewritten under it.
install -m 0755 "$lib" "$dest/lib/.libmml.so.tmp" && mv -f "$dest/lib/.libmml.so.tmp" "$dest/lib/libmml.so"
install -m 0644 "$staticlib" "$dest/lib/libmml.a"
install -m 0644 "$root/include/mml.h" "$dest/include/mml.h"
install -m 0644 "$root/bindings/cpp/include/mml.hpp" "$dest/include/mml.hpp"
subst "$root/pkgconfig/mml.pc.in" "$dest/lib/pkgconfig/mml.pc"
subst "$root/cmake/mmlConfig.cmake.in" "$dest/lib/cmake/mml/mmlConfig.cmake"
subst "$root/cmake/mmlConfigVersion.cmake.in" "$dest/lib/cmake/mml/mmlConfigVersion.cmake"

echo "installed mml $version into ${DESTDIR:+$DESTDIR}$prefix:"
for f in lib/libmml.so lib/libmml.a include/mml.h include/mml.hpp lib/pkgconfig/mml.pc \
         lib/cmake/mml/mmlConfig.cmake lib/cmake/mml/mmlConfigVersion.cmake; do
  echo "  $prefix/$f"
done
