package mml

/*
#include "mml.h"

// MML_STATUS_OUT_OF_MEMORY is new in mml.h; a header from before it still builds, with the
// code's value.
#ifndef MML_STATUS_OUT_OF_MEMORY
#define MML_STATUS_OUT_OF_MEMORY 7
#endif
*/
import "C"

import (
	"errors"
	"fmt"
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
)

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
	// Msg says what was wrong, e.g. "target[3] = 12 is outside [0, 10)".
	Msg string
	// Row and Target, for StatusTargetOutOfRange only: the first row whose target is
	// outside [0, c), and that target.
	Row    int
	Target int64

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
