//! The typed pointer entry points: every score dtype (float32, float64, bfloat16, float16),
//! int64 or int32 targets, a row pitch for the scores and for the gradient, the gradient in the
//! scores' half type or in float32, and the error detail. Also `mml_explain`, which runs the
//! same checks for a call of the untyped entry points without computing.

use std::ffi::c_void;
use std::ops::Range;

use super::MmlLoss;
use super::buffers::Raw;
use super::detail::{Arg, Failure, MmlError, Reason, ffi_detail};
use super::status::{MML_STATUS_INVALID_ARGUMENT, MML_STATUS_UNSUPPORTED_TENSOR};
use crate::error::{Buffer, Error, check_targets};
use crate::kernel::{GradStore, Targets};
use crate::loss::{Float, Scores, checked_elements};

/// float32 (C `float`).
pub const MML_DTYPE_FLOAT32: u32 = 0;
/// float64 (C `double`).
pub const MML_DTYPE_FLOAT64: u32 = 1;
/// bfloat16, stored as its 16 bits (`uint16_t`): float32's upper half.
pub const MML_DTYPE_BFLOAT16: u32 = 2;
/// IEEE 754 binary16, stored as its 16 bits (`uint16_t`).
pub const MML_DTYPE_FLOAT16: u32 = 3;
/// int64 targets (`int64_t`).
pub const MML_DTYPE_INT64: u32 = 4;
/// int32 targets (`int32_t`).
pub const MML_DTYPE_INT32: u32 = 5;

/// `mml_explain`'s `op`: a call of `mml_forward` or `mml_forward_f64`.
pub const MML_OP_FORWARD: u32 = 0;
/// `mml_explain`'s `op`: a call of `mml_backward` or `mml_backward_f64`.
pub const MML_OP_BACKWARD: u32 = 1;
/// `mml_explain`'s `op`: a call of `mml_forward_backward` or `mml_forward_backward_f64`.
pub const MML_OP_FORWARD_BACKWARD: u32 = 2;

/// How the gradient's extent is given: a row pitch (typed calls) or a length in elements (the
/// untyped calls, which must give exactly `n·c`).
#[derive(Clone, Copy)]
pub(crate) enum Extent {
    Pitch(usize),
    Len(usize),
}

/// A typed call's arguments, not yet trusted.
pub(crate) struct Call {
    pub loss: *const MmlLoss,
    pub dtype: u32,
    pub input: *const c_void,
    pub input_pitch: usize,
    pub target_dtype: u32,
    pub target: *const c_void,
    pub n: usize,
    pub c: usize,
    pub grad_output: Option<(*const c_void, usize)>,
    pub output: Option<(*mut c_void, usize)>,
    pub grad: Option<(u32, *mut c_void, Extent)>,
    /// The `MmlError`'s bytes: no output may overlap them.
    pub detail: Range<usize>,
}

/// The handle behind `loss`, after its NULL and alignment checks (and the test hook).
///
/// # Safety
/// `loss` is NULL or a live handle from `mml_create`.
pub(crate) unsafe fn handle<'a>(loss: *const MmlLoss) -> Result<&'a MmlLoss, Failure> {
    if loss.is_null() {
        return Err(Failure::null(Arg::Loss));
    }
    if !loss.is_aligned() {
        return Err(Failure::raw(
            MML_STATUS_INVALID_ARGUMENT,
            Arg::Loss,
            align_of::<MmlLoss>(),
        ));
    }
    // SAFETY: non-NULL, aligned, and by contract a live handle.
    let handle = unsafe { &*loss };
    if handle.panics {
        panic!("fault injected at the C boundary (test hook)");
    }
    Ok(handle)
}

/// Values `n` rows of `c` elements of type `T`, `pitch` apart, span; `MML_STATUS_INVALID_LAYOUT`
/// for a pitch below `c` or an extent (in bytes) that overflows the address space.
pub(crate) fn rows_extent<T>(arg: Arg, n: usize, c: usize, pitch: usize) -> Result<usize, Failure> {
    if pitch < c {
        let mut failure = Failure::from(Error::InvalidPitch { pitch, classes: c });
        if arg == Arg::GradInput {
            failure.argument = super::detail::MML_ARG_GRAD_INPUT;
        }
        return Err(failure);
    }
    if n == 0 {
        return Ok(0);
    }
    (n - 1)
        .checked_mul(pitch)
        .and_then(|v| v.checked_add(c))
        .filter(|&v| {
            v.checked_mul(size_of::<T>())
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(|| {
            Failure::layout(
                arg,
                format!("{n} rows {pitch} values apart overflow the address space"),
            )
        })
}

/// A raw buffer checked (NULL, alignment, size), with its bytes.
fn checked<T>(raw: &Raw<T>, arg: Arg) -> Result<Range<usize>, Failure> {
    raw.check()
        .map_err(|status| Failure::raw(status, arg, align_of::<T>()))?;
    Ok(raw.bytes())
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    !a.is_empty() && !b.is_empty() && a.start < b.end && b.start < a.end
}

/// Every output disjoint from every input and every other output; the first pair that is not
/// names the failure.
pub(crate) fn disjoint(
    outputs: &[(Arg, Range<usize>)],
    inputs: &[(Arg, Range<usize>)],
) -> Result<(), Failure> {
    for (i, (out, bytes)) in outputs.iter().enumerate() {
        for (other, other_bytes) in outputs[i + 1..].iter().chain(inputs) {
            if overlaps(bytes, other_bytes) {
                // The MmlError is named first: then it is not written.
                return Err(match (*out, *other) {
                    (o, Arg::Error) => Failure::aliased(Arg::Error, o),
                    (o, other) => Failure::aliased(o, other),
                });
            }
        }
    }
    Ok(())
}

/// Dispatches a call on its dtypes, then checks everything and computes (`compute`) or only
/// checks (`mml_explain`).
///
/// # Safety
/// Each pointer is NULL or valid for the extent its arguments describe.
pub(crate) unsafe fn dispatch(call: Call, compute: bool) -> Result<(), Failure> {
    use half::{bf16, f16};
    // SAFETY: the caller's contract.
    let handle = unsafe { handle(call.loss) }?;
    let target_ok = matches!(call.target_dtype, MML_DTYPE_INT64 | MML_DTYPE_INT32);
    let grad_dtype = call.grad.as_ref().map(|g| g.0);
    let scores = call.dtype;
    if !matches!(
        scores,
        MML_DTYPE_FLOAT32 | MML_DTYPE_FLOAT64 | MML_DTYPE_BFLOAT16 | MML_DTYPE_FLOAT16
    ) {
        return Err(Failure::dtype("dtype", u64::from(scores)));
    }
    if !target_ok {
        return Err(Failure::dtype("target_dtype", u64::from(call.target_dtype)));
    }
    let half = matches!(scores, MML_DTYPE_BFLOAT16 | MML_DTYPE_FLOAT16);
    if let Some(grad) = grad_dtype
        && grad != scores
        && !(half && grad == MML_DTYPE_FLOAT32)
    {
        return Err(Failure {
            status: MML_STATUS_UNSUPPORTED_TENSOR,
            argument: super::detail::MML_ARG_DTYPE,
            expected: u64::from(scores),
            actual: u64::from(grad),
            reason: Reason::GradDtype { scores, grad },
        });
    }
    let narrow = grad_dtype.is_some_and(|g| g != MML_DTYPE_FLOAT32);
    // SAFETY (each arm): the caller's contract.
    unsafe {
        match (scores, narrow) {
            (MML_DTYPE_FLOAT32, _) => run::<f32, f32>(handle, call, compute),
            (MML_DTYPE_FLOAT64, _) => run::<f64, f64>(handle, call, compute),
            (MML_DTYPE_BFLOAT16, false) => run::<bf16, f32>(handle, call, compute),
            (MML_DTYPE_BFLOAT16, true) => run::<bf16, bf16>(handle, call, compute),
            (MML_DTYPE_FLOAT16, false) => run::<f16, f32>(handle, call, compute),
            (_, _) => run::<f16, f16>(handle, call, compute),
        }
    }
}

/// Every check of a typed call in the order the untyped calls make them (pointers, overlap,
/// then mml's lengths and targets), then the computation through
/// [`crate::MultiMarginLoss::compute_rows`].
///
/// # Safety
/// As [`dispatch`], with the dtypes checked.
unsafe fn run<S: Scores, G: GradStore<S::Float>>(
    handle: &MmlLoss,
    call: Call,
    compute: bool,
) -> Result<(), Failure> {
    let loss = &handle.loss;
    let (n, c) = (call.n, call.c);
    checked_elements::<S>(n, c)?;
    let input = Raw::new(
        call.input.cast::<S>(),
        rows_extent::<S>(Arg::Input, n, c, call.input_pitch)?,
    );
    let input_bytes = checked(&input, Arg::Input)?;
    let (t64, t32) = match call.target_dtype {
        MML_DTYPE_INT64 => (
            Raw::new(call.target.cast::<i64>(), n),
            Raw::new(std::ptr::null(), 0),
        ),
        _ => (
            Raw::new(std::ptr::null(), 0),
            Raw::new(call.target.cast::<i32>(), n),
        ),
    };
    let target_bytes = if call.target_dtype == MML_DTYPE_INT64 {
        checked(&t64, Arg::Target)?
    } else {
        checked(&t32, Arg::Target)?
    };
    let grad_output = call
        .grad_output
        .map(|(ptr, len)| Raw::new(ptr.cast::<S::Float>(), len));
    let grad_output_bytes = match &grad_output {
        Some(raw) => checked(raw, Arg::GradOutput)?,
        None => 0..0,
    };
    let output = call
        .output
        .map(|(ptr, len)| Raw::new_mut(ptr.cast::<S::Float>(), len));
    let output_bytes = match &output {
        Some(raw) => checked(raw, Arg::Output)?,
        None => 0..0,
    };
    let (grad, grad_pitch) = match call.grad {
        Some((_, ptr, Extent::Pitch(pitch))) => (
            Some(Raw::new_mut(
                ptr.cast::<G>(),
                rows_extent::<G>(Arg::GradInput, n, c, pitch)?,
            )),
            pitch,
        ),
        Some((_, ptr, Extent::Len(len))) => (Some(Raw::new_mut(ptr.cast::<G>(), len)), c),
        None => (None, c),
    };
    let grad_bytes = match &grad {
        Some(raw) => checked(raw, Arg::GradInput)?,
        None => 0..0,
    };
    disjoint(
        &[
            (Arg::Output, output_bytes),
            (Arg::GradInput, grad_bytes),
            (Arg::Error, call.detail.clone()),
        ],
        &[
            (Arg::Input, input_bytes),
            (Arg::Target, target_bytes),
            (Arg::GradOutput, grad_output_bytes),
        ],
    )?;
    // SAFETY: every buffer passed its checks (non-NULL unless empty, aligned, sized) and the
    // outputs overlap nothing; the caller guarantees each is valid for its extent.
    let target: Targets<'_> = unsafe {
        if call.target_dtype == MML_DTYPE_INT64 {
            t64.as_slice().into()
        } else {
            t32.as_slice().into()
        }
    };
    if !compute {
        return check_only::<S>(loss, n, c, target, &grad_output, &output, &grad, grad_pitch);
    }
    // SAFETY: as above.
    let input = unsafe { input.as_slice() };
    // SAFETY: as above.
    let grad_output = grad_output.map(|raw| unsafe { raw.as_slice() });
    // SAFETY: as above; the outputs are disjoint from every other buffer.
    let output = output.map(|raw| unsafe { raw.as_mut_slice() });
    // SAFETY: as above.
    let grad = grad.map(|raw| (unsafe { raw.as_mut_slice() }, grad_pitch));
    // Both pitches were checked above: every error left is mml's own.
    loss.compute_rows(
        (input, call.input_pitch),
        target,
        n,
        c,
        grad_output,
        output,
        grad,
    )
    .map_err(Failure::from)
}

/// The checks [`crate::MultiMarginLoss::compute_rows`] makes, in its order, without computing.
#[allow(clippy::too_many_arguments)]
fn check_only<S: Scores>(
    loss: &crate::MultiMarginLoss,
    n: usize,
    c: usize,
    target: Targets<'_>,
    grad_output: &Option<Raw<S::Float>>,
    output: &Option<Raw<S::Float>>,
    grad: &Option<Raw<impl Sized>>,
    grad_pitch: usize,
) -> Result<(), Failure> {
    let expect = |buffer, actual: usize, expected: usize| {
        if actual == expected {
            Ok(())
        } else {
            Err(Failure::from(Error::ShapeMismatch {
                buffer,
                expected,
                actual,
            }))
        }
    };
    if let Some(w) = <S::Float as Float>::weight(loss) {
        expect(Buffer::Weight, w.len(), c)?;
    }
    let out_len = loss.output_len(n);
    if let Some(o) = output {
        expect(Buffer::Output, o.len, out_len)?;
    }
    if let Some(go) = grad_output {
        expect(Buffer::GradOutput, go.len, out_len)?;
    }
    if let Some(gi) = grad {
        expect(
            Buffer::GradInput,
            gi.len,
            rows_extent::<u8>(Arg::GradInput, n, c, grad_pitch)?,
        )?;
    }
    check_targets(target, c)?;
    Ok(())
}

/// The loss of `n` rows of `c` scores of any dtype.
///
/// - `dtype`: `MML_DTYPE_FLOAT32`, `_FLOAT64`, `_BFLOAT16` or `_FLOAT16` (16-bit values given as
///   their bits). Half scores are widened to float32, exactly, and computed in float32, as
///   PyTorch's CPU autocast does.
/// - `input`: rows of `c` scores, `input_pitch` values apart (`input_pitch >= c`; `c` for
///   contiguous rows): `(n-1)·input_pitch + c` values.
/// - `target_dtype`: `MML_DTYPE_INT64` or `MML_DTYPE_INT32`; `target`: `n` class indices.
/// - `output`: `output_len` values (`n` for `MML_REDUCTION_NONE`, else 1), `double` for float64
///   scores, else `float`.
/// - `error`: NULL, or an `MmlError` that receives the call's detail (on success too).
///
/// Statuses as for `mml_forward`, and `MML_STATUS_UNSUPPORTED_TENSOR` for an unknown dtype,
/// `MML_STATUS_INVALID_LAYOUT` for a pitch below `c` or one that overflows. On any error
/// nothing is written but `*error`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_forward_typed(
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
) -> u32 {
    ffi_detail!(error, {
        let call = Call {
            loss,
            dtype,
            input,
            input_pitch,
            target_dtype,
            target,
            n,
            c,
            grad_output: None,
            output: Some((output, output_len)),
            grad: None,
            detail: super::detail::Detail::new(error).map_or(0..0, |d| d.bytes()),
        };
        // SAFETY: the caller's contract for the pointers; `dispatch` checks what can be checked.
        unsafe { dispatch(call, true) }
    })
}

/// The gradient with respect to `input`, arguments as in `mml_forward_typed`, and:
///
/// - `grad_output`: the upstream gradient, `grad_output_len` values (`n` for
///   `MML_REDUCTION_NONE`, else 1), of the output's type.
/// - `grad_dtype`: the gradient's type: the scores' dtype, or `MML_DTYPE_FLOAT32` for half
///   scores (the float32 gradient; in the half type it is that gradient rounded to nearest even,
///   as PyTorch's autocast returns it).
/// - `grad_input`: rows of `c` values, `grad_input_pitch` apart (`>= c`), every row's `c`
///   values written, the values between rows untouched. It must not overlap any input.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_backward_typed(
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
) -> u32 {
    ffi_detail!(error, {
        let call = Call {
            loss,
            dtype,
            input,
            input_pitch,
            target_dtype,
            target,
            n,
            c,
            grad_output: Some((grad_output, grad_output_len)),
            output: None,
            grad: Some((grad_dtype, grad_input, Extent::Pitch(grad_input_pitch))),
            detail: super::detail::Detail::new(error).map_or(0..0, |d| d.bytes()),
        };
        // SAFETY: the caller's contract for the pointers; `dispatch` checks what can be checked.
        unsafe { dispatch(call, true) }
    })
}

/// The loss and its gradient in one pass, bit-identical to `mml_forward_typed` followed by
/// `mml_backward_typed`; arguments as in those two.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_forward_backward_typed(
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
    output: *mut c_void,
    output_len: usize,
    grad_dtype: u32,
    grad_input: *mut c_void,
    grad_input_pitch: usize,
    error: *mut MmlError,
) -> u32 {
    ffi_detail!(error, {
        let call = Call {
            loss,
            dtype,
            input,
            input_pitch,
            target_dtype,
            target,
            n,
            c,
            grad_output: Some((grad_output, grad_output_len)),
            output: Some((output, output_len)),
            grad: Some((grad_dtype, grad_input, Extent::Pitch(grad_input_pitch))),
            detail: super::detail::Detail::new(error).map_or(0..0, |d| d.bytes()),
        };
        // SAFETY: the caller's contract for the pointers; `dispatch` checks what can be checked.
        unsafe { dispatch(call, true) }
    })
}

/// Explains a status of the untyped entry points (`mml_forward`, `mml_backward`,
/// `mml_forward_backward` and their `_f64` forms): runs the checks such a call makes, with the
/// same arguments, computes nothing, writes only `*error`, and returns the status the call
/// returns (`MML_STATUS_OK` if it passes every check).
///
/// - `op`: `MML_OP_FORWARD`, `MML_OP_BACKWARD` or `MML_OP_FORWARD_BACKWARD`: which call. The
///   arguments that call does not take are ignored (pass NULL and 0).
/// - `dtype`: `MML_DTYPE_FLOAT32` for the float calls, `MML_DTYPE_FLOAT64` for the `_f64` ones.
/// - the rest: the call's arguments (its targets are int64).
///
/// Side-effect free: the buffers are only read (the targets, to find the first bad one).
/// `MML_STATUS_INVALID_ARGUMENT` for an unknown `op`, `MML_STATUS_UNSUPPORTED_TENSOR` for
/// another `dtype`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_explain(
    loss: *const MmlLoss,
    op: u32,
    dtype: u32,
    input: *const c_void,
    target: *const i64,
    n: usize,
    c: usize,
    grad_output: *const c_void,
    grad_output_len: usize,
    output: *const c_void,
    output_len: usize,
    grad_input: *const c_void,
    grad_input_len: usize,
    error: *mut MmlError,
) -> u32 {
    ffi_detail!(error, {
        if op > MML_OP_FORWARD_BACKWARD {
            return Err(Failure {
                status: MML_STATUS_INVALID_ARGUMENT,
                argument: super::detail::MML_ARG_NONE,
                expected: 0,
                actual: u64::from(op),
                reason: Reason::Other(format!(
                    "op {op} is not MML_OP_FORWARD, MML_OP_BACKWARD or MML_OP_FORWARD_BACKWARD"
                )),
            });
        }
        if !matches!(dtype, MML_DTYPE_FLOAT32 | MML_DTYPE_FLOAT64) {
            return Err(Failure::dtype("dtype", u64::from(dtype)));
        }
        let takes_output = op != MML_OP_BACKWARD;
        let takes_grad = op != MML_OP_FORWARD;
        let call = Call {
            loss,
            dtype,
            input,
            input_pitch: c,
            target_dtype: MML_DTYPE_INT64,
            target: target.cast(),
            n,
            c,
            grad_output: takes_grad.then_some((grad_output, grad_output_len)),
            output: takes_output.then_some((output.cast_mut(), output_len)),
            grad: takes_grad.then_some((dtype, grad_input.cast_mut(), Extent::Len(grad_input_len))),
            // Nothing is written but the detail: it may overlap anything.
            detail: 0..0,
        };
        // SAFETY: the caller's contract for the pointers; only the targets are read.
        unsafe { dispatch(call, false) }
    })
}
