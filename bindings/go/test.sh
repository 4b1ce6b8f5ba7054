#!/usr/bin/env bash
# Tests of the Go binding: go vet, go test, then go test with full cgo pointer checks
# (GOEXPERIMENT=cgocheck2) and the race detector in one run (one rebuild of the standard
# library instead of two), then the mml_external build tag. All in the source tree, so with
# -tags mml_local (cgo_local.go: the library of `make build`, which `make test-go` runs first);
# the default pkg-config mode is tested against an installed copy by tests/install/test.sh.
# Standard library only: works offline.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

if [[ ! -f "$repo/target/release/$("$repo/scripts/soname.sh")" ]]; then
    echo "test.sh: the library of \`make build\` is missing; building it" >&2
    make -C "$repo" --no-print-directory build
fi

# No network, no toolchain download, no module resolution beyond this module.
export GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off CGO_ENABLED=1
export GOFLAGS="-mod=mod -buildvcs=false -tags=mml_local"
# Go keeps its caches under $HOME; give it somewhere to write when HOME is unset.
if [[ -z "${HOME:-}" ]]; then
    export GOCACHE="${GOCACHE:-${TMPDIR:-/tmp}/mml-go-cache}" GOPATH="${GOPATH:-${TMPDIR:-/tmp}/mml-go-path}"
fi
unset GOEXPERIMENT

go version
echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 ./...

race=()
case "$(go env GOOS)/$(go env GOARCH)" in
    linux/amd64 | linux/arm64 | linux/ppc64le | darwin/amd64 | darwin/arm64 | freebsd/amd64 | windows/amd64)
        [[ "${MML_GO_RACE:-1}" != 0 ]] && race=(-race) ;;
esac
echo "== GOEXPERIMENT=cgocheck2 go test ${race[*]:-}"
GOEXPERIMENT=cgocheck2 go test "${race[@]}" -count=1 ./...

echo "== go test -tags mml_external (paths from CGO_CFLAGS / CGO_LDFLAGS)"
CGO_CFLAGS="-I$repo/include" \
CGO_LDFLAGS="-L$repo/target/release -Wl,-rpath,$repo/target/release" \
    go test -tags mml_external -count=1 ./...

echo "bindings/go: all tests passed"
