#!/usr/bin/env bash
# The library's version and shared-object names, from Cargo.toml, following cargo-c's convention
# (docs/ABI.md): the SONAME is libmml.so.MAJOR, or libmml.so.0.MINOR for 0.x releases
# (libmml.so.0.0.PATCH for 0.0.x), and the file is libmml.so.MAJOR.MINOR.PATCH.
#
#   scripts/soname.sh               prints the SONAME, e.g. libmml.so.0.1
#   scripts/soname.sh --version     prints the version, e.g. 0.1.0
#   scripts/soname.sh --file        prints the installed file's name, e.g. libmml.so.0.1.0
#   scripts/soname.sh --link LIB    checks that LIB carries that SONAME and makes the link
#                                   SONAME -> LIB beside it, so programs linked against LIB run
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

version="$(awk '
  /^\[/ { section = $0; next }
  section == "[package]" && /^version[ \t]*=/ { sub(/^[^"]*"/, ""); sub(/".*$/, ""); print; exit }
' "$root/Cargo.toml")"
if [[ ! "$version" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+) ]]; then
  echo "soname.sh: cannot read MAJOR.MINOR.PATCH from $root/Cargo.toml (got '$version')" >&2
  exit 1
fi
major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} patch=${BASH_REMATCH[3]}
if [[ $major != 0 ]]; then sover=$major
elif [[ $minor != 0 ]]; then sover=0.$minor
else sover=0.0.$patch
fi
soname=libmml.so.$sover

case "${1:-}" in
  "") echo "$soname" ;;
  --version) echo "$version" ;;
  --file) echo "libmml.so.$major.$minor.$patch" ;;
  --link)
    lib=${2:?usage: soname.sh --link LIB}
    actual="$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
    if [[ "$actual" != "$soname" ]]; then
      echo "soname.sh: $lib has the SONAME '$actual', expected $soname" >&2
      exit 1
    fi
    ln -sfn "$(basename "$lib")" "$(dirname "$lib")/$soname"
    ;;
  *) echo "usage: soname.sh [--version | --file | --link LIB]" >&2; exit 2 ;;
esac
