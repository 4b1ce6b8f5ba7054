//! The AVX2 backend: 8 `f32` or 4 `f64` rows per 256-bit vector. The entry points enable FMA
//! as the target requires, but the arithmetic uses only separate multiplies and adds
//! (intrinsics are never contracted).
//!
//! Every intrinsic here needs AVX (or AVX2). The vector types are private to this module and created only
//! inside [`run_f32`] / [`run_f64`], which are `#[target_feature(enable = "avx2,fma")]` and
//! called only after detection; that is the invariant every `SAFETY` comment below relies on.

use std::arch::x86_64::*;

use super::Vector;
use crate::kernel::{Params, Task};

#[derive(Clone, Copy)]
pub(super) struct F32x8(__m256);

#[derive(Clone, Copy)]
pub(super) struct F64x4(__m256d);

/// Runs a `f32` task with AVX2 vectors.
#[target_feature(enable = "avx2,fma")]
pub(super) fn run_f32(params: &Params<f32>, c: usize, task: Task<'_, f32>) {
    super::run::<f32, F32x8>(params, c, task)
}

/// Runs a `f64` task with AVX2 vectors.
#[target_feature(enable = "avx2,fma")]
pub(super) fn run_f64(params: &Params<f64>, c: usize, task: Task<'_, f64>) {
    super::run::<f64, F64x4>(params, c, task)
}

impl Vector<f32> for F32x8 {
    const LANES: usize = 8;
    type Mask = __m256;

    #[inline(always)]
    fn splat(v: f32) -> Self {
        // SAFETY: AVX is available (module invariant).
        F32x8(unsafe { _mm256_set1_ps(v) })
    }
    #[inline(always)]
    fn load(src: &[f32]) -> Self {
        let src = &src[..8];
        // SAFETY: AVX is available; `src` holds 8 floats; unaligned load.
        F32x8(unsafe { _mm256_loadu_ps(src.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, dst: &mut [f32]) {
        let dst = &mut dst[..8];
        // SAFETY: AVX is available; `dst` holds 8 floats; unaligned store.
        unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        // SAFETY: AVX is available.
        F32x8(unsafe { _mm256_add_ps(self.0, rhs.0) })
    }
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        // SAFETY: AVX is available.
        F32x8(unsafe { _mm256_sub_ps(self.0, rhs.0) })
    }
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        // SAFETY: AVX is available.
        F32x8(unsafe { _mm256_mul_ps(self.0, rhs.0) })
    }
    #[inline(always)]
    fn div(self, rhs: Self) -> Self {
        // SAFETY: AVX is available.
        F32x8(unsafe { _mm256_div_ps(self.0, rhs.0) })
    }
    #[inline(always)]
    fn gt(self, rhs: Self) -> __m256 {
        // SAFETY: AVX is available. Ordered, quiet: false where either side is NaN.
        unsafe { _mm256_cmp_ps::<_CMP_GT_OQ>(self.0, rhs.0) }
    }
    #[inline(always)]
    fn ne(self, rhs: Self) -> __m256 {
        // SAFETY: AVX is available.
        unsafe { _mm256_cmp_ps::<_CMP_NEQ_OQ>(self.0, rhs.0) }
    }
    #[inline(always)]
    fn and(a: __m256, b: __m256) -> __m256 {
        // SAFETY: AVX is available.
        unsafe { _mm256_and_ps(a, b) }
    }
    #[inline(always)]
    fn select(mask: __m256, if_true: Self, if_false: Self) -> Self {
        // SAFETY: AVX is available. Comparison masks are all-ones or all-zeros per lane.
        F32x8(unsafe { _mm256_blendv_ps(if_false.0, if_true.0, mask) })
    }
}

impl Vector<f64> for F64x4 {
    const LANES: usize = 4;
    type Mask = __m256d;

    #[inline(always)]
    fn splat(v: f64) -> Self {
        // SAFETY: AVX is available (module invariant).
        F64x4(unsafe { _mm256_set1_pd(v) })
    }
    #[inline(always)]
    fn load(src: &[f64]) -> Self {
        let src = &src[..4];
        // SAFETY: AVX is available; `src` holds 4 doubles; unaligned load.
        F64x4(unsafe { _mm256_loadu_pd(src.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, dst: &mut [f64]) {
        let dst = &mut dst[..4];
        // SAFETY: AVX is available; `dst` holds 4 doubles; unaligned store.
        unsafe { _mm256_storeu_pd(dst.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        // SAFETY: AVX is available.
        F64x4(unsafe { _mm256_add_pd(self.0, rhs.0) })
    }
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        // SAFETY: AVX is available.
        F64x4(unsafe { _mm256_sub_pd(self.0, rhs.0) })
    }
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        // SAFETY: AVX is available.
        F64x4(unsafe { _mm256_mul_pd(self.0, rhs.0) })
    }
    #[inline(always)]
    fn div(self, rhs: Self) -> Self {
        // SAFETY: AVX is available.
        F64x4(unsafe { _mm256_div_pd(self.0, rhs.0) })
    }
    #[inline(always)]
    fn gt(self, rhs: Self) -> __m256d {
        // SAFETY: AVX is available. Ordered, quiet: false where either side is NaN.
        unsafe { _mm256_cmp_pd::<_CMP_GT_OQ>(self.0, rhs.0) }
    }
    #[inline(always)]
    fn ne(self, rhs: Self) -> __m256d {
        // SAFETY: AVX is available.
        unsafe { _mm256_cmp_pd::<_CMP_NEQ_OQ>(self.0, rhs.0) }
    }
    #[inline(always)]
    fn and(a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: AVX is available.
        unsafe { _mm256_and_pd(a, b) }
    }
    #[inline(always)]
    fn select(mask: __m256d, if_true: Self, if_false: Self) -> Self {
        // SAFETY: AVX is available. Comparison masks are all-ones or all-zeros per lane.
        F64x4(unsafe { _mm256_blendv_pd(if_false.0, if_true.0, mask) })
    }
}
