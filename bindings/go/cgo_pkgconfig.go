//go:build !mml_local && !mml_external

package mml

// The default build: cgo asks pkg-config for the header and library flags of an installed mml
// (`make install`), the way Go programs find any system C library. For an installation outside
// pkg-config's default search path, set PKG_CONFIG_PATH=<prefix>/lib/pkgconfig. The program
// then loads libmml.so.0.1 through the dynamic loader: from a system directory, or from
// LD_LIBRARY_PATH, or from a run path set at link time (go build -ldflags "-r <prefix>/lib").
//
// Other modes: -tags mml_local (inside the mml source tree, cgo_local.go) and
// -tags mml_external (flags from CGO_CFLAGS/CGO_LDFLAGS only, cgo_external.go).

/*
#cgo pkg-config: mml
*/
import "C"
