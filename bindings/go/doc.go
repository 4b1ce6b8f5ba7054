// Package mml is the Go binding of mml, PyTorch's MultiMarginLoss (the multi-class hinge
// loss) computed bit-exactly like PyTorch 2.x on the CPU, forward and backward, in float32
// and float64, through mml's C ABI (include/mml.h).
//
// # Building
//
// By default cgo takes the flags of an installed mml from pkg-config (`#cgo pkg-config: mml`):
// install the library with `make install PREFIX=/opt/mml`, which also copies this module's
// sources to /opt/mml/share/mml/go, and point your go.mod at them while the module is not
// published:
//
//	require github.com/mml-project/mml/bindings/go v0.1.0
//	replace github.com/mml-project/mml/bindings/go => /opt/mml/share/mml/go
//
// then build with PKG_CONFIG_PATH=/opt/mml/lib/pkgconfig (not needed for a system prefix) and
// let the program find libmml.so.0.1 at run time: LD_LIBRARY_PATH=/opt/mml/lib, or a run path
// linked in with go build -ldflags "-r /opt/mml/lib".
//
// Two build tags change this: mml_local builds against the mml source tree that holds this
// directory (<repo>/include and the library of `make build` in <repo>/target/release, with a
// run path; the binding's own tests use it), and mml_external adds nothing but -lmml, for
// flags given by hand in CGO_CFLAGS and CGO_LDFLAGS.
//
// # Usage
//
// A [Loss] is created from [Options] by [New] and holds a C handle; release it with
// [Loss.Close] (a finalizer releases forgotten ones, but do not rely on it). Inputs are
// row-major: input has n·c scores, target has n class indices in [0, c), and n is always
// len(target). Every method comes in an allocating form (Forward, Backward,
// ForwardBackward) and an Into form writing caller slices, in float32 and, with the suffix
// 64, float64. The generic functions [Forward], [Backward], [ForwardBackward] and their Into
// forms take every score type ([Score]: float32, float64, [BFloat16], [Float16]) and both
// target types ([Label]: int64, int32).
//
// The zero value of [Options] is usable: P == 0 means p = 1, Reduction's zero value is
// [ReductionMean], Weight nil (or empty) means no weights, but Margin is used as given, so
// Options{} has margin 0. [DefaultOptions] gives PyTorch's defaults (p 1, margin 1, no
// weights, mean).
//
// # Errors and threads
//
// Failures are returned as *[Error] values, which carry the C status and say what was
// wrong in mml's own words, with mml's detail (the [Argument], expected and actual lengths, the
// bad target's row and value): every call passes an MmlError to the library, so the binding
// never re-derives a diagnosis. Test them with errors.Is against [ErrInvalidArgument],
// [ErrShapeMismatch], [ErrTargetOutOfRange], [ErrAliasedBuffers], [ErrNullPointer],
// [ErrOutOfMemory], [ErrUnsupportedTensor], [ErrInvalidLayout], [ErrInternal] and [ErrClosed]. On any error nothing is written to the caller's output
// slices. An n·c that overflows int is ErrInvalidArgument, as in the C library.
//
// A Loss is safe for concurrent use by any number of goroutines; Close waits for calls in
// progress, and every call after Close returns ErrClosed, whatever its arguments (a closed
// Loss is reported before any argument is checked). A copy of a Loss value shares its handle:
// closing the copy closes the original, and the handle is released once. The binding keeps no
// thread-local state. [SetNumThreads] sets the library's process-wide worker count;
// results never depend on it.
package mml
