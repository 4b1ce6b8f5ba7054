//go:build mml_local && !mml_external

package mml

// Inside the mml source tree (-tags mml_local; the binding's own tests use it): the header is
// <repo>/include/mml.h and the library the one `make build` leaves in <repo>/target/release,
// found at run time through a run path into the tree. Never shipped by `make install`.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lmml -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"
