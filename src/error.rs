use std::fmt;

use crate::kernel;

/// A caller-supplied buffer, named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Buffer {
    Input,
    Target,
    Weight,
    Output,
    GradOutput,
    GradInput,
}

impl Buffer {
    pub fn name(self) -> &'static str {
        match self {
            Buffer::Input => "input",
            Buffer::Target => "target",
            Buffer::Weight => "weight",
            Buffer::Output => "output",
            Buffer::GradOutput => "grad_output",
            Buffer::GradInput => "grad_input",
        }
    }
}

/// Why a call was refused. Every check runs before anything is written, so a refused call
/// leaves every output untouched.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// `p` is neither 1 nor 2.
    InvalidPower(u32),
    /// The number of classes `c` is 0.
    NoClasses,
    /// `n·c` (or its size in bytes) does not fit in memory's address range.
    SizeOverflow { n: usize, c: usize },
    /// A buffer's length does not match the shape.
    ShapeMismatch {
        buffer: Buffer,
        expected: usize,
        actual: usize,
    },
    /// `target[row]` is outside `[0, classes)`.
    TargetOutOfRange {
        row: usize,
        target: i64,
        classes: usize,
    },
    /// Rows `pitch` values apart overlap: the pitch is below the number of classes.
    InvalidPitch { pitch: usize, classes: usize },
    /// An allocation failed: the weights' float64 copy in [`crate::MultiMarginLoss::try_new`]
    /// (and so [`crate::Builder::build`]), or, through the C ABI, `mml_create`'s handle.
    OutOfMemory,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidPower(p) => write!(f, "p must be 1 or 2, got {p}"),
            Error::NoClasses => write!(f, "the number of classes c must be at least 1"),
            Error::SizeOverflow { n, c } => write!(f, "n·c = {n}·{c} overflows the address space"),
            Error::ShapeMismatch {
                buffer,
                expected,
                actual,
            } => write!(
                f,
                "{} has {actual} elements, expected {expected}",
                buffer.name()
            ),
            Error::TargetOutOfRange {
                row,
                target,
                classes,
            } => write!(f, "target[{row}] = {target} is outside [0, {classes})"),
            Error::InvalidPitch { pitch, classes } => write!(
                f,
                "a row pitch of {pitch} values is below the {classes} classes of a row"
            ),
            Error::OutOfMemory => write!(f, "out of memory"),
        }
    }
}

impl std::error::Error for Error {}

/// Returns the first row whose target lies outside `[0, c)`. One pass over the targets
/// (`&[i64]` or `&[i32]`).
#[inline(always)]
pub fn check_targets<'a>(target: impl Into<kernel::Targets<'a>>, c: usize) -> Result<(), Error> {
    let target = target.into();
    let Some(row) = kernel::first_bad_target(kernel::Isa::selected(), target, c) else {
        return Ok(());
    };
    Err(Error::TargetOutOfRange {
        row,
        target: target.value(row),
        classes: c,
    })
}
