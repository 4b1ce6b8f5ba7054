package mml

/*
#include <stdint.h>
#include <stddef.h>
#include "mml.h"

static const char *mml_go_header_version(void) { return MML_VERSION_STRING; }
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// ABI and limits of the header this package was compiled against.
const (
	// HeaderABIVersion is MML_ABI_VERSION of the header; ABIVersion gives the library's.
	HeaderABIVersion = C.MML_ABI_VERSION
	// MaxThreads is the largest count SetNumThreads accepts.
	MaxThreads = C.MML_MAX_THREADS
)

// Reduction says how the per-sample losses are combined.
type Reduction int

// Reductions. The zero value is ReductionMean, PyTorch's default.
const (
	ReductionMean Reduction = iota // the mean of the per-sample losses: one value
	ReductionNone                  // the per-sample losses: n values
	ReductionSum                   // the sum of the per-sample losses: one value
)

// String returns "mean", "none" or "sum" (PyTorch's names), or "Reduction(k)".
func (r Reduction) String() string {
	switch r {
	case ReductionMean:
		return "mean"
	case ReductionNone:
		return "none"
	case ReductionSum:
		return "sum"
	}
	return fmt.Sprintf("Reduction(%d)", int(r))
}

// ParseReduction turns PyTorch's names "none", "mean" and "sum" into a Reduction.
func ParseReduction(s string) (Reduction, error) {
	switch s {
	case "mean":
		return ReductionMean, nil
	case "none":
		return ReductionNone, nil
	case "sum":
		return ReductionSum, nil
	}
	return 0, newError("ParseReduction", StatusInvalidArgument, "unknown reduction %q (want none, mean or sum)", s)
}

// cReduction maps a Reduction to MML_REDUCTION_*; unknown values map to a code the C
// library rejects, so that it makes the decision.
func (r Reduction) c() C.uint32_t {
	switch r {
	case ReductionMean:
		return C.MML_REDUCTION_MEAN
	case ReductionNone:
		return C.MML_REDUCTION_NONE
	case ReductionSum:
		return C.MML_REDUCTION_SUM
	}
	return math.MaxUint32
}

// Options configure a Loss.
//
// The zero value is usable: P == 0 means 1, the zero Reduction is ReductionMean, a nil or
// empty Weight means no weights. Margin is used as given (0 in the zero value); use
// DefaultOptions for PyTorch's defaults.
type Options struct {
	P      int     // the exponent, 1 or 2; 0 means 1
	Margin float64 // the margin; converted to float32 for the float32 methods
	// Weight holds per-class weights (copied by New); if set, every call must have
	// c == len(Weight). nil or empty: no weights.
	Weight    []float32
	Reduction Reduction
	// Weight64 holds per-class weights in float64 (mml_create_f64): the float64 methods use
	// them as given, the float32 and 16-bit ones round them to float32. Set Weight or
	// Weight64, not both.
	Weight64 []float64
}

// DefaultOptions returns PyTorch's defaults: p 1, margin 1, no weights, mean.
func DefaultOptions() Options {
	return Options{P: 1, Margin: 1, Reduction: ReductionMean}
}

// Loss is a configured multi-margin loss owning a C handle. It is safe for concurrent use
// by multiple goroutines. Release it with Close.
//
// A Loss value is a reference to its handle: a copy of it (v := *l) shares the handle and its
// closed state with the original, so closing either closes both, and the handle is released
// once. The zero Loss is closed.
type Loss struct {
	h *handle // shared by every copy; nil in the zero Loss

	p         int
	margin    float64
	weight    []float32 // never written after New
	weight64  []float64 // never written after New
	reduction Reduction
}

// handle owns one C MmlLoss. Every copy of a Loss points to the same handle, so there is one
// closed state and one mml_destroy; the finalizer is attached to it.
type handle struct {
	mu sync.RWMutex // read-held by calls, write-held by Close and the finalizer
	c  *C.MmlLoss   // nil once closed
}

// Counters of live handles and handles released by the finalizer (tests read them).
var (
	liveHandles      atomic.Int64
	finalizedHandles atomic.Int64
)

// New creates a Loss. It fails with ErrInvalidArgument when P is not 0, 1 or 2 or the
// reduction is unknown.
func New(opts Options) (*Loss, error) {
	p := opts.P
	if p == 0 {
		p = 1
	}
	cp := C.uint32_t(0) // rejected by C: p outside the uint32 range is invalid anyway
	if p > 0 && uint64(p) <= math.MaxUint32 {
		cp = C.uint32_t(p)
	}
	if len(opts.Weight) > 0 && len(opts.Weight64) > 0 {
		return nil, newError("New", StatusInvalidArgument, "set Weight or Weight64, not both")
	}
	weight := append([]float32(nil), opts.Weight...)
	weight64 := append([]float64(nil), opts.Weight64...)
	var h *C.MmlLoss
	var st Status
	if len(weight64) > 0 {
		st = Status(C.mml_create_f64(cp, C.double(opts.Margin), (*C.double)(ptr(weight64)), C.size_t(len(weight64)),
			opts.Reduction.c(), &h))
	} else {
		st = Status(C.mml_create(cp, C.double(opts.Margin), (*C.float)(ptr(weight)), C.size_t(len(weight)),
			opts.Reduction.c(), &h))
	}
	if st != StatusOK {
		var msg string
		switch {
		case st == StatusInvalidArgument && p != 1 && p != 2:
			msg = fmt.Sprintf("p = %d, must be 1 or 2", opts.P)
		case st == StatusInvalidArgument && opts.Reduction.c() == math.MaxUint32:
			msg = fmt.Sprintf("unknown reduction %v", opts.Reduction)
		default:
			msg = st.String()
		}
		return nil, newError("New", st, "%s", msg)
	}
	liveHandles.Add(1)
	hd := &handle{c: h}
	runtime.SetFinalizer(hd, (*handle).finalize)
	return &Loss{h: hd, p: p, margin: opts.Margin, weight: weight, weight64: weight64, reduction: opts.Reduction}, nil
}

// Close releases the C handle. It is idempotent, waits for calls in progress, and always
// returns nil; every later call on the Loss, or on any copy of it, returns ErrClosed.
func (l *Loss) Close() error {
	if l == nil || l.h == nil {
		return nil
	}
	h := l.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.c != nil {
		C.mml_destroy(h.c)
		h.c = nil
		liveHandles.Add(-1)
		runtime.SetFinalizer(h, nil)
	}
	return nil
}

// finalize releases a handle that no Loss refers to any more (the safety net for a missing
// Close).
func (h *handle) finalize() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.c != nil {
		C.mml_destroy(h.c)
		h.c = nil
		liveHandles.Add(-1)
		finalizedHandles.Add(1)
	}
}

// acquire read-locks the handle of an open Loss and returns it; the caller releases it with
// h.mu.RUnlock. On a nil, zero or closed Loss it returns nil and holds nothing.
func (l *Loss) acquire() *handle {
	if l == nil || l.h == nil {
		return nil
	}
	h := l.h
	h.mu.RLock()
	if h.c == nil {
		h.mu.RUnlock()
		return nil
	}
	return h
}

// P returns the exponent (1 or 2).
func (l *Loss) P() int { return l.p }

// Margin returns the margin as given to New.
func (l *Loss) Margin() float64 { return l.margin }

// Weight returns a copy of the class weights, nil when there are none.
func (l *Loss) Weight() []float32 {
	if len(l.weight) == 0 {
		return nil
	}
	return append([]float32(nil), l.weight...)
}

// Weight64 returns a copy of the float64 class weights (Options.Weight64), nil when there are
// none.
func (l *Loss) Weight64() []float64 {
	if len(l.weight64) == 0 {
		return nil
	}
	return append([]float64(nil), l.weight64...)
}

// Reduction returns the reduction.
func (l *Loss) Reduction() Reduction { return l.reduction }

// OutputLen returns the length of the loss (and of grad_output) for n samples: n for
// ReductionNone, else 1.
func (l *Loss) OutputLen(n int) int {
	if l.reduction == ReductionNone {
		return n
	}
	return 1
}

// ptr returns the address of s's first element, or nil for an empty slice.
func ptr[T any](s []T) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}

type kind int

const (
	kForward kind = iota
	kBackward
	kForwardBackward
)

type float interface{ float32 | float64 }

// run is the float32/float64, int64-target call of the methods below: the generic call.
func run[T float](l *Loss, op string, k kind, input []T, target []int64, c int, gradOutput, output, gradInput []T) error {
	return call(l, op, k, input, target, c, gradOutput, output, gradInput)
}

// call checks in Go what must hold before pointers go to C (input, and gradInput when the call
// writes one, hold exactly n·c values; the loss type goes with the scores'), then makes one
// typed C call (mml_forward_typed etc.) with an MmlError, and turns a failing status into an
// *Error carrying mml's detail. A closed Loss is reported before anything else is looked at.
func call[S Score, T Label, R Real, G Score](l *Loss, op string, k kind, input []S, target []T, c int, gradOutput, output []R, gradInput []G) error {
	h := l.acquire()
	if h == nil {
		return closedError(op)
	}
	defer h.mu.RUnlock()
	if err := checkShape(op, input, len(target), c); err != nil {
		return err
	}
	n := len(target)
	if k != kForward && len(gradInput) != n*c {
		e := newError(op, StatusShapeMismatch, "grad_input has %d elements, expected %d", len(gradInput), n*c)
		e.Argument, e.Expected, e.Actual = ArgGradInput, uint64(n*c), uint64(len(gradInput))
		return e
	}
	dt, rt := dtypeOf[S](), dtypeOf[R]()
	if want := lossDtype(dt); rt != want {
		e := newError(op, StatusInvalidArgument, "the loss of %s scores is %s, not %s", dtypeName(dt), dtypeName(want), dtypeName(rt))
		e.Argument = ArgOutput
		return e
	}
	in, tg, up, out, gi := ptr(input), ptr(target), ptr(gradOutput), ptr(output), ptr(gradInput)
	tdt, gdt := dtypeOf[T](), dtypeOf[G]()
	cn, cc := C.size_t(n), C.size_t(c)
	upN, outN := C.size_t(len(gradOutput)), C.size_t(len(output))
	var detail C.MmlError
	var st C.uint32_t
	switch k {
	case kForward:
		st = C.mml_forward_typed(h.c, dt, in, cc, tdt, tg, cn, cc, out, outN, &detail)
	case kBackward:
		st = C.mml_backward_typed(h.c, dt, in, cc, tdt, tg, cn, cc, up, upN, gdt, gi, cc, &detail)
	default:
		st = C.mml_forward_backward_typed(h.c, dt, in, cc, tdt, tg, cn, cc, up, upN, out, outN, gdt, gi, cc, &detail)
	}
	runtime.KeepAlive(h)
	if st == C.MML_STATUS_OK {
		return nil
	}
	return libraryError(op, Status(st), &detail)
}

// checkTargets returns nil when every target is in [0, c), else an *Error naming the first
// bad row.
func checkTargets(op string, target []int64, c int) error {
	if c < 0 {
		return newError(op, StatusInvalidArgument, "c = %d is negative", c)
	}
	var row C.size_t
	var value C.int64_t
	st := Status(C.mml_check_targets((*C.int64_t)(ptr(target)), C.size_t(len(target)), C.size_t(c), &row, &value))
	switch st {
	case StatusOK:
		return nil
	case StatusTargetOutOfRange:
		e := newError(op, st, "target[%d] = %d is outside [0, %d)", int(row), int64(value), c)
		e.Row, e.Target = int(row), int64(value)
		return e
	case StatusInvalidArgument:
		if c == 0 {
			return newError(op, st, "c = 0: there must be at least one class")
		}
	}
	return newError(op, st, "%s", st)
}

// CheckTargets returns nil when every target is in [0, c), else an error matching
// ErrTargetOutOfRange whose Row and Target name the first bad one. c must be at least 1.
func CheckTargets(target []int64, c int) error {
	return checkTargets("CheckTargets", target, c)
}

func mulInt(a, b int) (int, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	p := a * b
	if p/b != a || p < 0 {
		return 0, false
	}
	return p, true
}

// ForwardInto writes the loss of the n = len(target) samples of c scores in input (n·c
// values, row-major) into output, which must have OutputLen(n) elements.
func (l *Loss) ForwardInto(input []float32, target []int64, c int, output []float32) error {
	return run(l, "ForwardInto", kForward, input, target, c, nil, output, nil)
}

// Forward returns the loss of the n = len(target) samples of c scores in input (n·c
// values, row-major): n values for ReductionNone, else one.
func (l *Loss) Forward(input []float32, target []int64, c int) ([]float32, error) {
	if err := precheck(l, "Forward", input, len(target), c); err != nil {
		return nil, err
	}
	out := make([]float32, l.OutputLen(len(target)))
	if err := run(l, "Forward", kForward, input, target, c, nil, out, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// BackwardInto writes the gradient of the loss with respect to input into gradInput (n·c
// elements), given the upstream gradient gradOutput (OutputLen(n) elements).
func (l *Loss) BackwardInto(input []float32, target []int64, c int, gradOutput, gradInput []float32) error {
	return run(l, "BackwardInto", kBackward, input, target, c, gradOutput, nil, gradInput)
}

// Backward returns the gradient of the loss with respect to input (n·c values), given the
// upstream gradient gradOutput (OutputLen(n) values).
func (l *Loss) Backward(input []float32, target []int64, c int, gradOutput []float32) ([]float32, error) {
	if err := precheck(l, "Backward", input, len(target), c); err != nil {
		return nil, err
	}
	gi := make([]float32, len(input))
	if err := run(l, "Backward", kBackward, input, target, c, gradOutput, nil, gi); err != nil {
		return nil, err
	}
	return gi, nil
}

// ForwardBackwardInto computes the loss and its gradient in one pass, bit-identical to
// ForwardInto followed by BackwardInto.
func (l *Loss) ForwardBackwardInto(input []float32, target []int64, c int, gradOutput, output, gradInput []float32) error {
	return run(l, "ForwardBackwardInto", kForwardBackward, input, target, c, gradOutput, output, gradInput)
}

// ForwardBackward returns the loss and its gradient, computed in one pass.
func (l *Loss) ForwardBackward(input []float32, target []int64, c int, gradOutput []float32) (output, gradInput []float32, err error) {
	if err := precheck(l, "ForwardBackward", input, len(target), c); err != nil {
		return nil, nil, err
	}
	out := make([]float32, l.OutputLen(len(target)))
	gi := make([]float32, len(input))
	if err := run(l, "ForwardBackward", kForwardBackward, input, target, c, gradOutput, out, gi); err != nil {
		return nil, nil, err
	}
	return out, gi, nil
}

// Forward64Into is ForwardInto in float64 (weights promoted, margin used as is).
func (l *Loss) Forward64Into(input []float64, target []int64, c int, output []float64) error {
	return run(l, "Forward64Into", kForward, input, target, c, nil, output, nil)
}

// Forward64 is Forward in float64 (weights promoted, margin used as is).
func (l *Loss) Forward64(input []float64, target []int64, c int) ([]float64, error) {
	if err := precheck(l, "Forward64", input, len(target), c); err != nil {
		return nil, err
	}
	out := make([]float64, l.OutputLen(len(target)))
	if err := run(l, "Forward64", kForward, input, target, c, nil, out, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// Backward64Into is BackwardInto in float64.
func (l *Loss) Backward64Into(input []float64, target []int64, c int, gradOutput, gradInput []float64) error {
	return run(l, "Backward64Into", kBackward, input, target, c, gradOutput, nil, gradInput)
}

// Backward64 is Backward in float64.
func (l *Loss) Backward64(input []float64, target []int64, c int, gradOutput []float64) ([]float64, error) {
	if err := precheck(l, "Backward64", input, len(target), c); err != nil {
		return nil, err
	}
	gi := make([]float64, len(input))
	if err := run(l, "Backward64", kBackward, input, target, c, gradOutput, nil, gi); err != nil {
		return nil, err
	}
	return gi, nil
}

// ForwardBackward64Into is ForwardBackwardInto in float64.
func (l *Loss) ForwardBackward64Into(input []float64, target []int64, c int, gradOutput, output, gradInput []float64) error {
	return run(l, "ForwardBackward64Into", kForwardBackward, input, target, c, gradOutput, output, gradInput)
}

// ForwardBackward64 is ForwardBackward in float64.
func (l *Loss) ForwardBackward64(input []float64, target []int64, c int, gradOutput []float64) (output, gradInput []float64, err error) {
	if err := precheck(l, "ForwardBackward64", input, len(target), c); err != nil {
		return nil, nil, err
	}
	out := make([]float64, l.OutputLen(len(target)))
	gi := make([]float64, len(input))
	if err := run(l, "ForwardBackward64", kForwardBackward, input, target, c, gradOutput, out, gi); err != nil {
		return nil, nil, err
	}
	return out, gi, nil
}

// precheck runs the Go-side checks before an allocating method allocates its outputs, so
// that a closed Loss or a bad shape fails without allocating n·c values. A closed Loss is
// reported first.
func precheck[T Score](l *Loss, op string, input []T, n, c int) error {
	h := l.acquire()
	if h == nil {
		return closedError(op)
	}
	h.mu.RUnlock()
	return checkShape(op, input, n, c)
}

// checkShape checks in Go what must hold before pointers go to C: c is not negative, n·c
// values fit in memory (else ErrInvalidArgument, the C library's status for a size overflow)
// and input holds exactly n·c values (else ErrShapeMismatch).
func checkShape[T Score](op string, input []T, n, c int) error {
	if c < 0 {
		e := newError(op, StatusInvalidArgument, "c = %d is negative", c)
		e.Argument = ArgClasses
		return e
	}
	var zero T
	nc, ok := mulInt(n, c)
	if !ok || nc > math.MaxInt/int(unsafe.Sizeof(zero)) {
		e := newError(op, StatusInvalidArgument, "n·c = %d·%d overflows the address space", n, c)
		e.Argument = ArgInput
		return e
	}
	if len(input) != nc {
		e := newError(op, StatusShapeMismatch, "input has %d elements, expected n·c = %d·%d = %d", len(input), n, c, nc)
		e.Argument, e.Expected, e.Actual = ArgInput, uint64(nc), uint64(len(input))
		return e
	}
	return nil
}

// SetNumThreads sets how many threads (the calling one included) large calls use,
// process-wide; 0 restores the default (MML_NUM_THREADS from the environment, else the
// available parallelism). Above MaxThreads: ErrInvalidArgument. Results never depend on it.
func SetNumThreads(n int) error {
	if n < 0 {
		return newError("SetNumThreads", StatusInvalidArgument, "thread count %d is negative", n)
	}
	st := Status(C.mml_set_num_threads(C.size_t(n)))
	if st == StatusOK {
		return nil
	}
	if st == StatusInvalidArgument && n > MaxThreads {
		return newError("SetNumThreads", st, "thread count %d is above the limit %d", n, MaxThreads)
	}
	return newError("SetNumThreads", st, "%s", st)
}

// NumThreads returns how many threads (the calling one included) large calls use.
func NumThreads() int { return int(C.mml_get_num_threads()) }

// Version returns the library's version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.mml_version()) }

// HeaderVersion returns MML_VERSION_STRING of the header this package was compiled against;
// it differs from Version when the library loaded at run time is another version.
func HeaderVersion() string { return C.GoString(C.mml_go_header_version()) }

// ABIVersion returns the library's MML_ABI_VERSION.
func ABIVersion() int { return int(C.mml_abi_version()) }
