//! The DLPack entry points: `mml_forward_dlpack`, `mml_backward_dlpack` and
//! `mml_forward_backward_dlpack`, each role a `DLTensor` (dlpack/dlpack.h; declared in
//! include/mml_dlpack.h, which includes that header rather than defining the types again).
//!
//! Each tensor is read once into a checked [`Tensor`]: device `kDLCPU`, `lanes` 1, a dtype and
//! `ndim` the role takes, a shape that agrees with the scores', strides in elements (NULL:
//! compact row-major; any sign, 0 included for inputs) whose extent in bytes fits the address
//! space, `byte_offset` applied, the first element aligned for its type. Outputs must not
//! overlap themselves (their strides map distinct indices to distinct elements) or any other
//! tensor's extent. Rows that are contiguous and at least `c` apart run
//! [`crate::MultiMarginLoss::compute_rows`] directly; any other layout goes through
//! [`crate::MultiMarginLoss::compute_view`] as `ndarray` views (staged a block at a time).

use std::ffi::c_void;
use std::ops::{Range, RangeInclusive};
use std::ptr::NonNull;

use half::{bf16, f16};
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, ShapeBuilder};

use super::MmlLoss;
use super::buffers::Raw;
use super::detail::{Arg, Failure, MmlError, Reason, dtype_name, ffi_detail};
use super::status::{
    MML_STATUS_INVALID_ARGUMENT, MML_STATUS_NULL_POINTER, MML_STATUS_SHAPE_MISMATCH,
};
use super::typed::{
    MML_DTYPE_BFLOAT16, MML_DTYPE_FLOAT16, MML_DTYPE_FLOAT32, MML_DTYPE_FLOAT64, MML_DTYPE_INT32,
    MML_DTYPE_INT64, disjoint, handle,
};
use crate::kernel::{GradStore, Targets};
use crate::loss::{MultiMarginLoss, Scores};

/// dlpack.h's `DLDevice` (its `DLDeviceType` enum is a C `int`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DLDevice {
    pub device_type: i32,
    pub device_id: i32,
}

/// dlpack.h's `DLDataType`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DLDataType {
    pub code: u8,
    pub bits: u8,
    pub lanes: u16,
}

/// dlpack.h's `DLTensor` (the same layout in DLPack 0.6 to 1.x).
#[repr(C)]
#[derive(Debug)]
pub struct DLTensor {
    pub data: *mut c_void,
    pub device: DLDevice,
    pub ndim: i32,
    pub dtype: DLDataType,
    pub shape: *mut i64,
    pub strides: *mut i64,
    pub byte_offset: u64,
}

const _: () = assert!(size_of::<DLTensor>() == 48 && align_of::<DLTensor>() == 8);

/// `kDLCPU`.
const KDL_CPU: i32 = 1;
/// `kDLInt`, `kDLFloat`, `kDLBfloat`.
const KDL_INT: u8 = 0;
const KDL_FLOAT: u8 = 2;
const KDL_BFLOAT: u8 = 4;

/// A tensor after every check that needs only the tensor itself.
#[derive(Clone, Debug)]
struct Tensor {
    arg: Arg,
    /// `MML_DTYPE_*`.
    dtype: u32,
    ndim: usize,
    /// `ndim` sizes; unused entries 1.
    shape: [usize; 2],
    /// In elements; 0 for a dimension of length 0 or 1 (its stride moves nowhere).
    strides: [isize; 2],
    /// The element at index 0 (`data + byte_offset`); dangling when the tensor is empty.
    data: *mut u8,
    /// The bytes its elements span (empty for an empty tensor).
    bytes: Range<usize>,
}

fn dtype_of(code: u8, bits: u8) -> Option<u32> {
    match (code, bits) {
        (KDL_FLOAT, 32) => Some(MML_DTYPE_FLOAT32),
        (KDL_FLOAT, 64) => Some(MML_DTYPE_FLOAT64),
        (KDL_BFLOAT, 16) => Some(MML_DTYPE_BFLOAT16),
        (KDL_FLOAT, 16) => Some(MML_DTYPE_FLOAT16),
        (KDL_INT, 64) => Some(MML_DTYPE_INT64),
        (KDL_INT, 32) => Some(MML_DTYPE_INT32),
        _ => None,
    }
}

fn elem_size(dtype: u32) -> usize {
    match dtype {
        MML_DTYPE_FLOAT64 | MML_DTYPE_INT64 => 8,
        MML_DTYPE_FLOAT32 | MML_DTYPE_INT32 => 4,
        _ => 2,
    }
}

fn other(status: u32, arg: Arg, text: String) -> Failure {
    Failure::new(
        status,
        arg,
        Reason::Other(format!("{}: {text}", arg_name(arg))),
    )
}

fn arg_name(arg: Arg) -> &'static str {
    match arg {
        Arg::Input => "input",
        Arg::Target => "target",
        Arg::Output => "output",
        Arg::GradOutput => "grad_output",
        Arg::GradInput => "grad_input",
        Arg::Loss => "loss",
        Arg::Error => "error",
    }
}

/// Reads and checks the tensor behind `ptr` for `arg`: `ndims` the dimensions it may have,
/// `dtypes` the dtypes it may have (named in the message as `takes`).
///
/// # Safety
/// `ptr` is NULL or points to a `DLTensor` whose `shape` and `strides` hold `ndim` values.
unsafe fn read(
    ptr: *const DLTensor,
    arg: Arg,
    ndims: RangeInclusive<usize>,
    dtypes: &[u32],
    takes: &str,
) -> Result<Tensor, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(arg));
    }
    if !ptr.is_aligned() {
        return Err(Failure::raw(
            MML_STATUS_INVALID_ARGUMENT,
            arg,
            align_of::<DLTensor>(),
        ));
    }
    // SAFETY: non-NULL and aligned; by contract a valid DLTensor during the call.
    let t = unsafe { &*ptr };
    if t.device.device_type != KDL_CPU {
        let mut f = Failure::tensor(
            arg,
            format!(
                "device type {} is not kDLCPU (1): mml computes on the CPU",
                t.device.device_type
            ),
        );
        f.expected = KDL_CPU as u64;
        f.actual = t.device.device_type as i64 as u64;
        return Err(f);
    }
    if t.dtype.lanes != 1 {
        let mut f = Failure::tensor(
            arg,
            format!(
                "{} lanes: mml takes scalar elements (lanes 1)",
                t.dtype.lanes
            ),
        );
        f.expected = 1;
        f.actual = u64::from(t.dtype.lanes);
        return Err(f);
    }
    let dtype = dtype_of(t.dtype.code, t.dtype.bits).filter(|d| dtypes.contains(d));
    let Some(dtype) = dtype else {
        return Err(Failure::tensor(
            arg,
            format!(
                "dtype code {} with {} bits is not {takes}",
                t.dtype.code, t.dtype.bits
            ),
        ));
    };
    let ndim = usize::try_from(t.ndim).ok().filter(|d| ndims.contains(d));
    let Some(ndim) = ndim else {
        let mut f = Failure::tensor(
            arg,
            format!(
                "ndim {} is not {}",
                t.ndim,
                if ndims.start() == ndims.end() {
                    ndims.start().to_string()
                } else {
                    format!("{} or {}", ndims.start(), ndims.end())
                }
            ),
        );
        f.actual = t.ndim as i64 as u64;
        return Err(f);
    };
    let mut shape = [1usize; 2];
    let mut strides = [0isize; 2];
    if ndim > 0 {
        if t.shape.is_null() {
            return Err(other(
                MML_STATUS_NULL_POINTER,
                arg,
                format!("shape is NULL with ndim {ndim}"),
            ));
        }
        if !t.shape.is_aligned() || (!t.strides.is_null() && !t.strides.is_aligned()) {
            return Err(other(
                MML_STATUS_INVALID_ARGUMENT,
                arg,
                "shape or strides is not aligned to 8 bytes".into(),
            ));
        }
        for (d, dim) in shape.iter_mut().enumerate().take(ndim) {
            // SAFETY: `shape` holds `ndim` values by the DLPack contract; non-NULL and aligned.
            let size = unsafe { t.shape.add(d).read() };
            *dim = usize::try_from(size).map_err(|_| {
                other(
                    MML_STATUS_INVALID_ARGUMENT,
                    arg,
                    format!("shape[{d}] = {size} is negative"),
                )
            })?;
        }
        for d in 0..ndim {
            strides[d] = if t.strides.is_null() {
                // Compact row-major: the product of the later sizes (bounded by the span check).
                shape[d + 1..ndim]
                    .iter()
                    .try_fold(1isize, |acc, &s| acc.checked_mul(isize::try_from(s).ok()?))
                    .unwrap_or(isize::MAX)
            } else {
                // SAFETY: `strides` holds `ndim` values by the DLPack contract; non-NULL, aligned.
                let stride = unsafe { t.strides.add(d).read() };
                isize::try_from(stride).map_err(|_| {
                    Failure::layout(
                        arg,
                        format!("stride {stride} does not fit the address space"),
                    )
                })?
            };
        }
    }
    for d in 0..2 {
        if shape[d] <= 1 {
            strides[d] = 0;
        }
    }
    let numel = shape[0]
        .checked_mul(shape[1])
        .ok_or_else(|| Failure::layout(arg, format!("shape {:?} overflows", &shape[..ndim])))?;
    let size = elem_size(dtype);
    if numel == 0 {
        // No element is read or written: any data, strides and offset will do.
        let data = NonNull::<u64>::dangling().as_ptr().cast::<u8>();
        let strides = [0, 0];
        return Ok(Tensor {
            arg,
            dtype,
            ndim,
            shape,
            strides,
            data,
            bytes: 0..0,
        });
    }
    if t.data.is_null() {
        return Err(other(
            MML_STATUS_NULL_POINTER,
            arg,
            "data is NULL but holds elements".into(),
        ));
    }
    let base = usize::try_from(t.byte_offset)
        .ok()
        .and_then(|offset| (t.data as usize).checked_add(offset))
        .ok_or_else(|| {
            Failure::layout(
                arg,
                format!("byte_offset {} overflows the address space", t.byte_offset),
            )
        })?;
    if base % size != 0 {
        return Err(Failure::new(
            MML_STATUS_INVALID_ARGUMENT,
            arg,
            Reason::Other(format!(
                "{}: data + byte_offset is not aligned to {size} bytes, its element type's alignment",
                arg_name(arg)
            )),
        ));
    }
    let bytes = span(arg, base, size, &shape, &strides)?;
    // The element at index 0, derived from `data` (its provenance) by the byte offset.
    let data = t.data.cast::<u8>().wrapping_add(base - t.data as usize);
    Ok(Tensor {
        arg,
        dtype,
        ndim,
        shape,
        strides,
        data,
        bytes,
    })
}

/// The bytes a non-empty tensor's elements span; `MML_STATUS_INVALID_LAYOUT` where they do not
/// fit the address space (or exceed `isize::MAX` bytes, Rust's limit for one object).
fn span(
    arg: Arg,
    base: usize,
    size: usize,
    shape: &[usize; 2],
    strides: &[isize; 2],
) -> Result<Range<usize>, Failure> {
    let overflow = || {
        Failure::layout(
            arg,
            format!("strides {strides:?} with shape {shape:?} overflow the address space"),
        )
    };
    let (mut lo, mut hi) = (0i128, 0i128);
    for d in 0..2 {
        let reach = (strides[d] as i128)
            .checked_mul(shape[d] as i128 - 1)
            .ok_or_else(overflow)?;
        if reach < 0 {
            lo = lo.checked_add(reach).ok_or_else(overflow)?;
        } else {
            hi = hi.checked_add(reach).ok_or_else(overflow)?;
        }
    }
    let size = size as i128;
    let total = (hi - lo + 1).checked_mul(size).ok_or_else(overflow)?;
    let start = base as i128 + lo * size;
    let end = base as i128 + (hi + 1) * size;
    if total > isize::MAX as i128 || start < 0 || end > usize::MAX as i128 {
        return Err(overflow());
    }
    Ok(start as usize..end as usize)
}

/// An output's strides map distinct indices to distinct elements: sorted by magnitude, each
/// stride of a dimension longer than 1 is at least the extent of the smaller ones.
fn injective(t: &Tensor) -> Result<(), Failure> {
    let mut dims: Vec<(usize, usize)> = (0..2)
        .filter(|&d| t.shape[d] > 1)
        .map(|d| (t.strides[d].unsigned_abs(), t.shape[d]))
        .collect();
    dims.sort_unstable();
    let mut extent = 1usize;
    for (stride, len) in dims {
        if stride < extent {
            return Err(Failure::aliased(t.arg, t.arg));
        }
        extent = stride.saturating_mul(len);
    }
    Ok(())
}

fn mismatch(arg: Arg, expected: usize, actual: usize, text: String) -> Failure {
    let mut f = Failure::new(MML_STATUS_SHAPE_MISMATCH, arg, Reason::Shape(arg, text));
    f.expected = expected as u64;
    f.actual = actual as u64;
    f
}

/// Elements of a vector tensor (`()` holds one).
fn numel(t: &Tensor) -> usize {
    if t.ndim == 0 { 1 } else { t.shape[0] }
}

const SCORES: &[u32] = &[
    MML_DTYPE_FLOAT32,
    MML_DTYPE_FLOAT64,
    MML_DTYPE_BFLOAT16,
    MML_DTYPE_FLOAT16,
];
const TARGETS: &[u32] = &[MML_DTYPE_INT64, MML_DTYPE_INT32];

/// Reads every tensor of a call, checks them against each other, then computes.
///
/// # Safety
/// Each pointer is NULL or a valid `DLTensor` whose data is valid for its shape and strides.
unsafe fn call(
    loss: *const MmlLoss,
    input: *const DLTensor,
    target: *const DLTensor,
    grad_output: Option<*const DLTensor>,
    output: Option<*const DLTensor>,
    grad_input: Option<*const DLTensor>,
    detail: Range<usize>,
) -> Result<(), Failure> {
    // SAFETY (every block of this function): the caller's contract for the pointers.
    let handle = unsafe { handle(loss) }?;
    // SAFETY: as above.
    let x = unsafe {
        read(
            input,
            Arg::Input,
            1..=2,
            SCORES,
            "float32, float64, bfloat16 or float16",
        )
    }?;
    let (n, c) = if x.ndim == 2 {
        (x.shape[0], x.shape[1])
    } else {
        (1, x.shape[0])
    };
    // SAFETY: as above.
    let y = unsafe { read(target, Arg::Target, 0..=1, TARGETS, "int64 or int32") }?;
    if numel(&y) != n {
        return Err(mismatch(
            Arg::Target,
            n,
            numel(&y),
            format!("{} class indices for {n} rows of scores", numel(&y)),
        ));
    }
    let float = if x.dtype == MML_DTYPE_FLOAT64 {
        MML_DTYPE_FLOAT64
    } else {
        MML_DTYPE_FLOAT32
    };
    let float_name = if float == MML_DTYPE_FLOAT64 {
        "float64 (the scores are float64)"
    } else {
        "float32 (the scores are not float64)"
    };
    let out_len = handle.loss.output_len(n);
    let vector = |ptr: *const DLTensor, arg: Arg| -> Result<Tensor, Failure> {
        // SAFETY: the caller's contract for the tensor.
        let t = unsafe { read(ptr, arg, 0..=1, &[float], float_name) }?;
        if numel(&t) != out_len {
            return Err(mismatch(
                arg,
                out_len,
                numel(&t),
                format!("{} values where the reduction gives {out_len}", numel(&t)),
            ));
        }
        Ok(t)
    };
    let go = grad_output
        .map(|p| vector(p, Arg::GradOutput))
        .transpose()?;
    let out = output.map(|p| vector(p, Arg::Output)).transpose()?;
    let half = matches!(x.dtype, MML_DTYPE_BFLOAT16 | MML_DTYPE_FLOAT16);
    let grad_dtypes: &[u32] = if half {
        &[x.dtype, MML_DTYPE_FLOAT32]
    } else {
        &[x.dtype]
    };
    let grad_takes = format!(
        "{} (the scores' dtype{})",
        dtype_name(x.dtype),
        if half { ", or float32" } else { "" }
    );
    let gi = grad_input
        // SAFETY: the caller's contract for the tensor.
        .map(|p| unsafe { read(p, Arg::GradInput, 1..=2, grad_dtypes, &grad_takes) })
        .transpose()?;
    if let Some(g) = &gi
        && (g.ndim != x.ndim || g.shape != x.shape)
    {
        return Err(mismatch(
            Arg::GradInput,
            n.saturating_mul(c),
            g.shape[0].saturating_mul(g.shape[1]),
            format!(
                "shape {:?} is not the scores' {:?}",
                &g.shape[..g.ndim],
                &x.shape[..x.ndim]
            ),
        ));
    }
    if let Some(o) = &out {
        injective(o)?;
    }
    if let Some(g) = &gi {
        injective(g)?;
    }
    let bytes = |t: &Option<Tensor>| t.as_ref().map_or(0..0, |t| t.bytes.clone());
    disjoint(
        &[
            (Arg::Output, bytes(&out)),
            (Arg::GradInput, bytes(&gi)),
            (Arg::Error, detail),
        ],
        &[
            (Arg::Input, x.bytes.clone()),
            (Arg::Target, y.bytes.clone()),
            (Arg::GradOutput, bytes(&go)),
        ],
    )?;
    let narrow = gi.as_ref().is_some_and(|g| g.dtype != MML_DTYPE_FLOAT32);
    let t = Tensors {
        n,
        c,
        x,
        y,
        go,
        out,
        gi,
    };
    let loss = &handle.loss;
    // SAFETY: every tensor checked above; the caller's contract for their memory.
    unsafe {
        match (t.x.dtype, narrow) {
            (MML_DTYPE_FLOAT32, _) => compute::<f32, f32>(loss, &t),
            (MML_DTYPE_FLOAT64, _) => compute::<f64, f64>(loss, &t),
            (MML_DTYPE_BFLOAT16, false) => compute::<bf16, f32>(loss, &t),
            (MML_DTYPE_BFLOAT16, true) => compute::<bf16, bf16>(loss, &t),
            (MML_DTYPE_FLOAT16, false) => compute::<f16, f32>(loss, &t),
            (_, _) => compute::<f16, f16>(loss, &t),
        }
    }
}

/// A call's checked tensors.
struct Tensors {
    n: usize,
    c: usize,
    x: Tensor,
    y: Tensor,
    go: Option<Tensor>,
    out: Option<Tensor>,
    gi: Option<Tensor>,
}

/// Rows of a 2-D (or one-row 1-D) tensor as `(pitch)`: contiguous rows at least `c` apart.
fn pitch(t: &Tensor, n: usize, c: usize) -> Option<usize> {
    let (rows, cols) = if t.ndim == 2 {
        (t.strides[0], t.strides[1])
    } else {
        (0, t.strides[0])
    };
    let cols_ok = cols == 1 || c <= 1;
    if !cols_ok {
        return None;
    }
    if n <= 1 {
        return Some(c);
    }
    usize::try_from(rows).ok().filter(|&p| p >= c)
}

/// A vector tensor that is contiguous (unit stride, or at most one element).
fn contiguous(t: &Tensor) -> bool {
    t.ndim == 0 || t.strides[0] == 1 || t.shape[0] <= 1
}

/// # Safety
/// `t` checked by [`read`]; its memory valid for its extent and not written during the call
/// (inputs) or not accessed by anything else (outputs, which [`disjoint`] separated).
unsafe fn slice<'a, T>(t: &Tensor, len: usize) -> &'a [T] {
    let raw = Raw::new(t.data.cast::<T>().cast_const(), len);
    // SAFETY: the caller's contract; aligned and sized by `read`.
    unsafe { raw.as_slice() }
}

/// # Safety
/// As [`slice`], for an output.
unsafe fn slice_mut<'a, T>(t: &Tensor, len: usize) -> &'a mut [T] {
    let raw = Raw::new(t.data.cast::<T>().cast_const(), len);
    // SAFETY: the caller's contract; an output disjoint from every other tensor.
    unsafe { raw.as_mut_slice() }
}

/// The lowest-addressed element and the strides' magnitudes, for a view that `invert_axis`
/// then turns back into the tensor's order along each negative stride.
fn origin(t: &Tensor, shape: [usize; 2], strides: [isize; 2]) -> (*mut u8, [usize; 2]) {
    let size = elem_size(t.dtype) as isize;
    let mut data = t.data;
    for d in 0..2 {
        if strides[d] < 0 && shape[d] > 1 {
            // Within the tensor's span (checked by `read`).
            data = data.wrapping_offset(strides[d] * (shape[d] as isize - 1) * size);
        }
    }
    (data, [strides[0].unsigned_abs(), strides[1].unsigned_abs()])
}

/// The tensor as an `(n, c)` view (a 1-D tensor as one row).
///
/// # Safety
/// As [`slice`].
unsafe fn view2<'a, T>(t: &Tensor, n: usize, c: usize) -> ArrayView2<'a, T> {
    let strides = if t.ndim == 2 {
        t.strides
    } else {
        [0, t.strides[0]]
    };
    let (data, abs) = origin(t, [n, c], strides);
    // SAFETY: `read` checked alignment, the span and its size; negative strides start from the
    // lowest address and are inverted back below; the caller's contract for the memory.
    let mut view =
        unsafe { ArrayView2::from_shape_ptr((n, c).strides((abs[0], abs[1])), data.cast::<T>()) };
    for (d, &stride) in strides.iter().enumerate() {
        if stride < 0 {
            view.invert_axis(Axis(d));
        }
    }
    view
}

/// # Safety
/// As [`slice_mut`].
unsafe fn view2_mut<'a, T>(t: &Tensor, n: usize, c: usize) -> ArrayViewMut2<'a, T> {
    let strides = if t.ndim == 2 {
        t.strides
    } else {
        [0, t.strides[0]]
    };
    let (data, abs) = origin(t, [n, c], strides);
    // SAFETY: as `view2`; the strides are injective (checked for outputs).
    let mut view = unsafe {
        ArrayViewMut2::from_shape_ptr((n, c).strides((abs[0], abs[1])), data.cast::<T>())
    };
    for (d, &stride) in strides.iter().enumerate() {
        if stride < 0 {
            view.invert_axis(Axis(d));
        }
    }
    view
}

/// A vector tensor as a 1-D view (`()` as one element).
///
/// # Safety
/// As [`slice`].
unsafe fn view1<'a, T>(t: &Tensor) -> ArrayView1<'a, T> {
    let len = numel(t);
    let (data, abs) = origin(t, [len, 1], [t.strides[0], 0]);
    // SAFETY: as `view2`.
    let mut view = unsafe { ArrayView1::from_shape_ptr(len.strides(abs[0]), data.cast::<T>()) };
    if t.strides[0] < 0 {
        view.invert_axis(Axis(0));
    }
    view
}

/// # Safety
/// As [`slice_mut`].
unsafe fn view1_mut<'a, T>(t: &Tensor) -> ArrayViewMut1<'a, T> {
    let len = numel(t);
    let (data, abs) = origin(t, [len, 1], [t.strides[0], 0]);
    // SAFETY: as `view2_mut`.
    let mut view = unsafe { ArrayViewMut1::from_shape_ptr(len.strides(abs[0]), data.cast::<T>()) };
    if t.strides[0] < 0 {
        view.invert_axis(Axis(0));
    }
    view
}

/// Pitched rows and contiguous vectors: [`MultiMarginLoss::compute_rows`] on slices, at full
/// speed. Any other layout: [`MultiMarginLoss::compute_view`] on views.
///
/// # Safety
/// As [`call`], with every tensor checked.
unsafe fn compute<S: Scores, G: GradStore<S::Float>>(
    loss: &MultiMarginLoss,
    t: &Tensors,
) -> Result<(), Failure> {
    let (n, c) = (t.n, t.c);
    let extent = |pitch: usize| if n == 0 { 0 } else { (n - 1) * pitch + c };
    let x_pitch = pitch(&t.x, n, c);
    let g_pitch = t.gi.as_ref().map(|g| pitch(g, n, c));
    let vectors = contiguous(&t.y)
        && t.go.as_ref().is_none_or(contiguous)
        && t.out.as_ref().is_none_or(contiguous);
    // SAFETY (every block below): the caller's contract; each tensor checked by `read`, outputs
    // disjoint from everything else.
    if let (Some(xp), true, true) = (x_pitch, g_pitch.is_none_or(|p| p.is_some()), vectors) {
        let input = unsafe { slice::<S>(&t.x, extent(xp)) };
        let target: Targets<'_> = match t.y.dtype {
            MML_DTYPE_INT64 => unsafe { slice::<i64>(&t.y, n) }.into(),
            _ => unsafe { slice::<i32>(&t.y, n) }.into(),
        };
        let go =
            t.go.as_ref()
                .map(|g| unsafe { slice::<S::Float>(g, numel(g)) });
        let out = t
            .out
            .as_ref()
            .map(|o| unsafe { slice_mut::<S::Float>(o, numel(o)) });
        let gi = t.gi.as_ref().map(|g| {
            let gp = pitch(g, n, c).expect("checked");
            (unsafe { slice_mut::<G>(g, extent(gp)) }, gp)
        });
        return loss
            .compute_rows((input, xp), target, n, c, go, out, gi)
            .map_err(Failure::from);
    }
    let input = unsafe { view2::<S>(&t.x, n, c) };
    let go = t.go.as_ref().map(|g| unsafe { view1::<S::Float>(g) });
    let out = t.out.as_ref().map(|o| unsafe { view1_mut::<S::Float>(o) });
    let gi = t.gi.as_ref().map(|g| unsafe { view2_mut::<G>(g, n, c) });
    match t.y.dtype {
        MML_DTYPE_INT64 => loss.compute_view(input, unsafe { view1::<i64>(&t.y) }, go, out, gi),
        _ => loss.compute_view(input, unsafe { view1::<i32>(&t.y) }, go, out, gi),
    }
    .map_err(Failure::from)
}

/// The loss of the scores `input` (`(n, c)`, or `(c)`: one row) with class indices `target`
/// (`(n)`; `()` or `(1)` for one row), into `output`.
///
/// - `input`: float32, float64, bfloat16 or float16 (`lanes` 1), `ndim` 2 or 1, any strides in
///   elements (negative and 0 included; NULL: compact row-major), `byte_offset` honoured,
///   device `kDLCPU`.
/// - `target`: int64 or int32, `ndim` 1 (or 0 for one row), any strides.
/// - `output`: float64 for float64 scores, else float32: `(n)` for `MML_REDUCTION_NONE`
///   (`()` also for one row), `()` or `(1)` for mean and sum. Any strides that do not make it
///   overlap itself; it must not overlap any other tensor's extent.
/// - `error`: NULL, or an `MmlError` for the detail (written on success too).
///
/// Statuses: those of `mml_forward_typed`, and `MML_STATUS_UNSUPPORTED_TENSOR` for another
/// device, dtype, `lanes` or `ndim`; `MML_STATUS_SHAPE_MISMATCH` for a shape that disagrees
/// with the scores'; `MML_STATUS_INVALID_LAYOUT` for strides or a `byte_offset` whose extent
/// overflows the address space; `MML_STATUS_ALIASED_BUFFERS` for an output that overlaps
/// itself or another tensor. On any error nothing is written but `*error`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_forward_dlpack(
    loss: *const MmlLoss,
    input: *const DLTensor,
    target: *const DLTensor,
    output: *mut DLTensor,
    error: *mut MmlError,
) -> u32 {
    ffi_detail!(error, {
        let detail = super::detail::Detail::new(error).map_or(0..0, |d| d.bytes());
        // SAFETY: the caller's contract for the tensors; `call` checks what can be checked.
        unsafe {
            call(
                loss,
                input,
                target,
                None,
                Some(output.cast_const()),
                None,
                detail,
            )
        }
    })
}

/// The gradient with respect to `input`; tensors as in `mml_forward_dlpack`, and:
///
/// - `grad_output`: like the output (the upstream gradient).
/// - `grad_input`: the scores' shape; the scores' dtype, or float32 for half scores (then the
///   float32 gradient; in the half type it is rounded to nearest even, as PyTorch's autocast
///   returns it). Any strides that do not make it overlap itself; it must not overlap any
///   other tensor's extent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_backward_dlpack(
    loss: *const MmlLoss,
    input: *const DLTensor,
    target: *const DLTensor,
    grad_output: *const DLTensor,
    grad_input: *mut DLTensor,
    error: *mut MmlError,
) -> u32 {
    ffi_detail!(error, {
        let detail = super::detail::Detail::new(error).map_or(0..0, |d| d.bytes());
        // SAFETY: the caller's contract for the tensors; `call` checks what can be checked.
        unsafe {
            call(
                loss,
                input,
                target,
                Some(grad_output),
                None,
                Some(grad_input.cast_const()),
                detail,
            )
        }
    })
}

/// The loss and its gradient in one pass, bit-identical to `mml_forward_dlpack` followed by
/// `mml_backward_dlpack`; tensors as in those two.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mml_forward_backward_dlpack(
    loss: *const MmlLoss,
    input: *const DLTensor,
    target: *const DLTensor,
    grad_output: *const DLTensor,
    output: *mut DLTensor,
    grad_input: *mut DLTensor,
    error: *mut MmlError,
) -> u32 {
    ffi_detail!(error, {
        let detail = super::detail::Detail::new(error).map_or(0..0, |d| d.bytes());
        // SAFETY: the caller's contract for the tensors; `call` checks what can be checked.
        unsafe {
            call(
                loss,
                input,
                target,
                Some(grad_output),
                Some(output.cast_const()),
                Some(grad_input.cast_const()),
                detail,
            )
        }
    })
}
