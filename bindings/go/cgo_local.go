//go:build !mml_external

package mml

// Inside the mml source tree: the header is <repo>/include/mml.h and the library is the one
// `cargo build --release` leaves in <repo>/target/release, found at run time through an rpath.
// Build with -tags mml_external to supply CGO_CFLAGS and CGO_LDFLAGS yourself instead.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lmml -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"
