#!/usr/bin/env bash
# Runs valgrind memcheck over the native test programs that use libmml.so, built without
# sanitizers into target/valgrind: zero errors and zero leaks (definite, indirect and possible)
# required; suppressions (scripts/valgrind.supp) only for the toolchains' runtimes.
#
#   C:   tests/c/*.c built -O1 -g against include/mml.h, but out_of_memory.c (which replaces the
#        allocator, as memcheck does) and the sweeps guard_pages.c and hostile_oracle.c (minutes
#        under memcheck; make test-c runs them under ASan).
#   C++: bindings/cpp's GoogleTest binary, configured with MML_CPP_SANITIZE=OFF.
#   Go:  bindings/go's `go test -c` binary, in two passes, because memcheck cannot follow the
#        Go runtime's own stacks and heap by itself:
#        1. built with `-tags valgrind` (besides mml_local, the in-tree build mode; Go >= 1.25 annotates its stacks and heap for memcheck)
#           and GODEBUG=asyncpreemptoff=1 (signal preemption writes below the stack pointer):
#           zero memory errors of any kind, leak check off (valgrind's leak checker aborts on
#           the runtime's nested pool annotations);
#        2. a plain build with the leak check: zero definite/indirect/possible leaks; the Go
#           runtime's stack accesses that memcheck misreads without annotations are not errors
#           of this pass.
# Every run uses --fair-sched=yes: under valgrind's default scheduler, threads that spin (the Go
# runtime's idle Ps, the GC's workers, mml's idle pool workers) hold valgrind's single run lock
# while the thread with the work waits, and the Go test binary took 16 to 175 s from run to run;
# with a fair (ticket) lock it takes 10 to 12 s.
# Whatever is absent (a binding not merged yet, no cmake/GTest, no Go) is reported as SKIPPED.
# Exit status: 1 if any program failed or reported an error or leak.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/valgrind
mkdir -p "$out"
supp=$root/scripts/valgrind.supp
# Every run: the fair scheduler, the suppressions, deep stacks.
VG_BASE=(valgrind --fair-sched=yes --suppressions="$supp" --num-callers=40)
VG=("${VG_BASE[@]}" --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible)

if ! command -v valgrind >/dev/null; then
    echo "valgrind.sh: valgrind is not installed" >&2
    exit 1
fi
${CARGO:-cargo} build --release || exit 1
lib=$root/target/release
scripts/soname.sh --link "$lib/libmml.so" || exit 1

failed=()
passed=()
skipped=()
run() { # name, command...
    local name=$1; shift
    local log=$out/$name.log
    local t0=$(date +%s)
    if "$@" >"$log" 2>&1; then
        passed+=("$name ($(( $(date +%s) - t0 ))s)")
        local what='ERROR SUMMARY'
        [ "$name" = go-leaks ] && what='definitely lost|All heap blocks were freed'
        echo "valgrind: $name: ok, $(grep -m1 -E "$what" "$log" | sed 's/^==[0-9]*== *//')"
    else
        failed+=("$name")
        echo "valgrind: $name: FAILED (log $log); last lines:" >&2
        tail -n 40 "$log" >&2
    fi
}

# --- C ---------------------------------------------------------------------------------------
for src in tests/c/*.c; do
    [ -e "$src" ] || { skipped+=("C: no tests/c/*.c"); break; }
    name=c-$(basename "$src" .c)
    case $name in
        # It interposes malloc and friends to fail them one by one; memcheck replaces the same
        # functions, so under valgrind the test would count nothing (it fails, saying so).
        c-out_of_memory) skipped+=("C: out_of_memory.c (replaces the allocator, as memcheck does)"); continue ;;
        # Sweeps of tens of thousands of calls (minutes under memcheck), whose own checks (guard
        # pages, bits) do not need it; make test-c runs them under ASan.
        c-guard_pages|c-hostile_oracle) skipped+=("C: $(basename "$src") (make test-c runs it under ASan)"); continue ;;
    esac
    if cc -std=c99 -O1 -g -Wall -Wextra -Iinclude "$src" -L"$lib" -lmml -Wl,-rpath,"$lib" -lm \
        -o "$out/$name" 2>"$out/$name.build.log"; then
        # typed.c and dlpack.c sweep every golden case (half a minute each under memcheck):
        # here every 8th, every path of the code still run; make test-c runs them all.
        MML_TEST_SUBSET=8 run "$name" "${VG[@]}" "$out/$name"
    else
        failed+=("$name (build)"); cat "$out/$name.build.log" >&2
    fi
done

# --- C++ -------------------------------------------------------------------------------------
if [ ! -f bindings/cpp/CMakeLists.txt ]; then
    skipped+=("C++: bindings/cpp not present")
elif ! command -v cmake >/dev/null; then
    skipped+=("C++: cmake not installed")
else
    build=$out/cpp-build
    if cmake -S bindings/cpp -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g" \
            -DMML_CPP_SANITIZE=OFF >"$out/cpp-configure.log" 2>&1 \
        && cmake --build "$build" --target mml_cpp_test --parallel "$(nproc)" >"$out/cpp-build.log" 2>&1; then
        run cpp-mml_cpp_test "${VG[@]}" "$build/mml_cpp_test" --gtest_brief=1
    else
        failed+=("C++ (configure/build; see $out/cpp-*.log)")
        tail -n 30 "$out/cpp-configure.log" "$out/cpp-build.log" >&2
    fi
fi

# --- Go --------------------------------------------------------------------------------------
if [ ! -f bindings/go/go.mod ]; then
    skipped+=("Go: bindings/go not present")
elif ! command -v go >/dev/null; then
    skipped+=("Go: go not installed")
else
    # -tags mml_local: the binding's in-tree build mode (cgo_local.go), against target/release.
    export GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=1
    unset GOEXPERIMENT
    if [ -z "${HOME:-}" ]; then
        export GOCACHE=${GOCACHE:-${TMPDIR:-/tmp}/mml-go-cache} GOPATH=${GOPATH:-${TMPDIR:-/tmp}/mml-go-path}
    fi
    go_errors() { # the error pass
        (cd bindings/go && GODEBUG=asyncpreemptoff=1 "${VG_BASE[@]}" --error-exitcode=99 \
            --leak-check=no "$out/go-valgrind.test" -test.count=1)
    }
    go_leaks() { # the leak pass: the summary must show no leak of any counted kind
        local log=$out/go-leaks.memcheck
        (cd bindings/go && GODEBUG=asyncpreemptoff=1 "${VG_BASE[@]}" --leak-check=full \
            --show-leak-kinds=definite,indirect,possible --log-file="$log" "$out/go.test" \
            -test.count=1) || return 1
        cat "$log"
        grep -q "definitely lost: 0 bytes" "$log" && grep -q "indirectly lost: 0 bytes" "$log" \
            && grep -q "possibly lost: 0 bytes" "$log" \
            || { grep -q "All heap blocks were freed" "$log"; }
    }
    if (cd bindings/go && go test -tags valgrind,mml_local -c -o "$out/go-valgrind.test" . && go test -tags mml_local -c -o "$out/go.test" .) \
        >"$out/go-build.log" 2>&1; then
        if go version | grep -qE 'go1\.(2[5-9]|[3-9][0-9])'; then
            run go-errors go_errors
        else
            skipped+=("Go error pass: needs Go >= 1.25 for -tags valgrind")
        fi
        run go-leaks go_leaks
    else
        failed+=("Go (build; see $out/go-build.log)")
        tail -n 30 "$out/go-build.log" >&2
    fi
fi

echo "valgrind: passed: ${passed[*]:-none}"
for s in "${skipped[@]}"; do echo "valgrind: SKIPPED: $s"; done
if [ ${#failed[@]} -gt 0 ]; then
    echo "valgrind: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "valgrind: all clean"
