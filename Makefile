# mml build, test and install entry points. `make demo` and `make test` are the README's two
# commands; both work on a fresh machine (they install what is missing).

PREFIX ?= /usr/local
CARGO  ?= cargo
CC     ?= cc
CXX    ?= c++
LIB    := target/release/libmml.so

.PHONY: all build demo test test-rust test-isa test-header test-c test-cpp test-go test-csharp \
        test-install test-fuzz test-valgrind test-asan install clean

all: build

build:
	$(CARGO) build --release

demo:
	$(CARGO) run --release --example train

# Everything CI runs. Each step fails the whole run. The native tests come first, while
# target/release holds the plain `cargo build --release` library (the Rust tests rebuild it
# with the test-only `fault-injection` feature).
test: build test-c test-cpp test-go test-csharp test-install test-valgrind test-header \
      test-rust test-isa test-fuzz test-asan
	@echo "make test: all suites passed"

test-rust:
	$(CARGO) test --release --features fault-injection

# The property tests again on each kernel path, forced through MML_ISA (clamped to the CPU).
test-isa:
	for isa in scalar wide avx2 avx512; do \
	    MML_ISA=$$isa $(CARGO) test --release --features fault-injection --test properties || exit 1; \
	done

# The committed header must equal what cbindgen generates and compile as strict C and C++;
# the shared library must carry the SONAME libmml.so.
test-header: build
	CI=1 $(CARGO) test --release --features fault-injection --test header
	$(CC) -std=c99 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -x c include/mml.h
	$(CXX) -std=c++17 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -x c++ include/mml.h
	readelf -d $(LIB) | grep -q 'Library soname: \[libmml.so\]' || { echo "SONAME of $(LIB) is not libmml.so"; exit 1; }

# The C test through every kernel path (MML_ISA is clamped to what the CPU has).
test-c: build
	mkdir -p target/c
	$(CC) -std=c99 -Wall -Wextra -Werror -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -Iinclude tests/c/test_mml.c -Ltarget/release -lmml -Wl,-rpath,$(CURDIR)/target/release \
	    -lm -o target/c/test_mml
	for isa in scalar wide avx2 avx512; do \
	    echo "MML_ISA=$$isa"; MML_ISA=$$isa ASAN_OPTIONS=detect_leaks=1 target/c/test_mml || exit 1; \
	done

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

clean:
	$(CARGO) clean
