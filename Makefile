# mml build, test and install entry points. `make demo` and `make test` are the README's two
# commands. Every target below `test` is one step of it and also runs alone.

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
CARGO      ?= cargo
CC         ?= cc
CXX        ?= c++
STRIP      ?= strip
LIB        := target/release/libmml.so

.PHONY: all build build-tests demo header install dist nuget clean test test-header test-rust \
        test-isa test-c test-cpp test-go test-csharp test-install test-valgrind sanitizers \
        memory-checks \
        install-dlpack install-numpy test-dlpack \
        build-asan test-asan test-fuzz install-mono onnx test-onnx install-onnx \
        bench-onnx

all: build

# The release library (target/release: libmml.so, libmml.a), and beside it the link named after
# its SONAME (libmml.so.0.1 for 0.1.x, docs/ABI.md), which in-tree programs load at run time.
build:
	$(CARGO) build --release
	@scripts/soname.sh --link $(LIB)

# The demo is a workspace member of its own (demo/): it builds the library and ndarray, none of
# the library's dev-dependencies.
demo:
	$(CARGO) run --release -p mml-demo

# include/mml.h from the sources (cbindgen, tools/header; the dev profile compiles it in half the
# time and runs it in a second). The build never writes it.
header:
	$(CARGO) run -q -p mml-header

# make test: the plan for scripts/steps.sh (a line per step with its time, a heartbeat, one
# summary line). `bg:step` starts a step in the background, `wait:step` waits for it. The memory
# checks (the instrumented build in target/asan, then the Rust tests under ASan and the fuzz
# smoke, which share it, then valgrind) run on one core from the start, while the other builds
# the release library with the Rust tests and runs every other suite. The library compiles
# twice in all: for release (the library, the Rust tests, the demo and every native test use
# that build) and instrumented. Mono, then the ONNX Runtime wheels, install in the background
# too (mostly downloads; one after the other, since either may run apt).
TEST_PLAN := bg:memory-checks bg:install-mono build-tests test-rust test-isa test-header test-c \
             test-dlpack test-cpp test-go wait:install-mono bg:install-onnx test-csharp \
             wait:install-onnx test-onnx test-install wait:memory-checks

test:
	@scripts/steps.sh $(TEST_PLAN)

# The Rust tests and, as their dependency, the release library, in one cargo run (the tests
# compile while the library's code generation, on one core, finishes); then `make build` must
# find the library already built. They link the library as it ships: the release profile, no
# feature of their own (the test-only panic hook is a hidden function). A dev-dependency that
# turned on a feature of one of the library's dependencies would give the tests a library unit
# of their own, and every `make test` would compile the library twice: that fails here.
build-tests:
	$(CARGO) test --release --no-run
	@$(CARGO) build --release --message-format=json-render-diagnostics | \
	    grep '"reason":"compiler-artifact"' | grep '"name":"mml",' | grep -q '"fresh":true' || { \
	    echo "build-tests: \`cargo build --release\` compiled the library again after the tests:"; \
	    echo "a dev-dependency changes the features of one of its dependencies (align them in Cargo.toml)"; \
	    exit 1; }
	@scripts/soname.sh --link $(LIB)

test-rust: build-tests
	$(CARGO) test --release

# The property tests again on each kernel path, forced through MML_ISA (clamped to the CPU).
test-isa: build-tests
	for isa in scalar wide avx2 avx512; do \
	    MML_ISA=$$isa $(CARGO) test --release -q --test properties --test formats || exit 1; \
	done

# The committed header is what cbindgen generates; mml.h compiles as C89, C99, C11 and C++,
# mml.hpp as C++17 and C++20 and stops with a clear #error below C++17; the library's SONAME
# follows docs/ABI.md.
test-header: build install-dlpack
	$(CARGO) run -q -p mml-header -- --check
	scripts/check-header.sh

# The C tests. Through every kernel path (MML_ISA is clamped to what the CPU has; each program
# prints the path that ran), under ASan/UBSan: test_mml.c (the API), guard_pages.c (every buffer
# against an inaccessible page), hostile_oracle.c (PyTorch's loops in C, -ffp-contract=off, on
# hostile numbers), typed.c (the typed entry points, MmlError and mml_explain on every case of
# tests/data's formats.json and multi_margin_loss.json), dlpack.c (the DLPack entry points on
# the same cases in eight layouts, and every rule; DLPack's header from libdlpack-dev,
# installed by scripts/install-dlpack.sh when missing). Then out_of_memory.c once, without
# sanitizers: it replaces the allocator (to fail each allocation in turn), which ASan does too.
C_TEST_FLAGS := -Iinclude -Ltarget/release -lmml -Wl,-rpath,$(CURDIR)/target/release -lm
C_SANITIZE   := -fsanitize=address,undefined -fno-sanitize-recover=all
test-c: build install-dlpack
	mkdir -p target/c
	$(CC) -std=c99 -Wall -Wextra -Werror -g $(C_SANITIZE) tests/c/test_mml.c $(C_TEST_FLAGS) \
	    -o target/c/test_mml
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -g $(C_SANITIZE) tests/c/guard_pages.c \
	    $(C_TEST_FLAGS) -o target/c/guard_pages
	$(CC) -std=c11 -O2 -ffp-contract=off -Wall -Wextra -Werror -g $(C_SANITIZE) \
	    tests/c/hostile_oracle.c $(C_TEST_FLAGS) -o target/c/hostile_oracle
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -g tests/c/out_of_memory.c $(C_TEST_FLAGS) \
	    -o target/c/out_of_memory
	$(CC) -std=c99 -O1 -Wall -Wextra -Werror -g $(C_SANITIZE) tests/c/typed.c $(C_TEST_FLAGS) \
	    -o target/c/typed
	$(CC) -std=c99 -O1 -Wall -Wextra -Werror -g $(C_SANITIZE) tests/c/dlpack.c $(C_TEST_FLAGS) \
	    -o target/c/dlpack
	for isa in scalar wide avx2 avx512; do \
	    export MML_ISA=$$isa ASAN_OPTIONS=detect_leaks=1; \
	    target/c/test_mml && target/c/guard_pages && target/c/hostile_oracle && \
	    target/c/typed tests/data && target/c/dlpack tests/data || exit 1; \
	done
	target/c/out_of_memory

# The DLPack entry points with tensors from a real producer: numpy's __dlpack__ (slices,
# transposes, reversed and broadcast views, float16; numpy from PyPI, installed when missing).
test-dlpack: build install-numpy
	python3 tests/python/test_dlpack.py $(LIB) tests/data

install-numpy:
	@scripts/install-numpy.sh

# The C++ binding (its DLPack overloads need libdlpack-dev: install-dlpack).
test-cpp: build install-dlpack
	bindings/cpp/test.sh

test-go: build
	bindings/go/test.sh

test-csharp: build install-mono
	bindings/csharp/test.sh

# Each host's own route against an installed copy, from outside the repository: C through
# pkg-config, C++ through CMake, Go through `#cgo pkg-config`, C# through the NuGet package; and
# the `make dist` tarball unpacked elsewhere.
test-install: build onnx install-mono install-dlpack install-onnx
	tests/install/test.sh

# valgrind memcheck over the C tests and the C++ and Go binding tests: zero errors, zero leaks.
test-valgrind: build
	scripts/valgrind.sh

# The memory checks one after the other: the sanitizer chain, then valgrind over the native tests
# (whose release build the foreground of `make test` has made by then; cargo's lock orders them
# if not).
memory-checks: sanitizers
	$(MAKE) --no-print-directory test-valgrind

# One instrumented build (AddressSanitizer and libFuzzer's coverage) of the library, its Rust
# tests and the fuzz targets, in target/asan; then the two runs that share it, side by side (the
# fuzz smoke runs one target at a time, on one core).
sanitizers: build-asan
	$(MAKE) --no-print-directory -j2 --output-sync=target test-asan test-fuzz ASAN_BUILT=1

build-asan:
	scripts/asan.sh --build

# The Rust test suite under AddressSanitizer and LeakSanitizer.
test-asan: $(if $(ASAN_BUILT),,build-asan)
	scripts/asan.sh

# A bounded fuzz smoke of every C ABI target (FUZZ_SECONDS per target); long campaigns: fuzz/README.md.
test-fuzz: $(if $(ASAN_BUILT),,build-asan)
	scripts/fuzz-smoke.sh

install-mono:
	scripts/install-mono.sh

# DLPack's header (Debian's libdlpack-dev), for include/mml_dlpack.h and its tests.
install-dlpack:
	@scripts/install-dlpack.sh

# PREFIX, LIBDIR, INCLUDEDIR and DATADIR as in GNU make's conventions (relative LIBDIR,
# INCLUDEDIR and DATADIR are taken under PREFIX); DESTDIR is prepended to every path written;
# STRIP= (empty) keeps the debug information. Layout and ABI policy: docs/ABI.md.
install: build onnx
	scripts/install.sh --prefix "$(PREFIX)" --libdir "$(LIBDIR)" --includedir "$(INCLUDEDIR)" \
	    --datadir "$(DATADIR)" --strip "$(STRIP)"

# target/dist/mml-VERSION-x86_64-linux.tar.gz: an installed tree that works from any prefix.
dist: build onnx
	scripts/dist.sh

# target/nuget/Mml.VERSION.nupkg, without the .NET SDK.
nuget: build install-mono
	bindings/csharp/pack.sh

# The ONNX Runtime custom-operator library (onnxruntime/, docs/ONNXRUNTIME.md): `make onnx`
# builds target/release/libmml_onnxruntime.so, linked against target/release/libmml.so
# (which `make build` makes first; the plugin finds libmml.so.0.1 beside it or one directory up). test-onnx runs it inside the onnxruntime wheel from PyPI against the C ABI of
# target/release/libmml.so; install-onnx makes that
# Python (target/onnx-venv when the Python at hand lacks the wheels; a failed install fails).
onnx: build
	$(CARGO) build --release -p mml-onnxruntime

test-onnx: build onnx install-onnx
	onnxruntime/tests/run.sh

install-onnx:
	@scripts/install-onnx.sh >/dev/null

# ONNX Runtime's overhead on the operator against a direct C ABI call (bench/RESULTS.md).
bench-onnx: build onnx install-onnx
	$(CARGO) build --release -p mml-onnxruntime --example ort_overhead
	$$(scripts/install-onnx.sh) bench/ort_overhead.py

clean:
	$(CARGO) clean
