//! An independent scalar oracle for the hardening tests and the fuzz targets (which include this
//! file through `#[path]`).
//!
//! It is built from the reference row functions alone (`mml::kernel::reference::row_loss` and
//! `row_grad`, never `row_loss_grad` nor `kernel::run`, so the fused pass and every ISA backend
//! are checked against the separate, plain loops) plus the reduction rules written out here:
//! row losses summed into a float64 accumulator in row order from 0, per block of
//! `engine::rows_per_block(c)` rows and then block partials in order when `n·c` reaches
//! `engine::PARALLEL_MIN_ELEMENTS`, `/ n` in float64 for mean, then the cast.
#![allow(dead_code)]

pub mod child;

use mml::engine::{PARALLEL_MIN_ELEMENTS, rows_per_block};
use mml::ffi::{self, MmlLoss};
use mml::kernel::{Params, reference};
use mml::{Float, Power, Reduction};

/// A loss configuration as the oracle sees it; `weight` is the caller's f32 weights.
#[derive(Clone, Debug)]
pub struct Spec {
    pub power: Power,
    pub margin: f64,
    pub weight: Option<Vec<f32>>,
    pub reduction: Reduction,
}

impl Spec {
    /// `n` for `none`, else 1: the length of `output` and `grad_output`.
    pub fn output_len(&self, n: usize) -> usize {
        match self.reduction {
            Reduction::None => n,
            Reduction::Mean | Reduction::Sum => 1,
        }
    }

    pub fn ffi_reduction(&self) -> u32 {
        match self.reduction {
            Reduction::None => ffi::MML_REDUCTION_NONE,
            Reduction::Mean => ffi::MML_REDUCTION_MEAN,
            Reduction::Sum => ffi::MML_REDUCTION_SUM,
        }
    }

    pub fn ffi_p(&self) -> u32 {
        match self.power {
            Power::One => 1,
            Power::Two => 2,
        }
    }

    /// The same loss through the safe API.
    pub fn safe(&self) -> mml::MultiMarginLoss {
        mml::MultiMarginLoss::new(mml::Options {
            power: self.power,
            margin: self.margin,
            weight: self.weight.clone(),
            reduction: self.reduction,
        })
    }

    /// The same loss through `mml_create`; panics if creation fails.
    pub fn create(&self) -> Handle {
        let w = self.weight.as_deref().unwrap_or(&[]);
        let mut out: *mut MmlLoss = std::ptr::null_mut();
        // SAFETY: `w` is valid for its length, `out` is a valid slot.
        let status = unsafe {
            ffi::mml_create(
                self.ffi_p(),
                self.margin,
                w.as_ptr(),
                w.len(),
                self.ffi_reduction(),
                &mut out,
            )
        };
        assert_eq!(status, ffi::MML_STATUS_OK, "mml_create failed for {self:?}");
        assert!(!out.is_null());
        Handle(out)
    }
}

/// An owned C handle, destroyed on drop. Shareable across threads like the C handle.
pub struct Handle(pub *mut MmlLoss);
// SAFETY: the C ABI documents the handle as immutable and shareable across threads.
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by `mml_create`, destroyed once.
        unsafe { ffi::mml_destroy(self.0) }
    }
}

fn weights<T: Elem>(spec: &Spec) -> Option<Vec<T>> {
    spec.weight
        .as_ref()
        .map(|w| w.iter().map(|&v| T::from_f32(v)).collect())
}

/// `acc + x` as PyTorch's `sum += x` computes it on x86: where both are NaN, the
/// accumulator's NaN (the first one met) is the result. Written out, because a compiler may
/// swap the operands of an add, and with them which NaN an `addsd` keeps.
fn add(acc: f64, x: f64) -> f64 {
    if acc.is_nan() { acc } else { acc + x }
}

/// The float64 sum of row losses as mml defines it (blocked above the parallel threshold).
fn reduce<T: Float>(losses: &[T], n: usize, c: usize) -> f64 {
    let sum = |rows: &[T]| rows.iter().fold(0.0f64, |acc, l| add(acc, l.to_f64()));
    if n.saturating_mul(c) < PARALLEL_MIN_ELEMENTS {
        sum(losses)
    } else {
        // Each block: sixteen interleaved partials (row i into i % 16), then those in order.
        let block_sum = |rows: &[T]| {
            let mut partials = [0.0f64; 16];
            for (i, l) in rows.iter().enumerate() {
                partials[i % 16] = add(partials[i % 16], l.to_f64());
            }
            partials.iter().fold(0.0f64, |acc, &p| add(acc, p))
        };
        losses
            .chunks(rows_per_block(c))
            .map(block_sum)
            .fold(0.0f64, add)
    }
}

/// The expected `output` of a forward call (targets must be in range, lengths right).
pub fn forward<T: Elem>(spec: &Spec, input: &[T], target: &[i64], n: usize, c: usize) -> Vec<T> {
    let w = weights::<T>(spec);
    let params = Params {
        power: spec.power,
        margin: T::from_f64(spec.margin),
        weight: w.as_deref(),
    };
    let losses: Vec<T> = (0..n)
        .map(|i| reference::row_loss(&params, &input[i * c..(i + 1) * c], target[i] as usize))
        .collect();
    match spec.reduction {
        Reduction::None => losses,
        Reduction::Sum => vec![T::from_f64(reduce(&losses, n, c))],
        Reduction::Mean => vec![T::from_f64(reduce(&losses, n, c) / n as f64)],
    }
}

/// The expected `grad_input` of a backward call.
pub fn backward<T: Elem>(
    spec: &Spec,
    input: &[T],
    target: &[i64],
    n: usize,
    c: usize,
    grad_output: &[T],
) -> Vec<T> {
    let w = weights::<T>(spec);
    let params = Params {
        power: spec.power,
        margin: T::from_f64(spec.margin),
        weight: w.as_deref(),
    };
    let g = T::from_f64(match spec.reduction {
        Reduction::Mean => 1.0 / ((n * c) as f64),
        Reduction::None | Reduction::Sum => 1.0 / (c as f64),
    });
    let mut grad = vec![T::ZERO; n * c];
    for i in 0..n {
        let up = match spec.reduction {
            Reduction::None => grad_output[i],
            Reduction::Mean | Reduction::Sum => grad_output[0],
        };
        reference::row_grad(
            &params,
            &input[i * c..(i + 1) * c],
            target[i] as usize,
            g,
            up,
            &mut grad[i * c..(i + 1) * c],
        );
    }
    grad
}

/// Equal bits, NaN sign and payload included.
pub fn same<T: Float>(a: T, b: T) -> bool {
    a.to_bits_u64() == b.to_bits_u64()
}

/// Index of the first element that differs under [`same`], if any; lengths must match.
pub fn first_diff<T: Float>(got: &[T], want: &[T]) -> Option<usize> {
    assert_eq!(got.len(), want.len(), "length differs");
    got.iter().zip(want).position(|(&a, &b)| !same(a, b))
}

#[track_caller]
pub fn assert_same<T: Float>(got: &[T], want: &[T], what: &str) {
    if let Some(i) = first_diff(got, want) {
        panic!(
            "{what}: element {i} differs: got {:?}, want {:?}",
            got[i], want[i]
        );
    }
}

type ForwardFn<T> =
    unsafe extern "C" fn(*const MmlLoss, *const T, *const i64, usize, usize, *mut T, usize) -> u32;
type BackwardFn<T> = unsafe extern "C" fn(
    *const MmlLoss,
    *const T,
    *const i64,
    usize,
    usize,
    *const T,
    usize,
    *mut T,
    usize,
) -> u32;
type FusedFn<T> = unsafe extern "C" fn(
    *const MmlLoss,
    *const T,
    *const i64,
    usize,
    usize,
    *const T,
    usize,
    *mut T,
    usize,
    *mut T,
    usize,
) -> u32;

/// The element types of the C ABI, with their entry points and some values worth trying.
pub trait Elem: Float {
    const FORWARD: ForwardFn<Self>;
    const BACKWARD: BackwardFn<Self>;
    const FUSED: FusedFn<Self>;
    /// Values that break naive code: zeros, NaNs, infinities, subnormals, extremes.
    const SPECIAL: &'static [Self];
    fn from_f32(v: f32) -> Self;
    /// Any bit pattern, from the low bits of `bits`.
    fn from_raw(bits: u64) -> Self;
}

impl Elem for f32 {
    const FORWARD: ForwardFn<f32> = ffi::mml_forward;
    const BACKWARD: BackwardFn<f32> = ffi::mml_backward;
    const FUSED: FusedFn<f32> = ffi::mml_forward_backward;
    const SPECIAL: &'static [f32] = &[
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1.0e-45, // smallest subnormal
        -1.0e-45,
        1.1754942e-38, // largest subnormal
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        1.0 + f32::EPSILON,
        1.0e19, // squares overflow to inf
        -1.0e19,
        16777216.0,
        16777217.0,
    ];
    fn from_f32(v: f32) -> f32 {
        v
    }
    fn from_raw(bits: u64) -> f32 {
        f32::from_bits(bits as u32)
    }
}

impl Elem for f64 {
    const FORWARD: ForwardFn<f64> = ffi::mml_forward_f64;
    const BACKWARD: BackwardFn<f64> = ffi::mml_backward_f64;
    const FUSED: FusedFn<f64> = ffi::mml_forward_backward_f64;
    const SPECIAL: &'static [f64] = &[
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        5.0e-324,
        -5.0e-324,
        2.225073858507201e-308,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        1.0 + f64::EPSILON,
        1.0e160,
        -1.0e160,
        1.0e-45,
        1.1754942e-38,
    ];
    fn from_f32(v: f32) -> f64 {
        f64::from(v)
    }
    fn from_raw(bits: u64) -> f64 {
        f64::from_bits(bits)
    }
}
