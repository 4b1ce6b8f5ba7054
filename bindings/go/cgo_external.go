//go:build mml_external

package mml

// With -tags mml_external the binding adds no search paths of its own: the header and the
// library come from CGO_CFLAGS and CGO_LDFLAGS (for an installed copy, for example
// CGO_CFLAGS="$(pkg-config --cflags mml)" CGO_LDFLAGS="$(pkg-config --libs mml)").

/*
#cgo LDFLAGS: -lmml
*/
import "C"
