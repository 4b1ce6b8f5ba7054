package mml

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// jnum is a JSON number kept as its text, or one of the strings "nan", "inf", "-inf" the
// golden file uses for non-finite values; it is parsed later with the precision of its field.
type jnum string

func (x *jnum) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "nan", "inf", "-inf":
			*x = jnum(s)
			return nil
		}
		return fmt.Errorf("unexpected string %q for a number", s)
	}
	*x = jnum(b)
	return nil
}

// f32 parses with correct rounding to float32 (strconv rounds the decimal once, to 24 bits).
func (x jnum) f32(t testing.TB) float32 {
	v, err := strconv.ParseFloat(string(x), 32)
	if err != nil {
		t.Fatalf("bad float32 %q: %v", x, err)
	}
	return float32(v)
}

func (x jnum) f64(t testing.TB) float64 {
	v, err := strconv.ParseFloat(string(x), 64)
	if err != nil {
		t.Fatalf("bad float64 %q: %v", x, err)
	}
	return v
}

type goldenCase struct {
	Name              string  `json:"name"`
	N                 int     `json:"n"`
	C                 int     `json:"c"`
	OneD              bool    `json:"one_d"`
	P                 int     `json:"p"`
	Margin            jnum    `json:"margin"`
	Weight            []jnum  `json:"weight"`
	Reduction         string  `json:"reduction"`
	Input             []jnum  `json:"input"`
	Target            []int64 `json:"target"`
	GradOutput        []jnum  `json:"grad_output"`
	ForwardTorchF32   []jnum  `json:"forward_torch_f32"`
	ForwardF64        []jnum  `json:"forward_f64"`
	GradInputTorchF32 []jnum  `json:"grad_input_torch_f32"`
	GradInputF64      []jnum  `json:"grad_input_f64"`
}

// goldenPath is <repo>/tests/data/multi_margin_loss.json; the tests run in
// <repo>/bindings/go. MML_GOLDEN_DIR overrides the directory.
func goldenPath() string {
	if dir := os.Getenv("MML_GOLDEN_DIR"); dir != "" {
		return filepath.Join(dir, "multi_margin_loss.json")
	}
	return filepath.Join("..", "..", "tests", "data", "multi_margin_loss.json")
}

var (
	goldenOnce  sync.Once
	goldenCases []goldenCase
	goldenErr   error
)

func loadGolden(t *testing.T) []goldenCase {
	t.Helper()
	path := goldenPath()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("golden data not readable at %s (the repository's tests/data/, or MML_GOLDEN_DIR): %v", path, err)
	}
	goldenOnce.Do(func() {
		data, err := os.ReadFile(path)
		if err != nil {
			goldenErr = err
			return
		}
		goldenErr = json.Unmarshal(data, &goldenCases)
	})
	if goldenErr != nil {
		t.Fatalf("reading %s: %v", path, goldenErr)
	}
	if len(goldenCases) == 0 {
		t.Fatalf("%s holds no cases", path)
	}
	return goldenCases
}

func f32s(t testing.TB, xs []jnum) []float32 {
	out := make([]float32, len(xs))
	for i, x := range xs {
		out[i] = x.f32(t)
	}
	return out
}

func f64s(t testing.TB, xs []jnum) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x.f64(t)
	}
	return out
}

func promote(xs []float32) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

func sameBits32(a, b float32) bool {
	if a != a && b != b {
		return true // NaN equals NaN
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

func sameBits64(a, b float64) bool {
	if a != a && b != b {
		return true
	}
	return math.Float64bits(a) == math.Float64bits(b)
}

func checkBits32(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if !sameBits32(got[i], want[i]) {
			t.Errorf("%s[%d] = %v (%#08x), want %v (%#08x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			return
		}
	}
}

func checkBits64(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if !sameBits64(got[i], want[i]) {
			t.Errorf("%s[%d] = %v (%#016x), want %v (%#016x)", what, i, got[i], math.Float64bits(got[i]), want[i], math.Float64bits(want[i]))
			return
		}
	}
}

func goldenLoss(t *testing.T, gc goldenCase) *Loss {
	t.Helper()
	red, err := ParseReduction(gc.Reduction)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Options{P: gc.P, Margin: gc.Margin.f64(t), Weight: f32s(t, gc.Weight), Reduction: red})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func checkGoldenShape(t *testing.T, gc goldenCase) {
	t.Helper()
	if len(gc.Input) != gc.N*gc.C || len(gc.Target) != gc.N || len(gc.GradInputTorchF32) != gc.N*gc.C {
		t.Fatalf("malformed case: n=%d c=%d, %d inputs, %d targets", gc.N, gc.C, len(gc.Input), len(gc.Target))
	}
	if gc.OneD && gc.N != 1 {
		t.Fatalf("one_d case with n = %d", gc.N)
	}
}

// Every golden case, bit-exact through the float32 API: allocating, Into and fused forms.
func TestGoldenFloat32(t *testing.T) {
	cases := loadGolden(t)
	for _, gc := range cases {
		t.Run(gc.Name, func(t *testing.T) {
			checkGoldenShape(t, gc)
			l := goldenLoss(t, gc)
			input, target, c := f32s(t, gc.Input), gc.Target, gc.C
			up := f32s(t, gc.GradOutput)
			wantOut, wantGrad := f32s(t, gc.ForwardTorchF32), f32s(t, gc.GradInputTorchF32)

			out, err := l.Forward(input, target, c)
			if err != nil {
				t.Fatalf("Forward: %v", err)
			}
			checkBits32(t, "Forward", out, wantOut)
			grad, err := l.Backward(input, target, c, up)
			if err != nil {
				t.Fatalf("Backward: %v", err)
			}
			checkBits32(t, "Backward", grad, wantGrad)
			out2, grad2, err := l.ForwardBackward(input, target, c, up)
			if err != nil {
				t.Fatalf("ForwardBackward: %v", err)
			}
			checkBits32(t, "ForwardBackward output", out2, wantOut)
			checkBits32(t, "ForwardBackward gradInput", grad2, wantGrad)

			out3 := canaries32(len(wantOut))
			grad3 := canaries32(len(wantGrad))
			if err := l.ForwardInto(input, target, c, out3); err != nil {
				t.Fatalf("ForwardInto: %v", err)
			}
			if err := l.BackwardInto(input, target, c, up, grad3); err != nil {
				t.Fatalf("BackwardInto: %v", err)
			}
			checkBits32(t, "ForwardInto", out3, wantOut)
			checkBits32(t, "BackwardInto", grad3, wantGrad)

			out4 := canaries32(len(wantOut))
			grad4 := canaries32(len(wantGrad))
			if err := l.ForwardBackwardInto(input, target, c, up, out4, grad4); err != nil {
				t.Fatalf("ForwardBackwardInto: %v", err)
			}
			checkBits32(t, "ForwardBackwardInto output", out4, wantOut)
			checkBits32(t, "ForwardBackwardInto gradInput", grad4, wantGrad)
		})
	}
}

// Every golden case, bit-exact through the float64 API, inputs promoted to float64.
func TestGoldenFloat64(t *testing.T) {
	cases := loadGolden(t)
	for _, gc := range cases {
		t.Run(gc.Name, func(t *testing.T) {
			checkGoldenShape(t, gc)
			l := goldenLoss(t, gc)
			input, target, c := promote(f32s(t, gc.Input)), gc.Target, gc.C
			up := promote(f32s(t, gc.GradOutput))
			wantOut, wantGrad := f64s(t, gc.ForwardF64), f64s(t, gc.GradInputF64)

			out, err := l.Forward64(input, target, c)
			if err != nil {
				t.Fatalf("Forward64: %v", err)
			}
			checkBits64(t, "Forward64", out, wantOut)
			grad, err := l.Backward64(input, target, c, up)
			if err != nil {
				t.Fatalf("Backward64: %v", err)
			}
			checkBits64(t, "Backward64", grad, wantGrad)
			out2, grad2, err := l.ForwardBackward64(input, target, c, up)
			if err != nil {
				t.Fatalf("ForwardBackward64: %v", err)
			}
			checkBits64(t, "ForwardBackward64 output", out2, wantOut)
			checkBits64(t, "ForwardBackward64 gradInput", grad2, wantGrad)

			out3 := canaries64(len(wantOut))
			grad3 := canaries64(len(wantGrad))
			if err := l.Forward64Into(input, target, c, out3); err != nil {
				t.Fatalf("Forward64Into: %v", err)
			}
			if err := l.Backward64Into(input, target, c, up, grad3); err != nil {
				t.Fatalf("Backward64Into: %v", err)
			}
			checkBits64(t, "Forward64Into", out3, wantOut)
			checkBits64(t, "Backward64Into", grad3, wantGrad)

			out4 := canaries64(len(wantOut))
			grad4 := canaries64(len(wantGrad))
			if err := l.ForwardBackward64Into(input, target, c, up, out4, grad4); err != nil {
				t.Fatalf("ForwardBackward64Into: %v", err)
			}
			checkBits64(t, "ForwardBackward64Into output", out4, wantOut)
			checkBits64(t, "ForwardBackward64Into gradInput", grad4, wantGrad)
		})
	}
}

// The golden set exercises what it claims to: every reduction, p, weights, one_d, non-finite.
func TestGoldenCoverage(t *testing.T) {
	cases := loadGolden(t)
	seen := map[string]bool{}
	for _, gc := range cases {
		seen["reduction "+gc.Reduction] = true
		seen[fmt.Sprintf("p %d", gc.P)] = true
		seen[fmt.Sprintf("weight %v", gc.Weight != nil)] = true
		seen[fmt.Sprintf("one_d %v", gc.OneD)] = true
		for _, x := range gc.Input {
			if x == "nan" || x == "inf" || x == "-inf" {
				seen["non-finite input"] = true
			}
		}
	}
	for _, k := range []string{"reduction none", "reduction mean", "reduction sum", "p 1", "p 2",
		"weight true", "weight false", "one_d true", "one_d false", "non-finite input"} {
		if !seen[k] {
			t.Errorf("no golden case with %s", k)
		}
	}
	t.Logf("%d golden cases", len(cases))
}
