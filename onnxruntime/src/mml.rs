//! The part of mml's C ABI (`include/mml.h`) the operators call, behind safe functions. The
//! plugin links `libmml.so.0.1` rather than a copy of mml: a process that also uses mml
//! directly (a binding, the C ABI) has one mml, one thread pool, one `MML_NUM_THREADS`.

use std::ffi::{CStr, c_char, c_void};
use std::ptr::NonNull;

use crate::ort::{Failure, Result};

include!(concat!(env!("OUT_DIR"), "/mml_constants.rs"));

/// mml's opaque handle.
#[repr(C)]
struct MmlLoss {
    _private: [u8; 0],
}

/// mml.h's `MmlError`: the detail a call writes, with mml's own message.
#[repr(C)]
struct MmlError {
    status: u32,
    argument: u32,
    expected: u64,
    actual: u64,
    row: u64,
    value: i64,
    message: [c_char; MML_ERROR_MESSAGE_LEN as usize],
}

#[link(name = "mml")]
unsafe extern "C" {
    fn mml_create(
        p: u32,
        margin: f64,
        weight: *const f32,
        weight_len: usize,
        reduction: u32,
        out: *mut *mut MmlLoss,
    ) -> u32;
    fn mml_create_f64(
        p: u32,
        margin: f64,
        weight: *const f64,
        weight_len: usize,
        reduction: u32,
        out: *mut *mut MmlLoss,
    ) -> u32;
    fn mml_destroy(loss: *mut MmlLoss);
    fn mml_status_message(status: u32) -> *const c_char;
    fn mml_forward_typed(
        loss: *const MmlLoss,
        dtype: u32,
        input: *const c_void,
        input_pitch: usize,
        target_dtype: u32,
        target: *const c_void,
        n: usize,
        c: usize,
        output: *mut c_void,
        output_len: usize,
        error: *mut MmlError,
    ) -> u32;
    fn mml_backward_typed(
        loss: *const MmlLoss,
        dtype: u32,
        input: *const c_void,
        input_pitch: usize,
        target_dtype: u32,
        target: *const c_void,
        n: usize,
        c: usize,
        grad_output: *const c_void,
        grad_output_len: usize,
        grad_dtype: u32,
        grad_input: *mut c_void,
        grad_input_pitch: usize,
        error: *mut MmlError,
    ) -> u32;
}

/// Per-class weights as the runtime holds them: float, or double for double scores (used as
/// given, PyTorch's float64 computation).
#[derive(Clone, Copy)]
pub(crate) enum Weights {
    Float(*const f32, usize),
    Double(*const f64, usize),
}

/// Rows of `c` values, contiguous, of mml's dtype `dtype`; `data` may be dangling when there
/// are none.
#[derive(Clone, Copy)]
pub(crate) struct Buffer {
    pub dtype: u32,
    pub data: *mut c_void,
    pub len: usize,
}

/// An owned `MmlLoss`. mml's handles are immutable: any number of threads may use one at once.
pub(crate) struct Handle(NonNull<MmlLoss>);

// SAFETY: an `MmlLoss` is immutable after `mml_create` and documented as usable from any
// number of threads at once; it is destroyed once, by `Drop`.
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by `mml_create*`, destroyed once, here.
        unsafe { mml_destroy(self.0.as_ptr()) }
    }
}

impl Handle {
    /// `mml_create` (or `mml_create_f64` for double weights). The caller checked `p` and
    /// `reduction`; the weights must stay readable for the call only (mml copies them).
    ///
    /// # Safety
    /// A `Weights` pointer holds its length of values.
    pub unsafe fn new(
        p: u32,
        margin: f64,
        weights: Option<Weights>,
        reduction: u32,
    ) -> Result<Handle> {
        let mut out = std::ptr::null_mut();
        // SAFETY: valid pointers and lengths by the caller's contract; NULL with length 0 is
        // "no weights".
        let status = unsafe {
            match weights {
                None => mml_create(p, margin, std::ptr::null(), 0, reduction, &mut out),
                Some(Weights::Float(w, len)) => mml_create(p, margin, w, len, reduction, &mut out),
                Some(Weights::Double(w, len)) => {
                    mml_create_f64(p, margin, w, len, reduction, &mut out)
                }
            }
        };
        match NonNull::new(out) {
            Some(handle) if status == MML_STATUS_OK => Ok(Handle(handle)),
            _ => Err(failure(status, None)),
        }
    }

    /// `mml_forward_typed` over contiguous rows.
    ///
    /// # Safety
    /// `scores` holds `n·c` values and `target` `n` values of their dtypes, `output`
    /// `output.len` values (mml refuses an output that overlaps an input).
    pub unsafe fn forward(
        &self,
        scores: Buffer,
        target: Buffer,
        (n, c): (usize, usize),
        output: Buffer,
    ) -> Result<()> {
        // SAFETY: the caller's contract; `detail` is a writable `MmlError`.
        with_detail(|detail| unsafe {
            mml_forward_typed(
                self.0.as_ptr(),
                scores.dtype,
                scores.data,
                c,
                target.dtype,
                target.data,
                n,
                c,
                output.data,
                output.len,
                detail,
            )
        })
    }

    /// `mml_backward_typed` over contiguous rows, the gradient of `grad.dtype`.
    ///
    /// # Safety
    /// As [`Handle::forward`], with `grad_output` holding its length of values and `grad`
    /// `n·c` values.
    pub unsafe fn backward(
        &self,
        scores: Buffer,
        target: Buffer,
        (n, c): (usize, usize),
        grad_output: Buffer,
        grad: Buffer,
    ) -> Result<()> {
        // SAFETY: the caller's contract; `detail` is a writable `MmlError`.
        with_detail(|detail| unsafe {
            mml_backward_typed(
                self.0.as_ptr(),
                scores.dtype,
                scores.data,
                c,
                target.dtype,
                target.data,
                n,
                c,
                grad_output.data,
                grad_output.len,
                grad.dtype,
                grad.data,
                c,
                detail,
            )
        })
    }
}

/// Runs a typed call with an `MmlError` for its detail: a failed status becomes a runtime
/// error carrying the message mml wrote.
fn with_detail(call: impl FnOnce(*mut MmlError) -> u32) -> Result<()> {
    let mut detail = MmlError::empty();
    match call(&mut detail) {
        MML_STATUS_OK => Ok(()),
        status => Err(failure(status, Some(&detail))),
    }
}

impl MmlError {
    fn empty() -> MmlError {
        MmlError {
            status: 0,
            argument: 0,
            expected: 0,
            actual: 0,
            row: 0,
            value: 0,
            message: [0; MML_ERROR_MESSAGE_LEN as usize],
        }
    }
}

/// A failed status as a runtime error with mml's message: the call's own detail where it
/// wrote one, else the status's sentence. Running out of memory is the runtime's kind of
/// failure; everything else is a bad input.
fn failure(status: u32, detail: Option<&MmlError>) -> Failure {
    let message = match detail.filter(|d| d.status == status) {
        // SAFETY: mml always NUL-terminates the message inside the array.
        Some(d) => unsafe { CStr::from_ptr(d.message.as_ptr()) }.to_string_lossy(),
        // SAFETY: mml returns a static NUL-terminated string for every status.
        None => unsafe { CStr::from_ptr(mml_status_message(status)) }.to_string_lossy(),
    };
    if status == MML_STATUS_OUT_OF_MEMORY {
        Failure::internal(message)
    } else {
        Failure::invalid(message)
    }
}
