# mml build, test and install entry points. `make demo` and `make test` are the README's two
# commands; both work on a fresh machine (they install what is missing).

PREFIX ?= /usr/local
CARGO  ?= cargo
CC     ?= cc
CXX    ?= c++
LIB    := target/release/libmml.so

.PHONY: all build demo prebuild build-rust-tests install-mono build-fuzz build-asan test test-rust \
        test-isa test-header test-c test-cpp test-go test-csharp test-install test-fuzz \
        test-valgrind test-asan install clean

all: build

build:
	$(CARGO) build --release

demo:
	$(CARGO) run --release --example train

# Every test step runs with one value of CI (CI's own, else 1): the build script reruns, and so
# the crate recompiles, whenever CI changes, and with CI set it leaves the committed header alone
# for test-header to check.
test prebuild build-% install-mono test-%: export CI ?= 1

# The Rust tests build the library with the test-only `fault-injection` feature, in their own
# target directory: target/release keeps the plain library that the native tests link, and the
# two builds can run at once.
RUST_TESTS := CARGO_TARGET_DIR=target/fault-injection $(CARGO) test --release --features fault-injection

# Everything CI runs. Each step fails the whole run. `prebuild` compiles first, two builds at a
# time (below); each step then finds its build done.
test: prebuild build test-c test-cpp test-go test-csharp test-install test-valgrind test-header \
      test-rust test-isa test-fuzz test-asan test-onnx
	@echo "make test: all suites passed"

# The release profile has one codegen unit, so most of each build is the mml crate compiling on
# one core: two builds at once use both of CI's two cores (`make test` on a fresh clone, 2 cores:
# 807 s one build after another, 698 s in pairs). Their logs interleave line by line as they run
# (--output-sync would hold each build's log until it ends: six silent minutes); Mono's install
# (network-bound) runs beside the first pair.
prebuild:
	$(MAKE) --no-print-directory -j3 build build-rust-tests install-mono
	$(MAKE) --no-print-directory -j2 build-fuzz build-asan

build-rust-tests:
	$(RUST_TESTS) --no-run

install-mono:
	scripts/install-mono.sh

build-fuzz:
	scripts/fuzz-smoke.sh --build-only

build-asan:
	scripts/asan.sh --no-run

test-rust:
	$(RUST_TESTS)

# The property tests again on each kernel path, forced through MML_ISA (clamped to the CPU).
test-isa:
	for isa in scalar wide avx2 avx512; do \
	    MML_ISA=$$isa $(RUST_TESTS) --test properties || exit 1; \
	done

# The committed header must equal what cbindgen generates and compile as strict C and C++;
# the shared library must carry the SONAME libmml.so.
test-header: build
	$(RUST_TESTS) --test header
	$(CC) -std=c99 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -x c include/mml.h
	$(CXX) -std=c++17 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -x c++ include/mml.h
	readelf -d $(LIB) | grep -q 'Library soname: \[libmml.so\]' || { echo "SONAME of $(LIB) is not libmml.so"; exit 1; }

# The C tests. Through every kernel path (MML_ISA is clamped to what the CPU has; each program
# prints the path that ran), under ASan/UBSan: test_mml.c (the API), guard_pages.c (every buffer
# against an inaccessible page), hostile_oracle.c (PyTorch's loops in C, -ffp-contract=off, on
# hostile numbers). Then out_of_memory.c once, without sanitizers: it replaces the allocator (to
# fail each allocation in turn), which ASan does too.
C_TEST_FLAGS := -Iinclude -Ltarget/release -lmml -Wl,-rpath,$(CURDIR)/target/release -lm
C_SANITIZE   := -fsanitize=address,undefined -fno-sanitize-recover=all
test-c: build
	mkdir -p target/c
	$(CC) -std=c99 -Wall -Wextra -Werror -g $(C_SANITIZE) tests/c/test_mml.c $(C_TEST_FLAGS) \
	    -o target/c/test_mml
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -g $(C_SANITIZE) tests/c/guard_pages.c \
	    $(C_TEST_FLAGS) -o target/c/guard_pages
	$(CC) -std=c11 -O2 -ffp-contract=off -Wall -Wextra -Werror -g $(C_SANITIZE) \
	    tests/c/hostile_oracle.c $(C_TEST_FLAGS) -o target/c/hostile_oracle
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -g tests/c/out_of_memory.c $(C_TEST_FLAGS) \
	    -o target/c/out_of_memory
	for isa in scalar wide avx2 avx512; do \
	    export MML_ISA=$$isa ASAN_OPTIONS=detect_leaks=1; \
	    target/c/test_mml && target/c/guard_pages && target/c/hostile_oracle || exit 1; \
	done
	target/c/out_of_memory

test-cpp: build
	bindings/cpp/test.sh

test-go: build
	bindings/go/test.sh

test-csharp: build
	bindings/csharp/test.sh

test-install: build
	tests/install/test.sh

# A bounded fuzz smoke of every C ABI target (FUZZ_SECONDS per target); long campaigns: fuzz/README.md.
test-fuzz:
	scripts/fuzz-smoke.sh

# valgrind memcheck over the C tests and the C++ and Go binding tests: zero errors, zero leaks.
test-valgrind: build
	scripts/valgrind.sh

# The Rust test suite under AddressSanitizer and LeakSanitizer.
test-asan:
	scripts/asan.sh

install: build
	scripts/install.sh "$(PREFIX)"

# The ONNX Runtime custom-operator library (onnxruntime/, docs/ONNXRUNTIME.md). `make onnx`
# builds target/release/libmml_onnxruntime.so; test-onnx runs it inside the onnxruntime wheel
# from PyPI (installed when missing) against the C ABI of target/release/libmml.so.
.PHONY: onnx test-onnx
onnx:
	$(CARGO) build --release -p mml-onnxruntime

test-onnx: build onnx
	onnxruntime/tests/run.sh

clean:
	$(CARGO) clean
