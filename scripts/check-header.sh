#!/usr/bin/env bash
# Compile checks of the public headers and the library's SONAME (`make test-header`, after
# `mml-header --check` has compared include/mml.h with what the sources generate):
#   - mml.h, included twice, compiles as C89, C99 and C11 and as C++98, C++11 and C++17, with
#     -Wall -Wextra -Wpedantic -Werror;
#   - mml_dlpack.h (with <dlpack/dlpack.h>, scripts/install-dlpack.sh) compiles as C99, C11,
#     C++11 and C++17 under the same warnings, also beside a host's own copy of dlpack.h
#     included before or after it, and neither header defines DLPack's types;
#   - mml.hpp compiles as C++17 and C++20 under the same warnings, and below C++17 it fails
#     with its own #error and no other error; mml_dlpack.hpp compiles as C++17 and C++20, and
#     after a plain mml.hpp stops with its own #error;
#   - target/release/libmml.so carries the SONAME of docs/ABI.md (scripts/soname.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-cc}
CXX=${CXX:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
warn=(-Wall -Wextra -Wpedantic -Werror)

cat >"$tmp/use_h.c" <<'C'
#include <mml.h>
#include <mml.h> /* the include guard makes a second inclusion harmless */
int main(void) {
    MmlLoss *loss = 0;
    uint32_t s = mml_create(1, 1.0, 0, 0, MML_REDUCTION_MEAN, &loss);
    mml_destroy(loss);
    return s == MML_STATUS_OK && MML_ABI_VERSION > 0 ? 0 : 1;
}
C
for std in c89 c99 c11; do
    "$CC" -std=$std "${warn[@]}" -fsyntax-only -Iinclude -x c "$tmp/use_h.c"
    echo "check-header: mml.h compiles as $std"
done
for std in c++98 c++11 c++17; do
    "$CXX" -std=$std "${warn[@]}" -fsyntax-only -Iinclude -x c++ "$tmp/use_h.c"
    echo "check-header: mml.h compiles as $std"
done

scripts/install-dlpack.sh
if grep -nE '(struct|\})[[:space:]]*DL(Tensor|Device|DataType)[[:space:]]*[;{]' include/mml.h include/mml_dlpack.h; then
    echo "check-header: a header defines one of dlpack.h's types; it must include dlpack.h instead" >&2
    exit 1
fi
cat >"$tmp/use_dlpack.c" <<'C'
#include <mml_dlpack.h>
#include <mml_dlpack.h>
#include <mml.h>
int main(void) {
    DLTensor t;
    t.ndim = 0;
    return mml_forward_dlpack(0, &t, &t, &t, 0) == MML_STATUS_NULL_POINTER ? 0 : 1;
}
C
# A host with its own copy of dlpack.h (PyTorch's ATen/dlpack.h, TVM's), included first or last.
mkdir -p "$tmp/host/third_party"
cp "$(echo '#include <dlpack/dlpack.h>' | "$CC" -E -x c - | sed -n 's|^# [0-9]* "\(.*dlpack/dlpack.h\)".*|\1|p' | head -n 1)" \
    "$tmp/host/third_party/dlpack.h"
printf '#include "third_party/dlpack.h"\n#include <mml_dlpack.h>\nint main(void) { DLTensor t; (void)t; return 0; }\n' \
    >"$tmp/host_first.c"
printf '#include <mml_dlpack.h>\n#include "third_party/dlpack.h"\nint main(void) { DLTensor t; (void)t; return 0; }\n' \
    >"$tmp/host_last.c"
for std in c99 c11; do
    "$CC" -std=$std "${warn[@]}" -fsyntax-only -Iinclude -x c "$tmp/use_dlpack.c"
    "$CC" -std=$std "${warn[@]}" -fsyntax-only -Iinclude -I"$tmp/host" -x c "$tmp/host_first.c"
    "$CC" -std=$std "${warn[@]}" -fsyntax-only -Iinclude -I"$tmp/host" -x c "$tmp/host_last.c"
    echo "check-header: mml_dlpack.h compiles as $std (alone, and beside a host's dlpack.h)"
done
for std in c++11 c++17; do
    "$CXX" -std=$std "${warn[@]}" -fsyntax-only -Iinclude -x c++ "$tmp/use_dlpack.c"
    "$CXX" -std=$std "${warn[@]}" -fsyntax-only -Iinclude -I"$tmp/host" -x c++ "$tmp/host_first.c"
    echo "check-header: mml_dlpack.h compiles as $std"
done

printf '#include <mml.hpp>\nint main() { return mml::abi_version() > 0 ? 0 : 1; }\n' >"$tmp/use_hpp.cpp"
for std in c++17 c++20; do
    "$CXX" -std=$std "${warn[@]}" -fsyntax-only -Iinclude -Ibindings/cpp/include "$tmp/use_hpp.cpp"
    echo "check-header: mml.hpp compiles as $std"
done
printf '#include <mml.hpp>\nint main() { return 0; }\n' >"$tmp/include_hpp.cpp"
for std in c++11 c++14; do
    if "$CXX" -std=$std -fsyntax-only -Iinclude -Ibindings/cpp/include "$tmp/include_hpp.cpp" \
        >"$tmp/out.txt" 2>&1; then
        echo "check-header: mml.hpp compiled as $std; it must stop with an #error below C++17" >&2
        exit 1
    fi
    errors=$(grep -c 'error:' "$tmp/out.txt" || true)
    if ! grep -q '#error "mml.hpp requires C++17' "$tmp/out.txt" || [ "$errors" -ne 1 ]; then
        echo "check-header: under $std mml.hpp must fail with its one #error; the compiler said:" >&2
        cat "$tmp/out.txt" >&2
        exit 1
    fi
    echo "check-header: mml.hpp stops with its #error as $std"
done

# mml_dlpack.hpp: mml.hpp with the DLPack overloads, as C++17 and C++20 (also beside a host's
# dlpack.h included first); after a plain mml.hpp it stops with its own #error.
printf '#include <mml_dlpack.hpp>\n#include <mml.hpp>\nint main() { DLTensor t{}; (void)t; return mml::abi_version() > 0 ? 0 : 1; }\n' \
    >"$tmp/use_dlpack_hpp.cpp"
printf '#include "third_party/dlpack.h"\n#include <mml_dlpack.hpp>\nint main() { return 0; }\n' \
    >"$tmp/host_dlpack_hpp.cpp"
for std in c++17 c++20; do
    "$CXX" -std=$std "${warn[@]}" -fsyntax-only -Iinclude -Ibindings/cpp/include "$tmp/use_dlpack_hpp.cpp"
    "$CXX" -std=$std "${warn[@]}" -fsyntax-only -Iinclude -Ibindings/cpp/include -I"$tmp/host" \
        "$tmp/host_dlpack_hpp.cpp"
    echo "check-header: mml_dlpack.hpp compiles as $std"
done
printf '#include <mml.hpp>\n#include <mml_dlpack.hpp>\nint main() { return 0; }\n' >"$tmp/late_dlpack_hpp.cpp"
if "$CXX" -std=c++17 -fsyntax-only -Iinclude -Ibindings/cpp/include "$tmp/late_dlpack_hpp.cpp" \
    >"$tmp/out.txt" 2>&1 || ! grep -q '#error "include <mml_dlpack.hpp> before <mml.hpp>' "$tmp/out.txt"; then
    echo "check-header: mml_dlpack.hpp after mml.hpp must stop with its #error; the compiler said:" >&2
    cat "$tmp/out.txt" >&2
    exit 1
fi
echo "check-header: mml_dlpack.hpp after mml.hpp stops with its #error"

want=$(scripts/soname.sh)
have=$(readelf -d target/release/libmml.so | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$have" != "$want" ]; then
    echo "check-header: target/release/libmml.so has the SONAME '$have', expected $want" >&2
    exit 1
fi
echo "check-header: target/release/libmml.so has the SONAME $want"
