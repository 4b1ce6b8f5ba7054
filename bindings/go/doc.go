// Package mml is the Go binding of mml, PyTorch's MultiMarginLoss (the multi-class hinge
// loss) computed bit-exactly like PyTorch 2.x on the CPU, forward and backward, in float32
// and float64, through mml's C ABI (include/mml.h).
//
// # Building
//
// By default cgo takes the header from <repo>/include and links the library that
// `cargo build --release` leaves in <repo>/target/release, with an rpath to that directory,
// so `go test` and `go build` work inside the source tree once the Rust crate is built.
//
// With the build tag mml_external the binding adds no paths of its own and links with
// -lmml only: supply the header and library locations yourself, for example for a copy
// installed with `make install PREFIX=/opt/mml`:
//
//	CGO_CFLAGS="-I/opt/mml/include" \
//	CGO_LDFLAGS="-L/opt/mml/lib -Wl,-rpath,/opt/mml/lib" \
//	go build -tags mml_external ./...
//
// (or CGO_CFLAGS="$(pkg-config --cflags mml)" CGO_LDFLAGS="$(pkg-config --libs mml)").
//
// # Usage
//
// A [Loss] is created from [Options] by [New] and holds a C handle; release it with
// [Loss.Close] (a finalizer releases forgotten ones, but do not rely on it). Inputs are
// row-major: input has n·c scores, target has n class indices in [0, c), and n is always
// len(target). Every method comes in an allocating form (Forward, Backward,
// ForwardBackward) and an Into form writing caller slices, in float32 and, with the suffix
// 64, float64.
//
// The zero value of [Options] is usable: P == 0 means p = 1, Reduction's zero value is
// [ReductionMean], Weight nil (or empty) means no weights, but Margin is used as given, so
// Options{} has margin 0. [DefaultOptions] gives PyTorch's defaults (p 1, margin 1, no
// weights, mean).
//
// # Errors and threads
//
// Failures are returned as *[Error] values, which carry the C status and say what was
// wrong; test them with errors.Is against [ErrInvalidArgument], [ErrShapeMismatch],
// [ErrTargetOutOfRange], [ErrAliasedBuffers], [ErrNullPointer], [ErrOutOfMemory],
// [ErrInternal] and [ErrClosed]. On any error nothing is written to the caller's output
// slices. An n·c that overflows int is ErrInvalidArgument, as in the C library.
//
// A Loss is safe for concurrent use by any number of goroutines; Close waits for calls in
// progress, and every call after Close returns ErrClosed, whatever its arguments (a closed
// Loss is reported before any argument is checked). A copy of a Loss value shares its handle:
// closing the copy closes the original, and the handle is released once. The binding keeps no
// thread-local state. [SetNumThreads] sets the library's process-wide worker count;
// results never depend on it.
package mml
