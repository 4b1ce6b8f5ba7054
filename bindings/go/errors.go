package mml

/*
#include "mml.h"
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"
)

// Status is a status code of the C library (MML_STATUS_*).
type Status uint32

// The C library's status codes.
const (
	StatusOK               Status = C.MML_STATUS_OK
	StatusNullPointer      Status = C.MML_STATUS_NULL_POINTER
	StatusInvalidArgument  Status = C.MML_STATUS_INVALID_ARGUMENT
	StatusShapeMismatch    Status = C.MML_STATUS_SHAPE_MISMATCH
	StatusTargetOutOfRange Status = C.MML_STATUS_TARGET_OUT_OF_RANGE
	StatusAliasedBuffers   Status = C.MML_STATUS_ALIASED_BUFFERS
	StatusInternalError    Status = C.MML_STATUS_INTERNAL_ERROR
	StatusOutOfMemory      Status = C.MML_STATUS_OUT_OF_MEMORY
	// StatusUnsupportedTensor: a dtype mml does not take for that role (a gradient type
	// that does not go with the scores', for example).
	StatusUnsupportedTensor Status = C.MML_STATUS_UNSUPPORTED_TENSOR
	// StatusInvalidLayout: a pitch or stride that overflows, or a pitch below c.
	StatusInvalidLayout Status = C.MML_STATUS_INVALID_LAYOUT
)

// Argument is the argument a failure is about (MML_ARG_*, mml's MmlError.argument).
type Argument uint32

// The arguments mml names in its errors.
const (
	ArgNone       Argument = C.MML_ARG_NONE
	ArgLoss       Argument = C.MML_ARG_LOSS
	ArgInput      Argument = C.MML_ARG_INPUT
	ArgTarget     Argument = C.MML_ARG_TARGET
	ArgWeight     Argument = C.MML_ARG_WEIGHT
	ArgOutput     Argument = C.MML_ARG_OUTPUT
	ArgGradOutput Argument = C.MML_ARG_GRAD_OUTPUT
	ArgGradInput  Argument = C.MML_ARG_GRAD_INPUT
	ArgP          Argument = C.MML_ARG_P
	ArgReduction  Argument = C.MML_ARG_REDUCTION
	ArgClasses    Argument = C.MML_ARG_CLASSES
	ArgDtype      Argument = C.MML_ARG_DTYPE
	ArgError      Argument = C.MML_ARG_ERROR
)

// String returns the argument's name as mml's messages spell it ("grad_output", ...).
func (a Argument) String() string {
	switch a {
	case ArgNone:
		return "none"
	case ArgLoss:
		return "loss"
	case ArgInput:
		return "input"
	case ArgTarget:
		return "target"
	case ArgWeight:
		return "weight"
	case ArgOutput:
		return "output"
	case ArgGradOutput:
		return "grad_output"
	case ArgGradInput:
		return "grad_input"
	case ArgP:
		return "p"
	case ArgReduction:
		return "reduction"
	case ArgClasses:
		return "classes"
	case ArgDtype:
		return "dtype"
	case ArgError:
		return "error"
	}
	return fmt.Sprintf("Argument(%d)", uint32(a))
}

// String returns the C library's text for the status (mml_status_message).
func (s Status) String() string {
	return C.GoString(C.mml_status_message(C.uint32_t(s)))
}

// Sentinel errors: every *Error matches exactly one of them with errors.Is.
var (
	ErrNullPointer      = errors.New("mml: null pointer")
	ErrInvalidArgument  = errors.New("mml: invalid argument")
	ErrShapeMismatch    = errors.New("mml: shape mismatch")
	ErrTargetOutOfRange = errors.New("mml: target out of range")
	ErrAliasedBuffers   = errors.New("mml: aliased buffers")
	ErrInternal         = errors.New("mml: internal error")
	// ErrOutOfMemory: the library could not allocate memory (in New, for its copy of the
	// weights; in a large call, for the call's buffers). Nothing was written to the outputs.
	ErrOutOfMemory = errors.New("mml: out of memory")
	// ErrUnsupportedTensor: a dtype mml does not take (StatusUnsupportedTensor).
	ErrUnsupportedTensor = errors.New("mml: unsupported tensor")
	// ErrInvalidLayout: a pitch or stride mml refuses (StatusInvalidLayout).
	ErrInvalidLayout = errors.New("mml: invalid layout")
	// ErrClosed is returned by every computing method of a Loss that was closed (through
	// any copy of it), of a nil *Loss and of the zero Loss, before any argument is looked at.
	// It has no C status.
	ErrClosed = errors.New("mml: loss is closed")
)

// Error is the error returned by every function of the package.
type Error struct {
	// Op is the function or method that failed, e.g. "New", "Forward64", "SetNumThreads".
	Op string
	// Status is the C library's status. Errors the binding finds itself before calling C
	// carry the status C would have given (an input of the wrong length is
	// StatusShapeMismatch); ErrClosed, which C never reports, has StatusOK.
	Status Status
	// Msg says what was wrong, in mml's own words for every failure the library reports
	// (e.g. "target[3] = 12 is outside [0, 10)", "grad_output has 2 elements, expected 1").
	Msg string
	// Row and Target, for StatusTargetOutOfRange only: the first row whose target is
	// outside [0, c), and that target.
	Row    int
	Target int64
	// Argument is the argument the failure is about; Expected and Actual the expected and
	// actual lengths (or values) where one is wrong, else 0. From mml's MmlError.
	Argument Argument
	Expected uint64
	Actual   uint64

	sentinel error
}

// Error returns "mml: Op: Msg".
func (e *Error) Error() string {
	return "mml: " + e.Op + ": " + e.Msg
}

// Unwrap returns the sentinel error matching the status (ErrClosed for a closed Loss).
func (e *Error) Unwrap() error { return e.sentinel }

func sentinelFor(s Status) error {
	switch s {
	case StatusNullPointer:
		return ErrNullPointer
	case StatusInvalidArgument:
		return ErrInvalidArgument
	case StatusShapeMismatch:
		return ErrShapeMismatch
	case StatusTargetOutOfRange:
		return ErrTargetOutOfRange
	case StatusAliasedBuffers:
		return ErrAliasedBuffers
	case StatusOutOfMemory:
		return ErrOutOfMemory
	case StatusUnsupportedTensor:
		return ErrUnsupportedTensor
	case StatusInvalidLayout:
		return ErrInvalidLayout
	default:
		// StatusInternalError, and any code this binding does not know.
		return ErrInternal
	}
}

func newError(op string, s Status, format string, args ...any) *Error {
	return &Error{Op: op, Status: s, Msg: fmt.Sprintf(format, args...), sentinel: sentinelFor(s)}
}

func closedError(op string) *Error {
	return &Error{Op: op, Status: StatusOK, Msg: "the Loss is closed", sentinel: ErrClosed}
}

// libraryError is the *Error for what mml reported in its MmlError: its status, its argument,
// lengths, bad row and value, and its message.
func libraryError(op string, st Status, e *C.MmlError) *Error {
	raw := C.GoBytes(unsafe.Pointer(&e.message[0]), C.int(len(e.message)))
	if i := bytes.IndexByte(raw, 0); i >= 0 {
		raw = raw[:i]
	}
	msg := string(raw)
	if msg == "" {
		msg = st.String()
	}
	err := &Error{Op: op, Status: st, Msg: msg, Argument: Argument(e.argument),
		Expected: uint64(e.expected), Actual: uint64(e.actual), sentinel: sentinelFor(st)}
	if st == StatusTargetOutOfRange {
		err.Row, err.Target = int(e.row), int64(e.value)
	}
	return err
}
