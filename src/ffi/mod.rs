//! The C ABI. A thin shell over the safe API: it checks pointers (NULL, alignment, overlap),
//! turns them into slices, calls [`MultiMarginLoss`], and maps errors to status codes. Every body
//! runs inside the panic boundary. `include/mml.h` is generated from this module by cbindgen.
//!
//! Conventions (also in the README): every function returns a `uint32_t` status except the
//! getters; outputs are written only on success; a NULL pointer is accepted only with length 0;
//! nothing is kept in thread-local state, so any call may run on any thread.

// The safety contract is the same for every function (pointers valid for the lengths passed,
// handles live); it is stated once in the header's Conventions block rather than repeated.
#![allow(clippy::missing_safety_doc)]

mod boundary;
mod buffers;
mod detail;
mod dlpack;
pub mod status;
mod typed;

use std::ffi::c_char;
use std::ops::Range;

use boundary::ffi_boundary;
use buffers::{Raw, no_overlap};
pub use detail::{
    MML_ARG_CLASSES, MML_ARG_DTYPE, MML_ARG_ERROR, MML_ARG_GRAD_INPUT, MML_ARG_GRAD_OUTPUT,
    MML_ARG_INPUT, MML_ARG_LOSS, MML_ARG_NONE, MML_ARG_OUTPUT, MML_ARG_P, MML_ARG_REDUCTION,
    MML_ARG_TARGET, MML_ARG_WEIGHT, MML_ERROR_MESSAGE_LEN, MmlError,
};
pub use dlpack::{mml_backward_dlpack, mml_forward_backward_dlpack, mml_forward_dlpack};
pub use status::*;
pub use typed::{
    MML_DTYPE_BFLOAT16, MML_DTYPE_FLOAT16, MML_DTYPE_FLOAT32, MML_DTYPE_FLOAT64, MML_DTYPE_INT32,
    MML_DTYPE_INT64, MML_OP_BACKWARD, MML_OP_FORWARD, MML_OP_FORWARD_BACKWARD, mml_backward_typed,
    mml_explain, mml_forward_backward_typed, mml_forward_typed,
};

use crate::error::check_targets;
use crate::kernel::{Isa, Power};
use crate::loss::{Float, MultiMarginLoss, Options, Reduction, checked_elements};
use crate::parallel;

/// Version of the C ABI; it changes only when an existing signature or meaning changes.
pub const MML_ABI_VERSION: u32 = 1;

/// The largest thread count `mml_set_num_threads` accepts.
pub const MML_MAX_THREADS: usize = 1024;
const _: () = assert!(MML_MAX_THREADS == parallel::MAX_THREADS);

/// Per-sample losses: `n` values.
pub const MML_REDUCTION_NONE: u32 = 0;
/// Sum of the per-sample losses divided by `n`: one value.
pub const MML_REDUCTION_MEAN: u32 = 1;
/// Sum of the per-sample losses: one value.
pub const MML_REDUCTION_SUM: u32 = 2;

/// A configured loss (p, margin, weights, reduction).
///
/// Immutable after `mml_create`: one handle may be used by any number of threads at once
/// without locking. Destroying a handle while another thread still uses it is the caller's
/// error (a use-after-free), as for any C object.
pub struct MmlLoss {
    loss: MultiMarginLoss,
    /// Set only by [`__panicking_handle`]: every computing call with this handle panics.
    panics: bool,
}

/// A test hook, not part of the API (hidden here, absent from the C header): a handle whose
/// every computing call panics inside the C boundary, so that the tests can prove the boundary
/// turns a panic into `MML_STATUS_INTERNAL_ERROR`. Free it with `mml_destroy`. A flag in the
/// handle rather than a feature, so that the tests run against the library as it ships.
#[doc(hidden)]
pub fn __panicking_handle() -> *mut MmlLoss {
    let loss = MultiMarginLoss::new(Options {
        power: Power::One,
        margin: 1.0,
        weight: None,
        reduction: Reduction::Mean,
    });
    Box::into_raw(Box::new(MmlLoss { loss, panics: true }))
}

/// Creates a loss.
///
/// - `p`: 1 or 2, else `MML_STATUS_INVALID_ARGUMENT`.
/// - `margin`: converted to float for the float entry points, used as is for the double ones.
/// - `weight`, `weight_len`: per-class weights, copied into the handle. `weight_len == 0` means
///   no weights (then `weight` is ignored and may be NULL); otherwise `weight` must hold
///   `weight_len` floats, and every later call must have `c == weight_len`.
/// - `reduction`: `MML_REDUCTION_NONE`, `_MEAN` or `_SUM`, else `MML_STATUS_INVALID_ARGUMENT`.
/// - `out`: receives the handle, only on success; free it with `mml_destroy`.
///
/// `MML_STATUS_OUT_OF_MEMORY` if the handle or its copy of the weights cannot be allocated
/// (nothing is created then, and `*out` is untouched).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_create(
    p: u32,
    margin: f64,
    weight: *const f32,
    weight_len: usize,
    reduction: u32,
    out: *mut *mut MmlLoss,
) -> u32 {
    // SAFETY: the caller's contract, passed on.
    unsafe { create(p, margin, (weight, weight_len), reduction, out) }
}

/// Creates a loss with float64 weights: `mml_create` with `weight` as doubles. The float64 entry
/// points (`mml_forward_f64`, and the typed calls on float64 scores) use them as given,
/// bit-identical to PyTorch's float64 computation; the float32 and half ones use them rounded to
/// float, as `.to(torch.float32)` rounds. Arguments, statuses and `*out` as in `mml_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_create_f64(
    p: u32,
    margin: f64,
    weight: *const f64,
    weight_len: usize,
    reduction: u32,
    out: *mut *mut MmlLoss,
) -> u32 {
    // SAFETY: the caller's contract, passed on.
    unsafe { create(p, margin, (weight, weight_len), reduction, out) }
}

/// The body of `mml_create` and `mml_create_f64`: checks the arguments, copies the weights
/// (`W`: `f32` or `f64`) fallibly, and builds the loss (`WeightType::build`).
///
/// # Safety
/// As `mml_create`: `weight` readable for `weight_len` values unless that is 0, `out` writable.
unsafe fn create<W: WeightType>(
    p: u32,
    margin: f64,
    (weight, weight_len): (*const W, usize),
    reduction: u32,
    out: *mut *mut MmlLoss,
) -> u32 {
    ffi_boundary! {
        if out.is_null() {
            return Err(MML_STATUS_NULL_POINTER);
        }
        if !out.is_aligned() {
            return Err(MML_STATUS_INVALID_ARGUMENT);
        }
        let power = Power::try_from(p)?;
        let reduction = reduction_of(reduction)?;
        let weight = Raw::new(weight, weight_len);
        weight.check()?;
        let options = Options { power, margin, weight: None, reduction };
        let loss = if weight_len > 0 {
            // SAFETY: checked above; the caller guarantees `weight_len` readable values.
            let weight = unsafe { weight.as_slice() };
            let mut copy = Vec::new();
            copy.try_reserve_exact(weight.len()).map_err(|_| MML_STATUS_OUT_OF_MEMORY)?;
            copy.extend_from_slice(weight);
            W::build(options, copy)?
        } else {
            MultiMarginLoss::try_new(options)?
        };
        let handle = new_handle(MmlLoss { loss, panics: false })?;
        // SAFETY: `out` is non-NULL and aligned; the caller guarantees it is writable.
        unsafe { out.write(handle) };
        Ok(())
    }
}

/// The weights' types of `mml_create` (`f32`) and `mml_create_f64` (`f64`).
trait WeightType: Copy {
    fn build(options: Options, weight: Vec<Self>) -> Result<MultiMarginLoss, crate::Error>;
}

impl WeightType for f32 {
    fn build(options: Options, weight: Vec<f32>) -> Result<MultiMarginLoss, crate::Error> {
        MultiMarginLoss::try_new(Options {
            weight: Some(weight),
            ..options
        })
    }
}

impl WeightType for f64 {
    fn build(options: Options, weight: Vec<f64>) -> Result<MultiMarginLoss, crate::Error> {
        MultiMarginLoss::try_with_f64_weight(options, weight)
    }
}

/// A reduction code as a [`Reduction`].
fn reduction_of(reduction: u32) -> Result<Reduction, Status> {
    match reduction {
        MML_REDUCTION_NONE => Ok(Reduction::None),
        MML_REDUCTION_MEAN => Ok(Reduction::Mean),
        MML_REDUCTION_SUM => Ok(Reduction::Sum),
        _ => Err(MML_STATUS_INVALID_ARGUMENT),
    }
}

/// `Box::into_raw(Box::new(loss))`, but `MML_STATUS_OUT_OF_MEMORY` where `Box::new` would abort
/// the process. `mml_destroy` frees it as the `Box` it is.
fn new_handle(loss: MmlLoss) -> Result<*mut MmlLoss, Status> {
    const LAYOUT: std::alloc::Layout = std::alloc::Layout::new::<MmlLoss>();
    const { assert!(LAYOUT.size() > 0) };
    // SAFETY: the layout has a nonzero size.
    let handle = unsafe { std::alloc::alloc(LAYOUT) }.cast::<MmlLoss>();
    if handle.is_null() {
        return Err(MML_STATUS_OUT_OF_MEMORY);
    }
    // SAFETY: freshly allocated for one `MmlLoss`, so valid and aligned for this write. Memory
    // from the global allocator with `Layout::new::<MmlLoss>()` is what `Box::from_raw` takes.
    unsafe { handle.write(loss) };
    Ok(handle)
}

/// Destroys a loss created by `mml_create`. NULL is a no-op. The handle must not be in use by
/// another thread, nor used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_destroy(loss: *mut MmlLoss) {
    if loss.is_null() {
        return;
    }
    // SAFETY: a non-NULL handle came from `new_handle` in `mml_create` (one `MmlLoss` allocated
    // with its own layout by the global allocator, as a `Box` is) and is dropped once, by the
    // caller's contract. Dropping plain vectors cannot panic.
    drop(unsafe { Box::from_raw(loss) });
}

/// The loss of `n` samples of `c` float scores.
///
/// - `input`: `n·c` floats, row-major. `target`: `n` class indices in `[0, c)`.
/// - `output`: `output_len` floats, which must be `n` for `MML_REDUCTION_NONE`, else 1.
///   It must not overlap `input` or `target`.
///
/// With `n == 0`: `sum` gives 0, `mean` gives NaN, `none` writes nothing. On any error nothing is
/// written. Thread-safe: the handle is only read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_forward(
    loss: *const MmlLoss,
    input: *const f32,
    target: *const i64,
    n: usize,
    c: usize,
    output: *mut f32,
    output_len: usize,
) -> u32 {
    ffi_boundary! {
        let out = Raw::new_mut(output, output_len);
        // SAFETY: the caller's contract for the pointers; `call` checks what can be checked.
        unsafe { call(loss, input, target, n, c, None, Some(out), None) }
    }
}

/// The gradient of the loss with respect to `input`.
///
/// - `grad_output`: the upstream gradient, `grad_output_len` floats: `n` for
///   `MML_REDUCTION_NONE`, else 1.
/// - `grad_input`: `grad_input_len` floats, which must be `n·c`, every one written. It must not
///   overlap `input`, `target` or `grad_output`.
///
/// On any error nothing is written. Thread-safe: the handle is only read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_backward(
    loss: *const MmlLoss,
    input: *const f32,
    target: *const i64,
    n: usize,
    c: usize,
    grad_output: *const f32,
    grad_output_len: usize,
    grad_input: *mut f32,
    grad_input_len: usize,
) -> u32 {
    ffi_boundary! {
        let up = Raw::new(grad_output, grad_output_len);
        let gi = Raw::new_mut(grad_input, grad_input_len);
        // SAFETY: the caller's contract for the pointers; `call` checks what can be checked.
        unsafe { call(loss, input, target, n, c, Some(up), None, Some(gi)) }
    }
}

/// The loss and its gradient in one pass over `input`, bit-identical to `mml_forward` followed
/// by `mml_backward`. Lengths as in those two; `output` and `grad_input` must not overlap each
/// other or any input. On any error nothing is written.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_forward_backward(
    loss: *const MmlLoss,
    input: *const f32,
    target: *const i64,
    n: usize,
    c: usize,
    grad_output: *const f32,
    grad_output_len: usize,
    output: *mut f32,
    output_len: usize,
    grad_input: *mut f32,
    grad_input_len: usize,
) -> u32 {
    ffi_boundary! {
        let up = Raw::new(grad_output, grad_output_len);
        let out = Raw::new_mut(output, output_len);
        let gi = Raw::new_mut(grad_input, grad_input_len);
        // SAFETY: the caller's contract for the pointers; `call` checks what can be checked.
        unsafe { call(loss, input, target, n, c, Some(up), Some(out), Some(gi)) }
    }
}

/// `mml_forward` in double precision (the weights promoted to double, `margin` used as is).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_forward_f64(
    loss: *const MmlLoss,
    input: *const f64,
    target: *const i64,
    n: usize,
    c: usize,
    output: *mut f64,
    output_len: usize,
) -> u32 {
    ffi_boundary! {
        let out = Raw::new_mut(output, output_len);
        // SAFETY: the caller's contract for the pointers; `call` checks what can be checked.
        unsafe { call(loss, input, target, n, c, None, Some(out), None) }
    }
}

/// `mml_backward` in double precision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_backward_f64(
    loss: *const MmlLoss,
    input: *const f64,
    target: *const i64,
    n: usize,
    c: usize,
    grad_output: *const f64,
    grad_output_len: usize,
    grad_input: *mut f64,
    grad_input_len: usize,
) -> u32 {
    ffi_boundary! {
        let up = Raw::new(grad_output, grad_output_len);
        let gi = Raw::new_mut(grad_input, grad_input_len);
        // SAFETY: the caller's contract for the pointers; `call` checks what can be checked.
        unsafe { call(loss, input, target, n, c, Some(up), None, Some(gi)) }
    }
}

/// `mml_forward_backward` in double precision.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_forward_backward_f64(
    loss: *const MmlLoss,
    input: *const f64,
    target: *const i64,
    n: usize,
    c: usize,
    grad_output: *const f64,
    grad_output_len: usize,
    output: *mut f64,
    output_len: usize,
    grad_input: *mut f64,
    grad_input_len: usize,
) -> u32 {
    ffi_boundary! {
        let up = Raw::new(grad_output, grad_output_len);
        let out = Raw::new_mut(output, output_len);
        let gi = Raw::new_mut(grad_input, grad_input_len);
        // SAFETY: the caller's contract for the pointers; `call` checks what can be checked.
        unsafe { call(loss, input, target, n, c, Some(up), Some(out), Some(gi)) }
    }
}

/// Finds the first target outside `[0, c)`, for a precise error message after
/// `MML_STATUS_TARGET_OUT_OF_RANGE`. Returns `MML_STATUS_OK` when all are in range, else that
/// status with the row and its value stored through `bad_row` and `bad_value` (each may be
/// NULL). Reads the `n` targets once; keeps no state.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_check_targets(
    target: *const i64,
    n: usize,
    c: usize,
    bad_row: *mut usize,
    bad_value: *mut i64,
) -> u32 {
    ffi_boundary! {
        if c == 0 {
            return Err(MML_STATUS_INVALID_ARGUMENT);
        }
        let targets = Raw::new(target, n);
        targets.check()?;
        // SAFETY: checked above; the caller guarantees `n` readable targets.
        let targets = unsafe { targets.as_slice() };
        match check_targets(targets, c) {
            Ok(()) => Ok(()),
            Err(crate::Error::TargetOutOfRange { row, target, .. }) => {
                if !bad_row.is_null() && bad_row.is_aligned() {
                    // SAFETY: non-NULL and aligned; the caller guarantees it is writable.
                    unsafe { bad_row.write(row) };
                }
                if !bad_value.is_null() && bad_value.is_aligned() {
                    // SAFETY: as above.
                    unsafe { bad_value.write(target) };
                }
                Err(MML_STATUS_TARGET_OUT_OF_RANGE)
            }
            Err(other) => Err(other.into()),
        }
    }
}

/// A static, NUL-terminated English text for a status; unknown codes get a text too. Never NULL;
/// do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn mml_status_message(status: u32) -> *const c_char {
    status::message_ptr(status)
}

/// The library's version, "MAJOR.MINOR.PATCH" (static; do not free). Compare it with
/// `MML_VERSION_STRING` to detect a header/library mismatch.
#[unsafe(no_mangle)]
pub extern "C" fn mml_version() -> *const c_char {
    const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(v) => v,
        Err(_) => panic!("version contains NUL"),
    };
    VERSION.as_ptr()
}

/// The kernel path this process computes with: `"scalar"`, `"wide"`, `"avx2"` or `"avx512"`
/// (static; do not free). It is chosen once, by the first call that needs it (this one if none
/// did): `MML_ISA` from the environment when set to one of those names, lowered to the best
/// path the CPU has, else the best path the CPU has. So on a CPU without AVX-512,
/// `MML_ISA=avx512` runs `"avx2"`, and this function says so. Every path gives the same bits.
#[unsafe(no_mangle)]
pub extern "C" fn mml_kernel_path() -> *const c_char {
    let name = match Isa::selected() {
        Isa::Scalar => c"scalar",
        Isa::Wide => c"wide",
        Isa::Avx2 => c"avx2",
        Isa::Avx512 => c"avx512",
    };
    name.as_ptr()
}

/// The library's `MML_ABI_VERSION`.
#[unsafe(no_mangle)]
pub extern "C" fn mml_abi_version() -> u32 {
    MML_ABI_VERSION
}

/// Sets how many threads (the calling thread included) large calls use; 0 restores the default
/// (`MML_NUM_THREADS` from the environment, else the available parallelism; both read once,
/// when first needed, so later changes to the environment have no effect). Above
/// `MML_MAX_THREADS`:
/// `MML_STATUS_INVALID_ARGUMENT`. Process-wide; safe to call while other threads compute, whose
/// calls finish on the threads they started with. Results never depend on the thread count.
#[unsafe(no_mangle)]
pub extern "C" fn mml_set_num_threads(n: usize) -> u32 {
    ffi_boundary! {
        parallel::set_num_threads(n).map_err(|_| MML_STATUS_INVALID_ARGUMENT)
    }
}

/// The number of threads (the calling thread included) that large calls use.
#[unsafe(no_mangle)]
pub extern "C" fn mml_get_num_threads() -> usize {
    std::panic::catch_unwind(parallel::num_threads).unwrap_or(1)
}

/// Checks every pointer, then hands slices to the safe API, which checks shapes and targets.
/// Nothing is written unless every check passes.
///
/// # Safety
/// Each pointer is NULL or valid for its length as documented on the exported functions.
/// Inlined into each entry point, as are the safe API's checks and the engine's serial path
/// below it: see [`crate::engine::execute_with`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn call<T: Float>(
    loss: *const MmlLoss,
    input: *const T,
    target: *const i64,
    n: usize,
    c: usize,
    grad_output: Option<Raw<T>>,
    output: Option<Raw<T>>,
    grad_input: Option<Raw<T>>,
) -> Result<(), u32> {
    if loss.is_null() {
        return Err(MML_STATUS_NULL_POINTER);
    }
    if !loss.is_aligned() {
        return Err(MML_STATUS_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL, aligned, and by contract a live handle from `mml_create` (or from the
    // test hook `__panicking_handle`).
    let handle = unsafe { &*loss };
    if handle.panics {
        panic!("fault injected at the C boundary (test hook)");
    }
    let loss = &handle.loss;
    let input = Raw::new(input, checked_elements::<T>(n, c)?);
    let target = Raw::new(target, n);
    // Each optional buffer checked in straight-line code: a loop over references to them kept
    // them in memory (fused 2% slower at 32x10, in-process A/B).
    input.check()?;
    target.check()?;
    let bytes = |raw: Option<&Raw<T>>| -> Result<Range<usize>, Status> {
        raw.map_or(Ok(0..0), |raw| raw.check().map(|()| raw.bytes()))
    };
    let grad_output_bytes = bytes(grad_output.as_ref())?;
    let output_bytes = bytes(output.as_ref())?;
    let grad_input_bytes = bytes(grad_input.as_ref())?;
    no_overlap(
        &[output_bytes, grad_input_bytes],
        &[input.bytes(), target.bytes(), grad_output_bytes],
    )?;
    // SAFETY: every buffer passed `check` (non-NULL unless empty, aligned, sized) and the outputs
    // overlap nothing; the caller guarantees each is valid for its length during the call.
    let (input, target) = unsafe { (input.as_slice(), target.as_slice()) };
    // SAFETY: as above.
    let grad_output = grad_output.map(|raw| unsafe { raw.as_slice() });
    // SAFETY: as above; the outputs are disjoint from every other buffer.
    let output = output.map(|raw| unsafe { raw.as_mut_slice() });
    // SAFETY: as above.
    let grad_input = grad_input.map(|raw| unsafe { raw.as_mut_slice() });
    let grad_input = grad_input.map(|grad| (grad, c));
    loss.compute_rows(
        (input, c),
        target.into(),
        n,
        c,
        grad_output,
        output,
        grad_input,
    )
    .map_err(Into::into)
}
