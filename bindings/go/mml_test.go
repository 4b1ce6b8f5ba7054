package mml

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// A NaN with a payload no computation produces: a slot still holding it was never written.
var (
	canary32 = math.Float32frombits(0x7fc0dead)
	canary64 = math.Float64frombits(0x7ff8_0000_dead_beef)
)

func canaries32(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = canary32
	}
	return s
}

func canaries64(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = canary64
	}
	return s
}

func untouched32(t *testing.T, what string, s []float32) {
	t.Helper()
	for i, v := range s {
		if math.Float32bits(v) != 0x7fc0dead {
			t.Fatalf("%s[%d] was written (%v) by a failing call", what, i, v)
		}
	}
}

func untouched64(t *testing.T, what string, s []float64) {
	t.Helper()
	for i, v := range s {
		if math.Float64bits(v) != 0x7ff8_0000_dead_beef {
			t.Fatalf("%s[%d] was written (%v) by a failing call", what, i, v)
		}
	}
}

func mustNew(t testing.TB, o Options) *Loss {
	t.Helper()
	l, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

var allSentinels = []error{ErrNullPointer, ErrInvalidArgument, ErrShapeMismatch, ErrTargetOutOfRange,
	ErrAliasedBuffers, ErrInternal, ErrOutOfMemory, ErrUnsupportedTensor, ErrInvalidLayout, ErrClosed}

// wantErr checks errors.Is against the sentinel, the *Error's status, and message fragments.
func wantErr(t *testing.T, err error, sentinel error, status Status, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %q is not %v", err, sentinel)
	}
	for _, other := range allSentinels {
		if other != sentinel && errors.Is(err, other) {
			t.Fatalf("error %q also matches %v", err, other)
		}
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q is not an *Error", err)
	}
	if e.Status != status {
		t.Fatalf("error %q has status %d, want %d", err, e.Status, status)
	}
	if !strings.HasPrefix(err.Error(), "mml: ") {
		t.Fatalf("error %q does not start with \"mml: \"", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not say %q", err, f)
		}
	}
}

// wantDetail checks the detail mml put in its MmlError: the argument and the lengths.
func wantDetail(t *testing.T, err error, arg Argument, expected, actual uint64) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q is not an *Error", err)
	}
	if e.Argument != arg || e.Expected != expected || e.Actual != actual {
		t.Fatalf("error %q: argument %v, expected %d, actual %d; want %v, %d, %d", err, e.Argument, e.Expected, e.Actual, arg, expected, actual)
	}
}

// The PyTorch documentation's example: x = [[0.1, 0.2, 0.4, 0.8]], y = [3] gives 0.325.
var (
	docInput  = []float32{0.1, 0.2, 0.4, 0.8}
	docTarget = []int64{3}
)

func TestDocumentationExample(t *testing.T) {
	l := mustNew(t, DefaultOptions())
	out, err := l.Forward(docInput, docTarget, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || math.Abs(float64(out[0])-0.325) > 1e-6 {
		t.Fatalf("loss = %v, want [0.325]", out)
	}
	grad, err := l.Backward(docInput, docTarget, 4, []float32{1})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.25, 0.25, 0.25, -0.75}
	for i := range want {
		if grad[i] != want[i] {
			t.Fatalf("grad = %v, want %v", grad, want)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	d := DefaultOptions()
	if d.P != 1 || d.Margin != 1 || d.Weight != nil || d.Reduction != ReductionMean {
		t.Fatalf("DefaultOptions() = %+v", d)
	}
	// The zero Options: p 1, margin 0, mean.
	z := mustNew(t, Options{})
	if z.P() != 1 || z.Margin() != 0 || z.Weight() != nil || z.Reduction() != ReductionMean {
		t.Fatalf("Options{} gives p %d margin %v weight %v reduction %v", z.P(), z.Margin(), z.Weight(), z.Reduction())
	}
	explicit := mustNew(t, Options{P: 1, Margin: 0, Reduction: ReductionMean})
	input := []float32{0.1, 0.9, 0.4, 0.3, 0.2, 0.8}
	target := []int64{2, 0}
	a, err := z.Forward(input, target, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := explicit.Forward(input, target, 3)
	if err != nil {
		t.Fatal(err)
	}
	if math.Float32bits(a[0]) != math.Float32bits(b[0]) || a[0] == 0 {
		t.Fatalf("Options{} gives %v, explicit p 1 margin 0 mean gives %v", a, b)
	}
	// Weight is copied by New.
	w := []float32{1, 2, 3}
	wl := mustNew(t, Options{Weight: w})
	w[0] = 100
	if got := wl.Weight(); got[0] != 1 {
		t.Fatalf("Weight() = %v after the caller changed its slice", got)
	}
	if r, err := ParseReduction("sum"); err != nil || r != ReductionSum || r.String() != "sum" {
		t.Fatalf("ParseReduction(sum) = %v, %v", r, err)
	}
	if _, err := ParseReduction("average"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("ParseReduction(average) error = %v", err)
	}
}

func TestEmptyBatch(t *testing.T) {
	for _, tc := range []struct {
		red  Reduction
		want []float32
	}{{ReductionSum, []float32{0}}, {ReductionMean, []float32{float32(math.NaN())}}, {ReductionNone, []float32{}}} {
		l := mustNew(t, Options{P: 2, Margin: 1, Reduction: tc.red})
		out, err := l.Forward(nil, nil, 5)
		if err != nil {
			t.Fatalf("%v: Forward: %v", tc.red, err)
		}
		checkBits32(t, tc.red.String()+" Forward", out, tc.want)
		out64, err := l.Forward64([]float64{}, []int64{}, 5)
		if err != nil {
			t.Fatalf("%v: Forward64: %v", tc.red, err)
		}
		if len(out64) != len(tc.want) || (len(out64) == 1 && !sameBits64(out64[0], float64(tc.want[0]))) {
			t.Fatalf("%v: Forward64 = %v, want %v", tc.red, out64, tc.want)
		}
		grad, err := l.Backward(nil, nil, 5, make([]float32, l.OutputLen(0)))
		if err != nil || len(grad) != 0 {
			t.Fatalf("%v: Backward = %v, %v", tc.red, grad, err)
		}
		// Zero-length slices with spare capacity are passed as NULL too.
		if err := l.ForwardBackwardInto(make([]float32, 0, 8), make([]int64, 0, 8), 5,
			make([]float32, l.OutputLen(0)), make([]float32, l.OutputLen(0)), make([]float32, 0, 4)); err != nil {
			t.Fatalf("%v: ForwardBackwardInto: %v", tc.red, err)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	for _, p := range []int{3, -1, math.MaxInt} {
		l, err := New(Options{P: p, Margin: 1})
		if l != nil {
			t.Fatalf("New with p %d returned a Loss", p)
		}
		wantErr(t, err, ErrInvalidArgument, StatusInvalidArgument, "New", "p = ", "must be 1 or 2")
	}
	for _, r := range []Reduction{3, -1} {
		l, err := New(Options{P: 1, Margin: 1, Reduction: r})
		if l != nil {
			t.Fatalf("New with reduction %v returned a Loss", r)
		}
		wantErr(t, err, ErrInvalidArgument, StatusInvalidArgument, "unknown reduction", r.String())
	}
}

func TestShapeErrors(t *testing.T) {
	input := []float32{0.1, 0.2, 0.3, 0.4, 0.5, 0.6} // n 2, c 3
	target := []int64{0, 2}
	mean := mustNew(t, DefaultOptions())
	none := mustNew(t, Options{P: 1, Margin: 1, Reduction: ReductionNone})

	// Input length (checked in Go, before any pointer reaches C).
	_, err := mean.Forward(input[:5], target, 3)
	wantErr(t, err, ErrShapeMismatch, StatusShapeMismatch, "Forward", "input has 5 elements, expected n·c = 2·3 = 6")
	out := canaries32(1)
	err = mean.ForwardInto(input, target, 2, out)
	wantErr(t, err, ErrShapeMismatch, StatusShapeMismatch, "input has 6 elements, expected n·c = 2·2 = 4")
	untouched32(t, "output", out)

	// Output length (checked by C, explained in Go).
	out = canaries32(3)
	err = mean.ForwardInto(input, target, 3, out)
	wantErr(t, err, ErrShapeMismatch, StatusShapeMismatch, "ForwardInto", "output has 3 elements, expected 1")
	wantDetail(t, err, ArgOutput, 1, 3)
	untouched32(t, "output", out)
	out = canaries32(1)
	err = none.ForwardInto(input, target, 3, out)
	wantErr(t, err, ErrShapeMismatch, StatusShapeMismatch, "output has 1 elements, expected 2")
	untouched32(t, "output", out)
	out64 := canaries64(0)
	err = mean.Forward64Into(promote(input), target, 3, out64)
	wantErr(t, err, ErrShapeMismatch, StatusShapeMismatch, "Forward64Into", "output has 0 elements, expected 1")

	// grad_output and grad_input lengths.
	gi := canaries32(6)
	err = mean.BackwardInto(input, target, 3, []float32{1, 1}, gi)
	wantErr(t, err, ErrShapeMismatch, StatusShapeMismatch, "grad_output has 2 elements, expected 1")
	untouched32(t, "gradInput", gi)
	_, err = none.Backward(input, target, 3, []float32{1})
	wantErr(t, err, ErrShapeMismatch, StatusShapeMismatch, "Backward", "grad_output has 1 elements, expected 2")
	gi = canaries32(5)
	err = mean.BackwardInto(input, target, 3, []float32{1}, gi)
	wantErr(t, err, ErrShapeMismatch, StatusShapeMismatch, "grad_input has 5 elements, expected 6")
	untouched32(t, "gradInput", gi)
	gi64 := canaries64(7)
	out64 = canaries64(1)
	err = mean.ForwardBackward64Into(promote(input), target, 3, []float64{1}, out64, gi64)
	wantErr(t, err, ErrShapeMismatch, StatusShapeMismatch, "ForwardBackward64Into", "grad_input has 7 elements, expected 6")
	untouched64(t, "output", out64)
	untouched64(t, "gradInput", gi64)

	// Weight length against c.
	w := mustNew(t, Options{P: 2, Margin: 1, Weight: []float32{1, 2, 3, 4}, Reduction: ReductionSum})
	out, gi = canaries32(1), canaries32(6)
	err = w.ForwardBackwardInto(input, target, 3, []float32{1}, out, gi)
	wantErr(t, err, ErrShapeMismatch, StatusShapeMismatch, "weight has 4 elements")
	wantDetail(t, err, ArgWeight, 3, 4)
	untouched32(t, "output", out)
	untouched32(t, "gradInput", gi)
	_, err = w.Forward64(promote(input), target, 3)
	wantErr(t, err, ErrShapeMismatch, StatusShapeMismatch, "Forward64", "weight has 4 elements")
}

func TestArgumentErrors(t *testing.T) {
	l := mustNew(t, DefaultOptions())
	// c == 0 with samples: rejected by C.
	out := canaries32(1)
	err := l.ForwardInto(nil, []int64{0, 0}, 0, out)
	wantErr(t, err, ErrInvalidArgument, StatusInvalidArgument, "classes c must be at least 1")
	wantDetail(t, err, ArgClasses, 0, 0)
	untouched32(t, "output", out)
	_, err = l.Backward64(nil, []int64{0}, 0, []float64{1})
	wantErr(t, err, ErrInvalidArgument, StatusInvalidArgument, "Backward64", "classes c must be at least 1")
	// Negative c and n·c overflow: found in Go.
	_, err = l.Forward([]float32{1}, []int64{0}, -1)
	wantErr(t, err, ErrInvalidArgument, StatusInvalidArgument, "c = -1 is negative")
	_, err = l.Forward(nil, make([]int64, 4), math.MaxInt/2)
	wantErr(t, err, ErrInvalidArgument, StatusInvalidArgument, "overflows")
	// n·c overflow is ErrInvalidArgument (the C library's status for it) in every method,
	// whatever the input's length, and nothing is written.
	out, gi := canaries32(1), canaries32(4)
	out64, gi64 := canaries64(1), canaries64(4)
	for _, input := range [][]float32{nil, make([]float32, 4)} {
		errs := callAll(l, input, make([]int64, 3), math.MaxInt/2, []float32{1}, out, gi,
			promote(input), []float64{1}, out64, gi64)
		for method, err := range errs {
			wantErr(t, err, ErrInvalidArgument, StatusInvalidArgument, method, "n·c = 3·", "overflows")
		}
	}
	untouched32(t, "output", out)
	untouched32(t, "gradInput", gi)
	untouched64(t, "output64", out64)
	untouched64(t, "gradInput64", gi64)
	// An n·c that fits int but whose bytes do not (the C library's size check): 4·(MaxInt/16)
	// float32 values fit the address space, as many float64 values do not.
	_, err = l.Forward(nil, make([]int64, 4), math.MaxInt/16)
	wantErr(t, err, ErrShapeMismatch, StatusShapeMismatch, "input has 0 elements")
	_, err = l.Forward64(nil, make([]int64, 4), math.MaxInt/16)
	wantErr(t, err, ErrInvalidArgument, StatusInvalidArgument, "Forward64", "overflows the address space")
	err = l.ForwardInto(nil, make([]int64, 4), math.MaxInt/8+1, out)
	wantErr(t, err, ErrInvalidArgument, StatusInvalidArgument, "ForwardInto", "overflows the address space")
	// Thread counts.
	wantErr(t, SetNumThreads(MaxThreads+1), ErrInvalidArgument, StatusInvalidArgument, "SetNumThreads", "above the limit 1024")
	wantErr(t, SetNumThreads(-3), ErrInvalidArgument, StatusInvalidArgument, "negative")
	// CheckTargets with c == 0.
	wantErr(t, CheckTargets([]int64{0}, 0), ErrInvalidArgument, StatusInvalidArgument, "CheckTargets", "c = 0")
}

func TestTargetErrors(t *testing.T) {
	l := mustNew(t, Options{P: 1, Margin: 1, Reduction: ReductionNone})
	const c = 10
	input := make([]float32, 5*c)
	for _, tc := range []struct {
		target []int64
		msg    string
		row    int
		value  int64
	}{
		{[]int64{0, 9, 3, 12, 1}, "target[3] = 12 is outside [0, 10)", 3, 12},
		{[]int64{0, -1, 3, 4, -7}, "target[1] = -1 is outside [0, 10)", 1, -1},
		{[]int64{0, 1, 2, 3, 10}, "target[4] = 10 is outside [0, 10)", 4, 10},
		{[]int64{math.MinInt64, 1, 2, 3, 4}, "target[0] = -9223372036854775808 is outside [0, 10)", 0, math.MinInt64},
	} {
		out := canaries32(5)
		gi := canaries32(5 * c)
		for _, err := range []error{
			l.ForwardInto(input, tc.target, c, out),
			l.BackwardInto(input, tc.target, c, make([]float32, 5), gi),
			l.ForwardBackwardInto(input, tc.target, c, make([]float32, 5), out, gi),
			l.ForwardBackward64Into(promote(input), tc.target, c, make([]float64, 5), canaries64(5), canaries64(5*c)),
			CheckTargets(tc.target, c),
		} {
			wantErr(t, err, ErrTargetOutOfRange, StatusTargetOutOfRange, tc.msg)
			var e *Error
			errors.As(err, &e)
			if e.Row != tc.row || e.Target != tc.value {
				t.Fatalf("%v: Row %d Target %d, want %d %d", err, e.Row, e.Target, tc.row, tc.value)
			}
		}
		untouched32(t, "output", out)
		untouched32(t, "gradInput", gi)
	}
	if err := CheckTargets([]int64{0, 9, 5}, c); err != nil {
		t.Fatalf("CheckTargets of good targets: %v", err)
	}
	if err := CheckTargets(nil, c); err != nil {
		t.Fatalf("CheckTargets of no targets: %v", err)
	}
}

func TestAliasingErrors(t *testing.T) {
	l := mustNew(t, Options{P: 2, Margin: 1, Reduction: ReductionNone})
	target := []int64{1, 0}
	// Two slices of one backing array: output overlaps input.
	buf := canaries32(9)
	for i := range 6 {
		buf[i] = float32(i) / 4
	}
	err := l.ForwardInto(buf[:6], target, 3, buf[5:7])
	wantErr(t, err, ErrAliasedBuffers, StatusAliasedBuffers, "output overlaps input")
	untouched32(t, "tail of the buffer", buf[6:])
	if buf[5] != 5.0/4 {
		t.Fatalf("input was written: %v", buf[:6])
	}
	// gradInput overlaps gradOutput.
	input := []float32{0.3, 0.1, 0.2, 0.5, 0.4, 0.6}
	shared := canaries32(8)
	err = l.BackwardInto(input, target, 3, shared[:2], shared[1:7])
	wantErr(t, err, ErrAliasedBuffers, StatusAliasedBuffers, "grad_input overlaps grad_output")
	untouched32(t, "shared", shared)
	// output overlaps gradInput in the fused call.
	shared = canaries32(8)
	err = l.ForwardBackwardInto(input, target, 3, []float32{1, 1}, shared[:2], shared[:6])
	wantErr(t, err, ErrAliasedBuffers, StatusAliasedBuffers, "overlaps")
	untouched32(t, "shared", shared)
	// float64: the same slice as input and output.
	in64 := promote(input)
	err = l.Forward64Into(in64, target, 3, in64[:2])
	wantErr(t, err, ErrAliasedBuffers, StatusAliasedBuffers, "Forward64Into", "output overlaps input")
	checkBits64(t, "input", in64, promote(input))
	// Adjacent, non-overlapping parts of one array are fine.
	whole := make([]float32, 8)
	copy(whole, input)
	if err := l.ForwardInto(whole[:6], target, 3, whole[6:8]); err != nil {
		t.Fatalf("adjacent slices: %v", err)
	}
	want, _ := l.Forward(input, target, 3)
	checkBits32(t, "adjacent output", whole[6:8], want)
}

// callAll calls every computing method of l with the same arguments (float64 ones get
// in64 and out64-sized slices) and returns each method's error by name.
func callAll(l *Loss, in []float32, tg []int64, c int, up, out, gi []float32, in64, up64, out64, gi64 []float64) map[string]error {
	errs := map[string]error{}
	_, errs["Forward"] = l.Forward(in, tg, c)
	_, errs["Backward"] = l.Backward(in, tg, c, up)
	_, _, errs["ForwardBackward"] = l.ForwardBackward(in, tg, c, up)
	errs["ForwardInto"] = l.ForwardInto(in, tg, c, out)
	errs["BackwardInto"] = l.BackwardInto(in, tg, c, up, gi)
	errs["ForwardBackwardInto"] = l.ForwardBackwardInto(in, tg, c, up, out, gi)
	_, errs["Forward64"] = l.Forward64(in64, tg, c)
	_, errs["Backward64"] = l.Backward64(in64, tg, c, up64)
	_, _, errs["ForwardBackward64"] = l.ForwardBackward64(in64, tg, c, up64)
	errs["Forward64Into"] = l.Forward64Into(in64, tg, c, out64)
	errs["Backward64Into"] = l.Backward64Into(in64, tg, c, up64, gi64)
	errs["ForwardBackward64Into"] = l.ForwardBackward64Into(in64, tg, c, up64, out64, gi64)
	return errs
}

// wantClosedEverywhere checks that every computing method of l returns ErrClosed, both for
// good arguments and for arguments that are wrong in every way the binding checks itself
// (a closed Loss is reported before any argument is looked at), and writes nothing.
func wantClosedEverywhere(t *testing.T, l *Loss) {
	t.Helper()
	in, tg, in64 := docInput, docTarget, promote(docInput)
	out, gi := canaries32(1), canaries32(4)
	out64, gi64 := canaries64(1), canaries64(4)
	shared := canaries32(4)
	cases := []struct {
		name string
		errs map[string]error
	}{
		{"good arguments", callAll(l, in, tg, 4, []float32{1}, out, gi, in64, []float64{1}, out64, gi64)},
		// The example: 3 scores for n·c = 4·5.
		{"input not n·c long", callAll(l, make([]float32, 3), []int64{0, 1, 2, 3}, 5, []float32{1}, out, gi,
			make([]float64, 3), []float64{1}, out64, gi64)},
		{"negative c", callAll(l, in, tg, -1, []float32{1}, out, gi, in64, []float64{1}, out64, gi64)},
		{"n·c overflows", callAll(l, nil, make([]int64, 4), math.MaxInt/2, nil, out, gi, nil, nil, out64, gi64)},
		{"c == 0", callAll(l, nil, []int64{0, 0}, 0, []float32{1}, out, gi, nil, []float64{1}, out64, gi64)},
		{"target out of range", callAll(l, in, []int64{9}, 4, []float32{1}, out, gi, in64, []float64{1}, out64, gi64)},
		{"nil and short buffers", callAll(l, in, tg, 4, nil, nil, nil, in64, nil, nil, nil)},
		{"aliased buffers", callAll(l, shared, tg, 4, []float32{1}, shared[:1], shared, in64, []float64{1}, out64, gi64)},
	}
	for _, tc := range cases {
		if len(tc.errs) != 12 {
			t.Fatalf("%s: %d methods called, want 12", tc.name, len(tc.errs))
		}
		for method, err := range tc.errs {
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("%s: %s returned %v, want ErrClosed", tc.name, method, err)
			}
			wantErr(t, err, ErrClosed, StatusOK, "mml: "+method+": ", "closed")
		}
	}
	untouched32(t, "output", out)
	untouched32(t, "gradInput", gi)
	untouched32(t, "shared", shared)
	untouched64(t, "output64", out64)
	untouched64(t, "gradInput64", gi64)
}

func TestUseAfterClose(t *testing.T) {
	l, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	// The exact example: a shape error before, ErrClosed now.
	_, err = l.Forward(make([]float32, 3), []int64{0, 1, 2, 3}, 5)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Forward on a closed Loss with a bad shape: %v, want ErrClosed", err)
	}
	wantClosedEverywhere(t, l)
	// The configuration stays readable.
	if l.P() != 1 || l.Margin() != 1 || l.Reduction() != ReductionMean || l.OutputLen(3) != 1 {
		t.Fatalf("closed Loss: p %d margin %v reduction %v", l.P(), l.Margin(), l.Reduction())
	}
	// A nil *Loss and the zero Loss behave as closed ones.
	var nl *Loss
	wantClosedEverywhere(t, nl)
	if err := nl.Close(); err != nil {
		t.Fatal(err)
	}
	var zero Loss
	wantClosedEverywhere(t, &zero)
	if err := zero.Close(); err != nil {
		t.Fatal(err)
	}
}

// A copy of a Loss value shares the handle: closing the copy closes the original, and the
// handle is destroyed once (run under -race and GOEXPERIMENT=cgocheck2 by test.sh; a double
// mml_destroy crashed there).
func TestCopyOfLossSharesHandle(t *testing.T) {
	runtime.GC()
	live := liveHandles.Load()
	l, err := New(Options{P: 2, Margin: 0.5, Weight: []float32{1, 2, 3, 4}, Reduction: ReductionSum})
	if err != nil {
		t.Fatal(err)
	}
	want, err := l.Forward(docInput, docTarget, 4)
	if err != nil {
		t.Fatal(err)
	}
	v := *l
	// The copy computes with the same handle and configuration.
	got, err := v.Forward(docInput, docTarget, 4)
	if err != nil || !sameSlice32(got, want) {
		t.Fatalf("copy: Forward = %v, %v; want %v", got, err, want)
	}
	if v.P() != 2 || v.Margin() != 0.5 || v.Reduction() != ReductionSum || len(v.Weight()) != 4 {
		t.Fatalf("copy: p %d margin %v reduction %v weight %v", v.P(), v.Margin(), v.Reduction(), v.Weight())
	}
	if got := liveHandles.Load() - live; got != 1 {
		t.Fatalf("%d live handles after copying, want 1", got)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if got := liveHandles.Load() - live; got != 0 {
		t.Fatalf("%d live handles after closing the copy, want 0", got)
	}
	// The original is closed too; closing it again is a no-op.
	_, err = l.Forward(docInput, docTarget, 4)
	wantErr(t, err, ErrClosed, StatusOK, "Forward", "closed")
	wantClosedEverywhere(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if got := liveHandles.Load() - live; got != 0 {
		t.Fatalf("%d live handles after closing both, want 0", got)
	}
	// Copies made before and after the close agree, and so does a copy of a copy.
	w := v
	wantClosedEverywhere(t, &w)
}

// Copies closed from many goroutines at once while others compute: one destroy, no crash.
func TestCopiesClosedConcurrently(t *testing.T) {
	runtime.GC()
	live := liveHandles.Load()
	input, target, _ := randomBatch(5, 32, 8)
	for range 20 {
		l, err := New(DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		want, err := l.Forward(input, target, 8)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		bad := make(chan string, 16)
		for g := range 16 {
			c := *l
			wg.Add(1)
			go func() {
				defer wg.Done()
				if g%2 == 0 {
					c.Close()
					return
				}
				for range 50 {
					out, err := c.Forward(input, target, 8)
					if (err != nil && !errors.Is(err, ErrClosed)) || (err == nil && !sameSlice32(out, want)) {
						bad <- fmt.Sprint(out, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(bad)
		for b := range bad {
			t.Fatal(b)
		}
		if got := liveHandles.Load() - live; got != 0 {
			t.Fatalf("%d live handles after every copy was closed", got)
		}
		l.Close()
	}
}

func TestStatusAndVersion(t *testing.T) {
	if v := Version(); v != HeaderVersion() || strings.Count(v, ".") != 2 {
		t.Fatalf("library version %q, header version %q", v, HeaderVersion())
	}
	if ABIVersion() != HeaderABIVersion {
		t.Fatalf("library ABI %d, header ABI %d", ABIVersion(), HeaderABIVersion)
	}
	if StatusOK.String() != "ok" || !strings.Contains(StatusTargetOutOfRange.String(), "target") || Status(99).String() == "" {
		t.Fatalf("status texts: %q %q %q", StatusOK, StatusTargetOutOfRange, Status(99))
	}
	// Unknown statuses (and StatusInternalError) map to ErrInternal.
	if !errors.Is(newError("x", StatusInternalError, "boom"), ErrInternal) || !errors.Is(newError("x", 99, "?"), ErrInternal) {
		t.Fatal("internal errors do not match ErrInternal")
	}
	if !errors.Is(newError("x", StatusNullPointer, "nil"), ErrNullPointer) {
		t.Fatal("StatusNullPointer does not match ErrNullPointer")
	}
}

// MML_STATUS_OUT_OF_MEMORY (7) maps to StatusOutOfMemory and ErrOutOfMemory, and to no other
// sentinel. The library's allocations cannot be made to fail from here, so the mapping is
// tested where every status becomes an error.
func TestOutOfMemoryStatus(t *testing.T) {
	if StatusOutOfMemory != 7 {
		t.Fatalf("StatusOutOfMemory = %d, want 7 (MML_STATUS_OUT_OF_MEMORY)", StatusOutOfMemory)
	}
	err := newError("New", Status(7), "%s", Status(7))
	wantErr(t, err, ErrOutOfMemory, StatusOutOfMemory, "mml: New: ")
	if ErrOutOfMemory.Error() != "mml: out of memory" {
		t.Fatalf("ErrOutOfMemory says %q", ErrOutOfMemory)
	}
	// Every status has its own sentinel; unknown codes are ErrInternal.
	seen := map[error]Status{}
	for st := StatusNullPointer; st <= StatusInvalidLayout; st++ {
		s := sentinelFor(st)
		if prev, dup := seen[s]; dup {
			t.Fatalf("statuses %d and %d share the sentinel %v", prev, st, s)
		}
		seen[s] = st
	}
	if sentinelFor(StatusInvalidLayout+1) != ErrInternal {
		t.Fatal("an unknown status does not map to ErrInternal")
	}
}

func randomBatch(seed int64, n, c int) ([]float32, []int64, []float32) {
	r := rand.New(rand.NewSource(seed))
	input := make([]float32, n*c)
	for i := range input {
		input[i] = float32(r.NormFloat64())
	}
	target := make([]int64, n)
	up := make([]float32, n)
	for i := range target {
		target[i] = int64(r.Intn(c))
		up[i] = float32(r.NormFloat64())
	}
	return input, target, up
}

func sameSlice32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameBits32(a[i], b[i]) {
			return false
		}
	}
	return true
}

// Results do not depend on the library's thread count (a batch large enough to go parallel).
func TestThreadCountDeterminism(t *testing.T) {
	defer SetNumThreads(0)
	l := mustNew(t, Options{P: 2, Margin: 0.7, Reduction: ReductionMean})
	input, target, _ := randomBatch(7, 4096, 64)
	var first []float32
	var firstGrad []float32
	for _, threads := range []int{1, 2, 3} {
		if err := SetNumThreads(threads); err != nil {
			t.Fatal(err)
		}
		if got := NumThreads(); got != threads {
			t.Fatalf("NumThreads() = %d after SetNumThreads(%d)", got, threads)
		}
		out, grad, err := l.ForwardBackward(input, target, 64, []float32{1.5})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first, firstGrad = out, grad
		} else if !sameSlice32(out, first) || !sameSlice32(grad, firstGrad) {
			t.Fatalf("%d threads: loss %v, with 1 thread %v", threads, out, first)
		}
	}
	if err := SetNumThreads(0); err != nil || NumThreads() < 1 {
		t.Fatalf("SetNumThreads(0): %v, NumThreads() = %d", err, NumThreads())
	}
}

// 32 goroutines share one Loss; every result equals the serial one bit for bit.
func TestConcurrentUse(t *testing.T) {
	l := mustNew(t, Options{P: 2, Margin: 1, Weight: []float32{0.5, 1, 1.5, 2, 2.5, 3, 0.25, 1, 1, 2}, Reduction: ReductionNone})
	const c, goroutines, rounds = 10, 32, 20
	type batch struct {
		input, up     []float32
		target        []int64
		out, grad     []float32
		out64, grad64 []float64
	}
	batches := make([]batch, 8)
	for i := range batches {
		b := &batches[i]
		b.input, b.target, b.up = randomBatch(int64(i), 50+i*37, c)
		var err error
		if b.out, b.grad, err = l.ForwardBackward(b.input, b.target, c, b.up); err != nil {
			t.Fatal(err)
		}
		if b.out64, b.grad64, err = l.ForwardBackward64(promote(b.input), b.target, c, promote(b.up)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				b := &batches[(g+r)%len(batches)]
				out, err := l.Forward(b.input, b.target, c)
				if err != nil || !sameSlice32(out, b.out) {
					errs <- "Forward differs"
					return
				}
				grad, err := l.Backward(b.input, b.target, c, b.up)
				if err != nil || !sameSlice32(grad, b.grad) {
					errs <- "Backward differs"
					return
				}
				out64, err := l.Forward64(promote(b.input), b.target, c)
				if err != nil {
					errs <- err.Error()
					return
				}
				for i := range out64 {
					if !sameBits64(out64[i], b.out64[i]) {
						errs <- "Forward64 differs"
						return
					}
				}
				runtime.Gosched() // move between OS threads
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// Close while other goroutines compute: each call either succeeds with the right result or
// returns ErrClosed; nothing crashes (run with -race and cgocheck2 by test.sh). The workers
// share no synchronisation in their loops, so the race detector sees every unsynchronised
// access to the handle.
func TestCloseWhileInUse(t *testing.T) {
	l, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	input, target, _ := randomBatch(3, 64, 16)
	want, err := l.Forward(input, target, 16)
	if err != nil {
		t.Fatal(err)
	}
	const workers, calls = 8, 1000
	type tally struct{ ok, closed, bad int }
	results := make(chan tally, workers)
	var ready sync.WaitGroup
	ready.Add(workers)
	for range workers {
		go func() {
			var r tally
			out := make([]float32, 1)
			for i := range calls {
				// The Into forms go straight to the C call (the allocating ones check
				// for Close first, under the lock, which would order them after it).
				out[0] = 0
				err := l.ForwardInto(input, target, 16, out)
				switch {
				case err == nil && sameSlice32(out, want):
					r.ok++
				case errors.Is(err, ErrClosed):
					r.closed++
				default:
					r.bad++
				}
				if i == 10 {
					ready.Done()
				}
			}
			results <- r
		}()
	}
	ready.Wait() // every worker is under way
	l.Close()
	var total tally
	for range workers {
		r := <-results
		total.ok += r.ok
		total.closed += r.closed
		total.bad += r.bad
	}
	if total.bad != 0 || total.ok+total.closed != workers*calls || total.ok < workers*11 {
		t.Fatalf("%d succeeded, %d closed, %d wrong", total.ok, total.closed, total.bad)
	}
	t.Logf("%d calls succeeded, %d returned ErrClosed", total.ok, total.closed)
}

// Loss objects dropped without Close are released by the finalizer.
func TestFinalizerReleasesHandles(t *testing.T) {
	runtime.GC()
	before := liveHandles.Load()
	finalizedBefore := finalizedHandles.Load()
	const count = 2000
	input, target, up := randomBatch(11, 4, 5)
	for i := range count {
		l, err := New(Options{P: 1 + i%2, Margin: 1, Weight: []float32{1, 2, 3, 4, 5}, Reduction: Reduction(i % 3)})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.ForwardBackward(input, target, 5, up[:l.OutputLen(4)]); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			runtime.GC()
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for liveHandles.Load() > before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	if live := liveHandles.Load(); live > before {
		t.Fatalf("%d handles still live after GC (before: %d)", live, before)
	}
	if got := finalizedHandles.Load() - finalizedBefore; got < count {
		t.Fatalf("finalizer released %d handles, want at least %d", got, count)
	}
}

// Close removes the finalizer: a closed Loss is not released a second time.
func TestCloseDisarmsFinalizer(t *testing.T) {
	runtime.GC()
	finalizedBefore := finalizedHandles.Load()
	for range 100 {
		l, err := New(DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	for range 5 {
		runtime.GC()
		time.Sleep(2 * time.Millisecond)
	}
	if got := finalizedHandles.Load() - finalizedBefore; got != 0 {
		t.Fatalf("finalizer released %d closed handles", got)
	}
}
