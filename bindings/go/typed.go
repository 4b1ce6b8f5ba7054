package mml

/*
#include "mml.h"
*/
import "C"

// Score is an element type mml takes as scores: float32, float64, BFloat16 or Float16.
type Score interface {
	float32 | float64 | BFloat16 | Float16
}

// Label is an element type mml takes as targets: int64 or int32 (the same range checks).
type Label interface {
	int64 | int32
}

// Real is the type of the loss and of the upstream gradient: float64 for float64 scores,
// float32 for every other score type.
type Real interface {
	float32 | float64
}

func dtypeOf[T Score | Label]() C.uint32_t {
	var zero T
	switch any(zero).(type) {
	case float32:
		return C.MML_DTYPE_FLOAT32
	case float64:
		return C.MML_DTYPE_FLOAT64
	case BFloat16:
		return C.MML_DTYPE_BFLOAT16
	case Float16:
		return C.MML_DTYPE_FLOAT16
	case int64:
		return C.MML_DTYPE_INT64
	default: // int32
		return C.MML_DTYPE_INT32
	}
}

// lossDtype is the loss's dtype for scores of dtype dt.
func lossDtype(dt C.uint32_t) C.uint32_t {
	if dt == C.MML_DTYPE_FLOAT64 {
		return C.MML_DTYPE_FLOAT64
	}
	return C.MML_DTYPE_FLOAT32
}

func dtypeName(dt C.uint32_t) string {
	switch dt {
	case C.MML_DTYPE_FLOAT32:
		return "float32"
	case C.MML_DTYPE_FLOAT64:
		return "float64"
	case C.MML_DTYPE_BFLOAT16:
		return "BFloat16"
	case C.MML_DTYPE_FLOAT16:
		return "Float16"
	case C.MML_DTYPE_INT64:
		return "int64"
	}
	return "int32"
}

// The generic forms below take every score type S (float32, float64, BFloat16, Float16) and
// both target types T (int64, int32), n = len(target) samples of c scores (n·c values,
// row-major). R, the loss's and gradOutput's type, must be float64 for float64 scores and
// float32 otherwise (else ErrInvalidArgument). The gradient G is S, or float32 for 16-bit
// scores (the float32 gradient, not rounded); mml refuses any other (ErrUnsupportedTensor).
// The allocating forms return the gradient as S: for 16-bit scores the float32 gradient
// rounded to nearest even, as PyTorch's autocast returns it. Name R when it cannot be
// inferred: mml.Forward[float32](loss, scores, target, c).

// ForwardInto writes the loss into output (OutputLen(n) values).
func ForwardInto[S Score, T Label, R Real](l *Loss, input []S, target []T, c int, output []R) error {
	return call[S, T, R, S](l, "ForwardInto", kForward, input, target, c, nil, output, nil)
}

// Forward returns the loss: n values for ReductionNone, else one.
func Forward[R Real, S Score, T Label](l *Loss, input []S, target []T, c int) ([]R, error) {
	if err := precheck(l, "Forward", input, len(target), c); err != nil {
		return nil, err
	}
	out := make([]R, l.OutputLen(len(target)))
	if err := call[S, T, R, S](l, "Forward", kForward, input, target, c, nil, out, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// BackwardInto writes the gradient with respect to input into gradInput (n·c values of S, or
// float32 for 16-bit scores), given the upstream gradient gradOutput (OutputLen(n) values).
func BackwardInto[S Score, T Label, R Real, G Score](l *Loss, input []S, target []T, c int, gradOutput []R, gradInput []G) error {
	return call(l, "BackwardInto", kBackward, input, target, c, gradOutput, nil, gradInput)
}

// Backward returns the gradient with respect to input (n·c values of S).
func Backward[R Real, S Score, T Label](l *Loss, input []S, target []T, c int, gradOutput []R) ([]S, error) {
	if err := precheck(l, "Backward", input, len(target), c); err != nil {
		return nil, err
	}
	gi := make([]S, len(input))
	if err := call(l, "Backward", kBackward, input, target, c, gradOutput, nil, gi); err != nil {
		return nil, err
	}
	return gi, nil
}

// ForwardBackwardInto computes the loss and its gradient in one pass, bit-identical to
// ForwardInto followed by BackwardInto.
func ForwardBackwardInto[S Score, T Label, R Real, G Score](l *Loss, input []S, target []T, c int, gradOutput, output []R, gradInput []G) error {
	return call(l, "ForwardBackwardInto", kForwardBackward, input, target, c, gradOutput, output, gradInput)
}

// ForwardBackward returns the loss and its gradient (as S), computed in one pass.
func ForwardBackward[R Real, S Score, T Label](l *Loss, input []S, target []T, c int, gradOutput []R) (output []R, gradInput []S, err error) {
	if err := precheck(l, "ForwardBackward", input, len(target), c); err != nil {
		return nil, nil, err
	}
	out := make([]R, l.OutputLen(len(target)))
	gi := make([]S, len(input))
	if err := call(l, "ForwardBackward", kForwardBackward, input, target, c, gradOutput, out, gi); err != nil {
		return nil, nil, err
	}
	return out, gi, nil
}
