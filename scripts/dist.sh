#!/usr/bin/env bash
# `make dist`: target/dist/mml-VERSION-TRIPLE.tar.gz, a binary distribution that works from
# wherever it is unpacked. It is the `make install` tree (scripts/install.sh) with a relocatable
# mml.pc (prefix=${pcfiledir}/../..) and the CMake package, which finds its prefix from its own
# location anyway:
#
#   mml-VERSION-TRIPLE/include/          mml.h, mml_dlpack.h, mml.hpp, mml_dlpack.hpp
#   mml-VERSION-TRIPLE/lib/              libmml.so.VERSION and its links, libmml.a,
#                                        pkgconfig/mml.pc, cmake/mml/
#   mml-VERSION-TRIPLE/share/mml/        the Go and C# bindings' sources
#   mml-VERSION-TRIPLE/share/doc/mml/    README.md and the licenses
#
# Use: tar xzf mml-*.tar.gz -C /opt; PKG_CONFIG_PATH=/opt/mml-*/lib/pkgconfig or
# CMAKE_PREFIX_PATH=/opt/mml-*. Owner, group and timestamps are fixed, entries sorted.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/target/dist}"
version="$("$root/scripts/soname.sh" --version)"
triple="$(rustc -vV | sed -n 's/^host: //p')"
name="mml-$version-$triple"

stage="$(mktemp -d "${TMPDIR:-/tmp}/mml-dist.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
DESTDIR="" "$root/scripts/install.sh" --prefix "$stage/$name" --relocatable >/dev/null
mkdir -p "$out"
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime='2000-01-01 00:00:00 UTC' \
    -czf "$out/$name.tar.gz.tmp" "$name"
mv -f "$out/$name.tar.gz.tmp" "$out/$name.tar.gz"
echo "dist: $out/$name.tar.gz"
