//! The AVX-512 backend: 16 `f32` or 8 `f64` rows per 512-bit vector, comparisons into
//! mask registers.
//!
//! Every intrinsic here needs AVX-512F. The vector types are private to this module and created
//! only inside [`run_f32`] / [`run_f64`], which are `#[target_feature(enable = "avx512f")]` and
//! called only after detection; that is the invariant every `SAFETY` comment below relies on.

use std::arch::x86_64::*;

use super::Vector;
use crate::kernel::{Params, Task};

#[derive(Clone, Copy)]
pub(super) struct F32x16(__m512);

#[derive(Clone, Copy)]
pub(super) struct F64x8(__m512d);

/// Runs a `f32` task with AVX-512 vectors.
#[target_feature(enable = "avx512f")]
pub(super) fn run_f32(params: &Params<f32>, c: usize, task: Task<'_, f32>) {
    super::run::<f32, F32x16>(params, c, task)
}

/// Runs a `f64` task with AVX-512 vectors.
#[target_feature(enable = "avx512f")]
pub(super) fn run_f64(params: &Params<f64>, c: usize, task: Task<'_, f64>) {
    super::run::<f64, F64x8>(params, c, task)
}

impl Vector<f32> for F32x16 {
    const LANES: usize = 16;
    type Mask = __mmask16;

    #[inline(always)]
    fn splat(v: f32) -> Self {
        // SAFETY: AVX-512F is available (module invariant).
        F32x16(unsafe { _mm512_set1_ps(v) })
    }
    #[inline(always)]
    fn load(src: &[f32]) -> Self {
        let src = &src[..16];
        // SAFETY: AVX-512F is available; `src` holds 16 floats; unaligned load.
        F32x16(unsafe { _mm512_loadu_ps(src.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, dst: &mut [f32]) {
        let dst = &mut dst[..16];
        // SAFETY: AVX-512F is available; `dst` holds 16 floats; unaligned store.
        unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        // SAFETY: AVX-512F is available.
        F32x16(unsafe { _mm512_add_ps(self.0, rhs.0) })
    }
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        // SAFETY: AVX-512F is available.
        F32x16(unsafe { _mm512_sub_ps(self.0, rhs.0) })
    }
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        // SAFETY: AVX-512F is available.
        F32x16(unsafe { _mm512_mul_ps(self.0, rhs.0) })
    }
    #[inline(always)]
    fn div(self, rhs: Self) -> Self {
        // SAFETY: AVX-512F is available.
        F32x16(unsafe { _mm512_div_ps(self.0, rhs.0) })
    }
    #[inline(always)]
    fn gt(self, rhs: Self) -> __mmask16 {
        // SAFETY: AVX-512F is available. Ordered, quiet: false where either side is NaN.
        unsafe { _mm512_cmp_ps_mask::<_CMP_GT_OQ>(self.0, rhs.0) }
    }
    #[inline(always)]
    fn ne(self, rhs: Self) -> __mmask16 {
        // SAFETY: AVX-512F is available.
        unsafe { _mm512_cmp_ps_mask::<_CMP_NEQ_OQ>(self.0, rhs.0) }
    }
    #[inline(always)]
    fn and(a: __mmask16, b: __mmask16) -> __mmask16 {
        a & b
    }
    #[inline(always)]
    fn select(mask: __mmask16, if_true: Self, if_false: Self) -> Self {
        // SAFETY: AVX-512F is available.
        F32x16(unsafe { _mm512_mask_blend_ps(mask, if_false.0, if_true.0) })
    }
}

impl Vector<f64> for F64x8 {
    const LANES: usize = 8;
    type Mask = __mmask8;

    #[inline(always)]
    fn splat(v: f64) -> Self {
        // SAFETY: AVX-512F is available (module invariant).
        F64x8(unsafe { _mm512_set1_pd(v) })
    }
    #[inline(always)]
    fn load(src: &[f64]) -> Self {
        let src = &src[..8];
        // SAFETY: AVX-512F is available; `src` holds 8 doubles; unaligned load.
        F64x8(unsafe { _mm512_loadu_pd(src.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, dst: &mut [f64]) {
        let dst = &mut dst[..8];
        // SAFETY: AVX-512F is available; `dst` holds 8 doubles; unaligned store.
        unsafe { _mm512_storeu_pd(dst.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        // SAFETY: AVX-512F is available.
        F64x8(unsafe { _mm512_add_pd(self.0, rhs.0) })
    }
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        // SAFETY: AVX-512F is available.
        F64x8(unsafe { _mm512_sub_pd(self.0, rhs.0) })
    }
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        // SAFETY: AVX-512F is available.
        F64x8(unsafe { _mm512_mul_pd(self.0, rhs.0) })
    }
    #[inline(always)]
    fn div(self, rhs: Self) -> Self {
        // SAFETY: AVX-512F is available.
        F64x8(unsafe { _mm512_div_pd(self.0, rhs.0) })
    }
    #[inline(always)]
    fn gt(self, rhs: Self) -> __mmask8 {
        // SAFETY: AVX-512F is available. Ordered, quiet: false where either side is NaN.
        unsafe { _mm512_cmp_pd_mask::<_CMP_GT_OQ>(self.0, rhs.0) }
    }
    #[inline(always)]
    fn ne(self, rhs: Self) -> __mmask8 {
        // SAFETY: AVX-512F is available.
        unsafe { _mm512_cmp_pd_mask::<_CMP_NEQ_OQ>(self.0, rhs.0) }
    }
    #[inline(always)]
    fn and(a: __mmask8, b: __mmask8) -> __mmask8 {
        a & b
    }
    #[inline(always)]
    fn select(mask: __mmask8, if_true: Self, if_false: Self) -> Self {
        // SAFETY: AVX-512F is available.
        F64x8(unsafe { _mm512_mask_blend_pd(mask, if_false.0, if_true.0) })
    }
}
