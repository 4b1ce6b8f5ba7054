//go:build mml_external

package mml

// With -tags mml_external the binding adds no flags of its own but -lmml: the header and the
// library come from CGO_CFLAGS and CGO_LDFLAGS (for example CGO_CFLAGS="-I/opt/mml/include"
// CGO_LDFLAGS="-L/opt/mml/lib -Wl,-rpath,/opt/mml/lib"), for builds without pkg-config.

/*
#cgo LDFLAGS: -lmml
*/
import "C"
