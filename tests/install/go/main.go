// A Go program in a module of its own that uses an installed mml the way the README shows:
// tests/install/test.sh copies it to a temporary directory outside the repository, writes a
// go.mod that requires the binding and replaces it with PREFIX/share/mml/go, and builds it with
// PKG_CONFIG_PATH only (the binding's `#cgo pkg-config: mml`; no CGO_* flags).
package main

import (
	"errors"
	"fmt"
	"os"

	mml "github.com/mml-project/mml/bindings/go"
)

func main() {
	loss, err := mml.New(mml.DefaultOptions()) // p 1, margin 1, no weights, mean
	if err != nil {
		fmt.Fprintln(os.Stderr, "go: New:", err)
		os.Exit(1)
	}
	defer loss.Close()

	// torch.nn.MultiMarginLoss() docs: x = [[0.1, 0.2, 0.4, 0.8]], y = [3] -> 0.3250.
	scores := []float32{0.1, 0.2, 0.4, 0.8}
	out, grad, err := loss.ForwardBackward(scores, []int64{3}, 4, []float32{1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "go: ForwardBackward:", err)
		os.Exit(1)
	}
	if d := out[0] - 0.325; d > 1e-6 || d < -1e-6 || grad[0] != 0.25 || grad[3] != -0.75 {
		fmt.Fprintf(os.Stderr, "go: got loss %v, grad %v; expected 0.325, [0.25 0.25 0.25 -0.75]\n", out, grad)
		os.Exit(1)
	}
	if _, err := loss.Forward(scores, []int64{4}, 4); !errors.Is(err, mml.ErrTargetOutOfRange) {
		fmt.Fprintln(os.Stderr, "go: an out-of-range target gave", err)
		os.Exit(1)
	}
	fmt.Printf("go: ok (mml %s, loss %.4f)\n", mml.Version(), out[0])
}
