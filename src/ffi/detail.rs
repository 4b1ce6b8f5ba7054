//! Error detail for C callers: [`MmlError`], filled from mml's own checks (a [`Failure`]: the
//! status, the argument it is about, and mml's [`Error`] or the C layer's own reason), written
//! through a caller-owned pointer. No thread-local state: the detail of a call goes to the
//! `MmlError` that call was given.

use std::ffi::c_char;
use std::fmt;

use super::status::{
    MML_STATUS_ALIASED_BUFFERS, MML_STATUS_INTERNAL_ERROR, MML_STATUS_INVALID_ARGUMENT,
    MML_STATUS_INVALID_LAYOUT, MML_STATUS_NULL_POINTER, MML_STATUS_OK,
    MML_STATUS_UNSUPPORTED_TENSOR, Status, status_of,
};
use crate::error::{Buffer, Error};

/// `MmlError.argument`: the status is about no argument in particular (success, out of memory,
/// internal error).
pub const MML_ARG_NONE: u32 = 0;
/// The loss handle.
pub const MML_ARG_LOSS: u32 = 1;
/// The scores.
pub const MML_ARG_INPUT: u32 = 2;
/// The class indices.
pub const MML_ARG_TARGET: u32 = 3;
/// The loss's per-class weights (their length against `c`).
pub const MML_ARG_WEIGHT: u32 = 4;
/// The loss output.
pub const MML_ARG_OUTPUT: u32 = 5;
/// The upstream gradient.
pub const MML_ARG_GRAD_OUTPUT: u32 = 6;
/// The gradient with respect to the scores.
pub const MML_ARG_GRAD_INPUT: u32 = 7;
/// `p` of `mml_create`.
pub const MML_ARG_P: u32 = 8;
/// The reduction of `mml_create`.
pub const MML_ARG_REDUCTION: u32 = 9;
/// The number of classes `c`.
pub const MML_ARG_CLASSES: u32 = 10;
/// A dtype argument of a typed call (`dtype`, `target_dtype` or `grad_dtype`; the message says
/// which).
pub const MML_ARG_DTYPE: u32 = 11;
/// The `MmlError` itself (it overlaps a buffer of the call; then it is not written).
pub const MML_ARG_ERROR: u32 = 12;

/// Bytes of `MmlError.message`, its terminating NUL included.
pub const MML_ERROR_MESSAGE_LEN: usize = 256;

/// The detail of a call's status, written by the call into a caller-owned struct (pass NULL for
/// none). Every field is written, on success too (status `MML_STATUS_OK`, message "ok").
#[repr(C)]
pub struct MmlError {
    /// The status the call returned.
    pub status: u32,
    /// What the status is about: `MML_ARG_*`.
    pub argument: u32,
    /// The expected length, count or value where one is wrong, else 0.
    pub expected: u64,
    /// The actual one, else 0.
    pub actual: u64,
    /// The first bad target's row (`MML_STATUS_TARGET_OUT_OF_RANGE`), else 0.
    pub row: u64,
    /// That target's value, else 0.
    pub value: i64,
    /// A NUL-terminated English sentence, mml's own text for the error; always set.
    pub message: [c_char; MML_ERROR_MESSAGE_LEN],
}

/// A role in a call, for messages and `MmlError.argument`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    Loss,
    Input,
    Target,
    Output,
    GradOutput,
    GradInput,
    Error,
}

impl Arg {
    fn code(self) -> u32 {
        match self {
            Arg::Loss => MML_ARG_LOSS,
            Arg::Input => MML_ARG_INPUT,
            Arg::Target => MML_ARG_TARGET,
            Arg::Output => MML_ARG_OUTPUT,
            Arg::GradOutput => MML_ARG_GRAD_OUTPUT,
            Arg::GradInput => MML_ARG_GRAD_INPUT,
            Arg::Error => MML_ARG_ERROR,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Arg::Loss => "loss",
            Arg::Input => "input",
            Arg::Target => "target",
            Arg::Output => "output",
            Arg::GradOutput => "grad_output",
            Arg::GradInput => "grad_input",
            Arg::Error => "error",
        }
    }
}

fn buffer_code(buffer: Buffer) -> u32 {
    match buffer {
        Buffer::Input => MML_ARG_INPUT,
        Buffer::Target => MML_ARG_TARGET,
        Buffer::Weight => MML_ARG_WEIGHT,
        Buffer::Output => MML_ARG_OUTPUT,
        Buffer::GradOutput => MML_ARG_GRAD_OUTPUT,
        Buffer::GradInput => MML_ARG_GRAD_INPUT,
    }
}

/// Why the C layer refused a call before mml's safe API saw it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Reason {
    /// mml's own error, from the safe API (or the same checks run by the C layer).
    Mml(Error),
    /// A pointer is NULL while its role needs memory.
    Null(Arg),
    /// A pointer is not aligned for its element type (`align` bytes).
    Misaligned(Arg, usize),
    /// A buffer's extent in bytes does not fit the address space.
    TooLarge(Arg),
    /// An output overlaps another buffer (or itself, through its strides).
    Aliased(Arg, Arg),
    /// A dtype code mml does not take for this role.
    Dtype { what: &'static str, code: u64 },
    /// A gradient dtype that does not go with the scores' dtype.
    GradDtype { scores: u32, grad: u32 },
    /// A tensor property mml does not take (DLPack: device, lanes, ndim).
    Tensor(Arg, String),
    /// A pitch or stride that overflows, or a layout refused.
    Layout(Arg, String),
    /// A shape that disagrees with the scores' (DLPack).
    Shape(Arg, String),
    /// Anything else, said in full.
    Other(String),
    /// A caught panic.
    Panic,
}

/// A refused call: its status, the argument it is about, the numbers, and the reason.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Failure {
    pub status: Status,
    pub argument: u32,
    pub expected: u64,
    pub actual: u64,
    pub reason: Reason,
}

impl Failure {
    pub fn new(status: Status, arg: Arg, reason: Reason) -> Failure {
        Failure {
            status,
            argument: arg.code(),
            expected: 0,
            actual: 0,
            reason,
        }
    }

    pub fn null(arg: Arg) -> Failure {
        Failure::new(MML_STATUS_NULL_POINTER, arg, Reason::Null(arg))
    }

    pub fn aliased(output: Arg, other: Arg) -> Failure {
        Failure::new(
            MML_STATUS_ALIASED_BUFFERS,
            output,
            Reason::Aliased(output, other),
        )
    }

    pub fn layout(arg: Arg, text: String) -> Failure {
        Failure::new(MML_STATUS_INVALID_LAYOUT, arg, Reason::Layout(arg, text))
    }

    pub fn tensor(arg: Arg, text: String) -> Failure {
        Failure::new(
            MML_STATUS_UNSUPPORTED_TENSOR,
            arg,
            Reason::Tensor(arg, text),
        )
    }

    pub fn dtype(what: &'static str, code: u64) -> Failure {
        Failure {
            status: MML_STATUS_UNSUPPORTED_TENSOR,
            argument: MML_ARG_DTYPE,
            expected: 0,
            actual: code,
            reason: Reason::Dtype { what, code },
        }
    }

    /// A status from a [`super::buffers::Raw`] check of `arg`.
    pub fn raw(status: Status, arg: Arg, align: usize) -> Failure {
        match status {
            MML_STATUS_NULL_POINTER => Failure::null(arg),
            MML_STATUS_INVALID_ARGUMENT if align > 0 => {
                Failure::new(status, arg, Reason::Misaligned(arg, align))
            }
            _ => Failure::new(status, arg, Reason::TooLarge(arg)),
        }
    }

    /// The target's row and value where the reason carries them.
    fn target(&self) -> (u64, i64) {
        match &self.reason {
            Reason::Mml(Error::TargetOutOfRange { row, target, .. }) => (*row as u64, *target),
            _ => (0, 0),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        let (argument, expected, actual) = match &error {
            Error::InvalidPower(p) => (MML_ARG_P, 0, u64::from(*p)),
            Error::NoClasses => (MML_ARG_CLASSES, 0, 0),
            Error::SizeOverflow { .. } => (MML_ARG_INPUT, 0, 0),
            Error::ShapeMismatch {
                buffer,
                expected,
                actual,
            } => (buffer_code(*buffer), *expected as u64, *actual as u64),
            Error::TargetOutOfRange { .. } => (MML_ARG_TARGET, 0, 0),
            Error::InvalidPitch { pitch, classes } => {
                (MML_ARG_INPUT, *classes as u64, *pitch as u64)
            }
            Error::OutOfMemory => (MML_ARG_NONE, 0, 0),
        };
        Failure {
            status: status_of(&error),
            argument,
            expected,
            actual,
            reason: Reason::Mml(error),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Mml(error) => error.fmt(f),
            Reason::Null(Arg::Loss) => write!(f, "loss is NULL"),
            Reason::Null(arg) => write!(f, "{} is NULL but holds elements", arg.name()),
            Reason::Misaligned(arg, align) => write!(
                f,
                "{} is not aligned to {align} bytes, its element type's alignment",
                arg.name()
            ),
            Reason::TooLarge(arg) => {
                write!(f, "{} does not fit in the address space", arg.name())
            }
            Reason::Aliased(out, other) if out == other => write!(
                f,
                "{} overlaps itself: its strides map two elements to one address",
                out.name()
            ),
            Reason::Aliased(Arg::Error, other) => write!(
                f,
                "the MmlError overlaps {}; it was not written either",
                other.name()
            ),
            Reason::Aliased(out, other) => {
                write!(f, "{} overlaps {}", out.name(), other.name())
            }
            Reason::Dtype { what, code } => {
                write!(f, "{what} {code} is not a dtype mml takes here")
            }
            Reason::GradDtype { scores, grad } => write!(
                f,
                "grad_dtype {} ({}) does not go with {} scores: give {}",
                grad,
                dtype_name(*grad),
                dtype_name(*scores),
                match *scores {
                    super::MML_DTYPE_BFLOAT16 | super::MML_DTYPE_FLOAT16 =>
                        "the scores' dtype or float32",
                    _ => "the scores' dtype",
                }
            ),
            Reason::Tensor(arg, text) | Reason::Layout(arg, text) | Reason::Shape(arg, text) => {
                write!(f, "{}: {text}", arg.name())
            }
            Reason::Other(text) => f.write_str(text),
            Reason::Panic => write!(
                f,
                "internal error in mml (a caught panic; please report it)"
            ),
        }
    }
}

/// A dtype code's name.
pub(crate) fn dtype_name(code: u32) -> &'static str {
    match code {
        super::MML_DTYPE_FLOAT32 => "float32",
        super::MML_DTYPE_FLOAT64 => "float64",
        super::MML_DTYPE_BFLOAT16 => "bfloat16",
        super::MML_DTYPE_FLOAT16 => "float16",
        super::MML_DTYPE_INT64 => "int64",
        super::MML_DTYPE_INT32 => "int32",
        _ => "unknown",
    }
}

/// A checked `MmlError *`: NULL (no detail wanted) or aligned (else the call is refused before
/// anything, the detail included, is written).
#[derive(Clone, Copy)]
pub(crate) struct Detail(*mut MmlError);

impl Detail {
    /// `MML_STATUS_INVALID_ARGUMENT` for a misaligned pointer (nothing can be written then).
    pub fn new(ptr: *mut MmlError) -> Result<Detail, Status> {
        if !ptr.is_null() && !ptr.is_aligned() {
            return Err(MML_STATUS_INVALID_ARGUMENT);
        }
        Ok(Detail(ptr))
    }

    /// Its bytes, for the overlap check.
    pub fn bytes(self) -> std::ops::Range<usize> {
        let start = self.0 as usize;
        if self.0.is_null() {
            start..start
        } else {
            start..start + size_of::<MmlError>()
        }
    }

    /// Writes the outcome of a call and returns its status. A detail that overlaps a buffer of
    /// the call is not written.
    pub fn report(self, outcome: Result<(), Failure>) -> Status {
        let status = match &outcome {
            Ok(()) => MML_STATUS_OK,
            Err(failure) => failure.status,
        };
        let skip = matches!(&outcome, Err(f) if matches!(f.reason, Reason::Aliased(Arg::Error, _)));
        if self.0.is_null() || skip {
            return status;
        }
        let (argument, expected, actual) = match &outcome {
            Ok(()) => (MML_ARG_NONE, 0, 0),
            Err(f) => (f.argument, f.expected, f.actual),
        };
        let (row, value) = outcome.as_ref().err().map_or((0, 0), Failure::target);
        let mut message = [0 as c_char; MML_ERROR_MESSAGE_LEN];
        // No allocation on success: a call with a detail pointer is the fast path too.
        let text: std::borrow::Cow<'static, str> = match &outcome {
            Ok(()) => "ok".into(),
            Err(f) => f.reason.to_string().into(),
        };
        let mut len = text.len().min(MML_ERROR_MESSAGE_LEN - 1);
        while !text.is_char_boundary(len) {
            len -= 1;
        }
        for (m, &b) in message.iter_mut().zip(&text.as_bytes()[..len]) {
            *m = b as c_char;
        }
        let detail = MmlError {
            status,
            argument,
            expected,
            actual,
            row,
            value,
            message,
        };
        // SAFETY: non-NULL and aligned (checked in `new`); the caller guarantees it is writable,
        // and the call's overlap check ruled out every buffer of the call.
        unsafe { self.0.write(detail) };
        status
    }
}

/// Runs a body returning `Result<(), Failure>` inside the panic boundary and reports its outcome
/// through an `MmlError *` (which may be NULL).
macro_rules! ffi_detail {
    ($error:expr, $($body:tt)*) => {{
        match $crate::ffi::detail::Detail::new($error) {
            Err(status) => status,
            Ok(detail) => {
                let result = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
                    || -> ::std::result::Result<(), $crate::ffi::detail::Failure> { $($body)* },
                ));
                let outcome = match result {
                    Ok(outcome) => outcome,
                    Err(_) => Err($crate::ffi::detail::Failure::panic()),
                };
                // Writing the detail formats a message: keep a panic there inside too.
                ::std::panic::catch_unwind(move || detail.report(outcome))
                    .unwrap_or($crate::ffi::status::MML_STATUS_INTERNAL_ERROR)
            }
        }
    }};
}

pub(crate) use ffi_detail;

impl Failure {
    pub fn panic() -> Failure {
        Failure {
            status: MML_STATUS_INTERNAL_ERROR,
            argument: MML_ARG_NONE,
            expected: 0,
            actual: 0,
            reason: Reason::Panic,
        }
    }
}
