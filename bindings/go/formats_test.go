package mml

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// formats.json (tests/data/README.md): bfloat16 and float16 scores with PyTorch autocast's
// float32 loss and gradient and the gradient rounded to the scores' type; float64 scores with
// float64 weights.
type formatsCase struct {
	Name          string   `json:"name"`
	Dtype         string   `json:"dtype"`
	N             int      `json:"n"`
	C             int      `json:"c"`
	OneD          bool     `json:"one_d"`
	P             int      `json:"p"`
	Margin        jnum     `json:"margin"`
	Weight        []jnum   `json:"weight"`
	Reduction     string   `json:"reduction"`
	InputBits     []uint16 `json:"input_bits"`
	Input         []jnum   `json:"input"`
	Target        []int64  `json:"target"`
	GradOutput    []jnum   `json:"grad_output"`
	Forward       []jnum   `json:"forward"`
	GradInputF32  []jnum   `json:"grad_input_f32"`
	GradInputBits []uint16 `json:"grad_input_bits"`
	GradInputF64  []jnum   `json:"grad_input_f64"`
}

func formatsPath() string {
	if dir := os.Getenv("MML_GOLDEN_DIR"); dir != "" {
		return filepath.Join(dir, "formats.json")
	}
	return filepath.Join("..", "..", "tests", "data", "formats.json")
}

var (
	formatsOnce  sync.Once
	formatsCases []formatsCase
	formatsErr   error
)

// loadFormats fails (never skips) when the file is missing or incomplete.
func loadFormats(t *testing.T) []formatsCase {
	t.Helper()
	path := formatsPath()
	formatsOnce.Do(func() {
		data, err := os.ReadFile(path)
		if err != nil {
			formatsErr = err
			return
		}
		formatsErr = json.Unmarshal(data, &formatsCases)
	})
	if formatsErr != nil {
		t.Fatalf("formats data not readable at %s (the repository's tests/data/, or MML_GOLDEN_DIR): %v", path, formatsErr)
	}
	if len(formatsCases) != 138 {
		t.Fatalf("%s holds %d cases, want 138", path, len(formatsCases))
	}
	return formatsCases
}

func (fc formatsCase) loss(t *testing.T) *Loss {
	t.Helper()
	red, err := ParseReduction(fc.Reduction)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{P: fc.P, Margin: fc.Margin.f64(t), Reduction: red}
	if fc.Weight != nil {
		if fc.Dtype == "float64" {
			opts.Weight64 = f64s(t, fc.Weight)
		} else {
			opts.Weight = f32s(t, fc.Weight)
		}
	}
	return mustNew(t, opts)
}

func (fc formatsCase) target32() []int32 {
	out := make([]int32, len(fc.Target))
	for i, v := range fc.Target {
		out[i] = int32(v)
	}
	return out
}

func checkBits16[H BFloat16 | Float16](t *testing.T, what string, got []H, want []uint16) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if uint16(got[i]) != want[i] {
			t.Errorf("%s[%d] = %#04x, want %#04x", what, i, uint16(got[i]), want[i])
		}
	}
}

func halfCase[H BFloat16 | Float16](t *testing.T, fc formatsCase) {
	l := fc.loss(t)
	input := make([]H, len(fc.InputBits))
	for i, b := range fc.InputBits {
		input[i] = H(b)
	}
	c, nc := fc.C, fc.N*fc.C
	upstream, wantLoss, wantGrad32 := f32s(t, fc.GradOutput), f32s(t, fc.Forward), f32s(t, fc.GradInputF32)
	for _, tg := range []string{"int64", "int32"} {
		var (
			out, gi32 []float32
			gi        []H
			err       error
		)
		// The allocating forms: the float32 loss, the gradient rounded to H.
		if tg == "int64" {
			out, err = Forward[float32](l, input, fc.Target, c)
		} else {
			out, err = Forward[float32](l, input, fc.target32(), c)
		}
		if err != nil {
			t.Fatal(err)
		}
		checkBits32(t, tg+" forward", out, wantLoss)
		if tg == "int64" {
			gi, err = Backward(l, input, fc.Target, c, upstream)
		} else {
			gi, err = Backward(l, input, fc.target32(), c, upstream)
		}
		if err != nil {
			t.Fatal(err)
		}
		checkBits16(t, tg+" backward", gi, fc.GradInputBits)
		// Into caller slices: the float32 gradient, then the rounded one in the fused call.
		gi32 = make([]float32, nc)
		if tg == "int64" {
			err = BackwardInto(l, input, fc.Target, c, upstream, gi32)
		} else {
			err = BackwardInto(l, input, fc.target32(), c, upstream, gi32)
		}
		if err != nil {
			t.Fatal(err)
		}
		checkBits32(t, tg+" float32 gradient", gi32, wantGrad32)
		out, gi = make([]float32, len(wantLoss)), make([]H, nc)
		if tg == "int64" {
			err = ForwardBackwardInto(l, input, fc.Target, c, upstream, out, gi)
		} else {
			err = ForwardBackwardInto(l, input, fc.target32(), c, upstream, out, gi)
		}
		if err != nil {
			t.Fatal(err)
		}
		checkBits32(t, tg+" fused loss", out, wantLoss)
		checkBits16(t, tg+" fused gradient", gi, fc.GradInputBits)
	}
	// The conversions agree with PyTorch's: widening gives the file's float32 scores, rounding
	// the float32 gradient gives its bits.
	wide := f32s(t, fc.Input)
	for i, b := range fc.InputBits {
		if got := H(b); !sameBits32(widen(got), wide[i]) {
			t.Errorf("widening %#04x gives %v, want %v", b, widen(got), wide[i])
		}
	}
	for i, g := range wantGrad32 {
		if got := uint16(narrow[H](g)); got != fc.GradInputBits[i] {
			t.Errorf("rounding %v gives %#04x, want %#04x", g, got, fc.GradInputBits[i])
		}
	}
}

func widen[H BFloat16 | Float16](h H) float32 {
	switch v := any(h).(type) {
	case BFloat16:
		return v.Float32()
	default:
		return any(h).(Float16).Float32()
	}
}

func narrow[H BFloat16 | Float16](f float32) H {
	var zero H
	if _, ok := any(zero).(BFloat16); ok {
		return H(BFloat16FromFloat32(f))
	}
	return H(Float16FromFloat32(f))
}

func TestFormatsHalfCases(t *testing.T) {
	counts := map[string]int{}
	for _, fc := range loadFormats(t) {
		switch fc.Dtype {
		case "bfloat16":
			t.Run(fc.Name, func(t *testing.T) { halfCase[BFloat16](t, fc) })
		case "float16":
			t.Run(fc.Name, func(t *testing.T) { halfCase[Float16](t, fc) })
		default:
			continue
		}
		counts[fc.Dtype]++
	}
	if counts["bfloat16"] != 51 || counts["float16"] != 51 {
		t.Fatalf("half cases: %v, want 51 of each", counts)
	}
}

func TestFormatsFloat64Cases(t *testing.T) {
	count := 0
	for _, fc := range loadFormats(t) {
		if fc.Dtype != "float64" {
			continue
		}
		count++
		t.Run(fc.Name, func(t *testing.T) {
			l := fc.loss(t)
			input, upstream := f64s(t, fc.Input), f64s(t, fc.GradOutput)
			wantLoss, wantGrad := f64s(t, fc.Forward), f64s(t, fc.GradInputF64)
			// The float64 methods (int64 targets) and the generic forms (int32 targets).
			out, gi, err := l.ForwardBackward64(input, fc.Target, fc.C, upstream)
			if err != nil {
				t.Fatal(err)
			}
			checkBits64(t, "ForwardBackward64 loss", out, wantLoss)
			checkBits64(t, "ForwardBackward64 gradient", gi, wantGrad)
			out, err = Forward[float64](l, input, fc.target32(), fc.C)
			if err != nil {
				t.Fatal(err)
			}
			checkBits64(t, "int32 forward", out, wantLoss)
			out, gi, err = ForwardBackward(l, input, fc.target32(), fc.C, upstream)
			if err != nil {
				t.Fatal(err)
			}
			checkBits64(t, "int32 fused loss", out, wantLoss)
			checkBits64(t, "int32 fused gradient", gi, wantGrad)
		})
	}
	if count != 36 {
		t.Fatalf("%d float64 cases, want 36", count)
	}
}

// Int32 targets run the float32 methods' computation: the golden cases give the same bits.
func TestGoldenInt32Targets(t *testing.T) {
	for _, gc := range loadGolden(t) {
		l := goldenLoss(t, gc)
		input := f32s(t, gc.Input)
		t32 := make([]int32, len(gc.Target))
		for i, v := range gc.Target {
			t32[i] = int32(v)
		}
		out, gi, err := ForwardBackward(l, input, t32, gc.C, f32s(t, gc.GradOutput))
		if err != nil {
			t.Fatalf("%s: %v", gc.Name, err)
		}
		checkBits32(t, gc.Name+" loss", out, f32s(t, gc.ForwardTorchF32))
		checkBits32(t, gc.Name+" gradient", gi, f32s(t, gc.GradInputTorchF32))
	}
}

// Errors carry mml's own detail: a bad int32 target names its row and value in mml's words; a
// gradient type that does not go with the scores is refused by mml; the loss type by Go.
func TestTypedErrorsCarryTheLibrarysDetail(t *testing.T) {
	l := mustNew(t, DefaultOptions())
	input := []BFloat16{0x3F80, 0x4000, 0x3F00, 0x0000, 0xBF80, 0x4040}
	out := canaries32(1)
	err := ForwardInto(l, input, []int32{0, 7}, 3, out)
	wantErr(t, err, ErrTargetOutOfRange, StatusTargetOutOfRange, "ForwardInto", "target[1] = 7 is outside [0, 3)")
	var e *Error
	if !errors.As(err, &e) || e.Row != 1 || e.Target != 7 || e.Argument != ArgTarget {
		t.Fatalf("%v: row %d, target %d, argument %v", err, e.Row, e.Target, e.Argument)
	}
	untouched32(t, "output", out)
	gi := make([]float64, 6)
	err = BackwardInto(l, input, []int64{0, 1}, 3, []float32{1}, gi)
	wantErr(t, err, ErrUnsupportedTensor, StatusUnsupportedTensor, "BackwardInto", "grad_dtype")
	if !errors.As(err, &e) || e.Argument != ArgDtype {
		t.Fatalf("%v: argument %v, want dtype", err, e.Argument)
	}
	_, err = Forward[float64](l, input, []int64{0, 1}, 3)
	wantErr(t, err, ErrInvalidArgument, StatusInvalidArgument, "the loss of BFloat16 scores is float32")
	if !strings.HasPrefix(err.Error(), "mml: Forward: ") {
		t.Fatalf("%q", err)
	}
}

// Every non-NaN 16-bit pattern survives widening and rounding back; NaNs round to PyTorch's.
func TestHalfRoundTrip(t *testing.T) {
	for b := 0; b <= 0xFFFF; b++ {
		if b&0x7FFF <= 0x7F80 && BFloat16FromFloat32(BFloat16(b).Float32()) != BFloat16(b) {
			t.Fatalf("bfloat16 %#04x does not round-trip", b)
		}
		if b&0x7FFF <= 0x7C00 && Float16FromFloat32(Float16(b).Float32()) != Float16(b) {
			t.Fatalf("float16 %#04x does not round-trip", b)
		}
	}
	if Float16FromFloat32(65520) != 0x7C00 || Float16FromFloat32(65519) != 0x7BFF || Float16FromFloat32(0x1p-25) != 0 || Float16FromFloat32(-3e-8) != 0x8001 {
		t.Fatal("float16 rounding at the edges")
	}
	if BFloat16FromFloat32(1.00390625) != 0x3F80 || BFloat16FromFloat32(1.01171875) != 0x3F82 {
		t.Fatal("bfloat16 ties to even")
	}
}
