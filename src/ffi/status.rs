//! Status codes: the only way a C call reports failure. Statuses are plain `uint32_t` values so
//! that every language can read them without knowing an enum's C representation.

use std::ffi::c_char;

use crate::error::Error;

/// The call succeeded.
pub const MML_STATUS_OK: u32 = 0;
/// A pointer was NULL while its length (or role) requires memory.
pub const MML_STATUS_NULL_POINTER: u32 = 1;
/// An argument is outside its domain: `p` not 1 or 2, unknown reduction, `c == 0`, `n·c` too
/// large for memory, a thread count above the limit, or a pointer misaligned for its type.
pub const MML_STATUS_INVALID_ARGUMENT: u32 = 2;
/// A buffer length does not match the shape: `output_len`, `grad_output_len`,
/// `grad_input_len`, or the weight length against `c`.
pub const MML_STATUS_SHAPE_MISMATCH: u32 = 3;
/// A target is negative or not below `c`; `mml_check_targets` tells which row.
pub const MML_STATUS_TARGET_OUT_OF_RANGE: u32 = 4;
/// An output buffer overlaps an input buffer or another output buffer.
pub const MML_STATUS_ALIASED_BUFFERS: u32 = 5;
/// A bug in mml (a caught panic). Nothing is guaranteed about the outputs.
pub const MML_STATUS_INTERNAL_ERROR: u32 = 6;
/// mml could not allocate the little memory it needs: `mml_create`'s handle or its copy of the
/// weights. Nothing was created or written; the call may succeed once memory is available.
/// Computing calls never report it: a large call that cannot allocate its one buffer (the
/// per-block partial sums of a summed call on several threads) runs on the calling thread
/// instead, with the same bits. The one allocation mml cannot recover from is the thread pool's
/// construction (by the first large call, and again after `fork()` or a change of the thread
/// count): if the system cannot give a new thread a few hundred bytes, the process aborts, as
/// for any thread that Rust's standard library starts.
pub const MML_STATUS_OUT_OF_MEMORY: u32 = 7;
/// A tensor mml does not take: an unknown or unsupported dtype (or a gradient dtype that does
/// not go with the scores'), and for DLPack tensors a device other than `kDLCPU`, `lanes` other
/// than 1, or an `ndim` the role does not have.
pub const MML_STATUS_UNSUPPORTED_TENSOR: u32 = 8;
/// A layout mml cannot use: a row pitch below `c`, a pitch or stride whose extent overflows the
/// address space, or (DLPack) a negative stride. An output whose strides overlap itself is
/// `MML_STATUS_ALIASED_BUFFERS`.
pub const MML_STATUS_INVALID_LAYOUT: u32 = 9;

pub(crate) type Status = u32;

pub(crate) fn status_of(error: &Error) -> Status {
    match error {
        Error::InvalidPower(_) | Error::NoClasses | Error::SizeOverflow { .. } => {
            MML_STATUS_INVALID_ARGUMENT
        }
        Error::InvalidPitch { .. } => MML_STATUS_INVALID_LAYOUT,
        Error::ShapeMismatch { .. } => MML_STATUS_SHAPE_MISMATCH,
        Error::TargetOutOfRange { .. } => MML_STATUS_TARGET_OUT_OF_RANGE,
        Error::OutOfMemory => MML_STATUS_OUT_OF_MEMORY,
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        status_of(&error)
    }
}

pub(crate) fn message(status: u32) -> &'static std::ffi::CStr {
    match status {
        MML_STATUS_OK => c"ok",
        MML_STATUS_NULL_POINTER => c"a required pointer is NULL",
        MML_STATUS_INVALID_ARGUMENT => {
            c"invalid argument (p, reduction, c == 0, size overflow, thread count or alignment)"
        }
        MML_STATUS_SHAPE_MISMATCH => c"a buffer length does not match the shape",
        MML_STATUS_TARGET_OUT_OF_RANGE => c"a target is outside [0, c)",
        MML_STATUS_ALIASED_BUFFERS => c"an output buffer overlaps another buffer",
        MML_STATUS_INTERNAL_ERROR => c"internal error in mml (please report it)",
        MML_STATUS_OUT_OF_MEMORY => c"out of memory",
        MML_STATUS_UNSUPPORTED_TENSOR => c"a dtype, device, lanes or ndim mml does not take",
        MML_STATUS_INVALID_LAYOUT => {
            c"a pitch or stride mml cannot use (below c, overflowing, or negative)"
        }
        _ => c"unknown mml status code",
    }
}

pub(crate) fn message_ptr(status: u32) -> *const c_char {
    message(status).as_ptr()
}
