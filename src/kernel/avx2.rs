//! The AVX2 backend: 8 `f32` or 4 `f64` rows per 256-bit vector. The entry points enable FMA
//! as the target requires, but the arithmetic uses only separate multiplies and adds
//! (intrinsics are never contracted).
//!
//! Every intrinsic here needs AVX (or AVX2). The vector types are created only inside the entry
//! points below, `#[target_feature]` functions enabling AVX2 and FMA that `platform` calls only
//! after detecting both: the invariant every `SAFETY` comment below relies on.

use std::arch::x86_64::*;

use super::element::Target;
use super::schedule::{self, Schedule, Work};
use super::task::Params;
use super::vector::{Classes, Load, MAX_LANES, MAX_TILE, Vector};

#[derive(Clone, Copy)]
pub(super) struct F32x8(__m256);

#[derive(Clone, Copy)]
pub(super) struct F64x4(__m256d);

schedule::entries! {
    #[target_feature(enable = "avx2,fma")]
    forward_short_f32 = forward<f32, F32x8, true, true>;
    forward_long_f32 = forward<f32, F32x8, false, true>;
    gradient_short_f32 = gradient<f32, F32x8, true, true>;
    gradient_long_f32 = gradient<f32, F32x8, false, true>;
    forward_short_f64 = forward<f64, F64x4, true, true>;
    forward_long_f64 = forward<f64, F64x4, false, true>;
    gradient_short_f64 = gradient<f64, F64x4, true, false>;
    gradient_long_f64 = gradient<f64, F64x4, false, false>;
}

/// [`super::sum::sum_in_any_order`] compiled for this backend's instruction set.
#[target_feature(enable = "avx2,fma")]
pub(super) fn sum_in_any_order(total: f64, losses: &[f32]) -> Option<f64> {
    super::sum::sum_in_any_order(total, losses)
}

/// The first target outside `[0, c)`, if any, scanned with this backend's 64-bit compares.
#[target_feature(enable = "avx2,fma")]
pub(super) fn first_bad_target<Y: Target>(target: &[Y], c: usize) -> Option<usize> {
    super::element::first_bad_target(target, c)
}

impl Vector<f32> for F32x8 {
    const LANES: usize = 8;
    const TILE: usize = 8;
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
    fn gt_where_ne(self, rhs: Self, class: Self, column: Self) -> __m256 {
        let above = self.gt(rhs);
        // SAFETY: AVX is available.
        unsafe { _mm256_and_ps(above, class.ne(column)) }
    }
    #[inline(always)]
    fn select(mask: __m256, if_true: Self, if_false: Self) -> Self {
        // SAFETY: AVX is available. Comparison masks are all-ones or all-zeros per lane.
        F32x8(unsafe { _mm256_blendv_ps(if_false.0, if_true.0, mask) })
    }
    // A blend adds a cycle or two to every link of the sum's chain; the `and` is off it.
    #[inline(always)]
    fn add_where(self, mask: __m256, term: Self) -> Self {
        // SAFETY: AVX is available.
        self.add(F32x8(unsafe { _mm256_and_ps(term.0, mask) }))
    }
    #[inline(always)]
    fn sub_where(self, mask: __m256, term: Self) -> Self {
        // SAFETY: AVX is available.
        self.sub(F32x8(unsafe { _mm256_and_ps(term.0, mask) }))
    }

    #[inline(always)]
    fn widen(self, out: &mut [f64; MAX_LANES]) {
        // SAFETY: AVX is available; `out` holds 16 doubles, of which the first 8 are written
        // (unaligned) with the exact `f32 -> f64` conversions of the lanes.
        unsafe {
            let lo = _mm256_castps256_ps128(self.0);
            let hi = _mm256_extractf128_ps::<1>(self.0);
            _mm256_storeu_pd(out.as_mut_ptr(), _mm256_cvtps_pd(lo));
            _mm256_storeu_pd(out[4..].as_mut_ptr(), _mm256_cvtps_pd(hi));
        }
    }

    #[inline(always)]
    fn store_columns(
        cols: &[Self; MAX_TILE],
        pitch: usize,
        first: usize,
        width: usize,
        grads: &mut [f32],
    ) {
        assert!(width <= 8 && first + width <= pitch && grads.len() >= 7 * pitch + first + width);
        let mut r = [
            cols[0].0, cols[1].0, cols[2].0, cols[3].0, cols[4].0, cols[5].0, cols[6].0, cols[7].0,
        ];
        transpose_f32x8(&mut r);
        if width == 8 {
            for (k, v) in r.into_iter().enumerate() {
                // SAFETY: AVX is available. Writes `grads[k·pitch + first .. k·pitch + first + 8]`, inside
                // `grads` by the assert.
                unsafe { _mm256_storeu_ps(grads.as_mut_ptr().add(k * pitch + first), v) };
            }
        } else {
            // `maskstore` is microcoded and slow on AMD cores; the `width` lanes go out as at
            // most three plain stores of 4, 2 and 1 values instead.
            for (k, v) in r.into_iter().enumerate() {
                let row = &mut grads[k * pitch + first..k * pitch + first + width];
                store_low_lanes_f32(row, v);
            }
        }
    }
}

impl Vector<f64> for F64x4 {
    const LANES: usize = 4;
    const TILE: usize = 4;
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
    fn gt_where_ne(self, rhs: Self, class: Self, column: Self) -> __m256d {
        let above = self.gt(rhs);
        // SAFETY: AVX is available.
        unsafe { _mm256_and_pd(above, class.ne(column)) }
    }
    #[inline(always)]
    fn select(mask: __m256d, if_true: Self, if_false: Self) -> Self {
        // SAFETY: AVX is available. Comparison masks are all-ones or all-zeros per lane.
        F64x4(unsafe { _mm256_blendv_pd(if_false.0, if_true.0, mask) })
    }
    // A blend adds a cycle or two to every link of the sum's chain; the `and` is off it.
    #[inline(always)]
    fn add_where(self, mask: __m256d, term: Self) -> Self {
        // SAFETY: AVX is available.
        self.add(F64x4(unsafe { _mm256_and_pd(term.0, mask) }))
    }
    #[inline(always)]
    fn sub_where(self, mask: __m256d, term: Self) -> Self {
        // SAFETY: AVX is available.
        self.sub(F64x4(unsafe { _mm256_and_pd(term.0, mask) }))
    }

    #[inline(always)]
    fn widen(self, out: &mut [f64; MAX_LANES]) {
        self.store(out);
    }

    #[inline(always)]
    fn store_columns(
        cols: &[Self; MAX_TILE],
        pitch: usize,
        first: usize,
        width: usize,
        grads: &mut [f64],
    ) {
        assert!(width <= 4 && first + width <= pitch && grads.len() >= 3 * pitch + first + width);
        let mut r = [cols[0].0, cols[1].0, cols[2].0, cols[3].0];
        transpose_f64x4(&mut r);
        if width == 4 {
            for (k, v) in r.into_iter().enumerate() {
                // SAFETY: AVX is available. Writes `grads[k·pitch + first .. k·pitch + first + 4]`, inside
                // `grads` by the assert.
                unsafe { _mm256_storeu_pd(grads.as_mut_ptr().add(k * pitch + first), v) };
            }
        } else {
            // As for `f32`: at most two plain stores of 2 and 1 values, not `maskstore`.
            for (k, v) in r.into_iter().enumerate() {
                let row = &mut grads[k * pitch + first..k * pitch + first + width];
                store_low_lanes_f64(row, v);
            }
        }
    }
}

impl Classes<F32x8> for i64 {
    #[inline(always)]
    fn classes(targets: &[i64]) -> F32x8 {
        let targets = &targets[..8];
        // SAFETY: AVX2 is available; `targets` holds 8 `i64`s, read unaligned as two vectors.
        // Targets below 2^24 (checked before any kernel reads them): their low halves are the values,
        // converted to `f32` exactly.
        F32x8(unsafe {
            let low_halves = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
            let lo = _mm256_loadu_si256(targets.as_ptr().cast());
            let hi = _mm256_loadu_si256(targets[4..].as_ptr().cast());
            let lo = _mm256_permutevar8x32_epi32(lo, low_halves);
            let hi = _mm256_permutevar8x32_epi32(hi, low_halves);
            _mm256_cvtepi32_ps(_mm256_permute2x128_si256::<0x20>(lo, hi))
        })
    }
}

impl Classes<F64x4> for i64 {
    #[inline(always)]
    fn classes(targets: &[i64]) -> F64x4 {
        let targets = &targets[..4];
        // SAFETY: AVX2 is available; `targets` holds 4 `i64`s, read unaligned. Targets below
        // 2^24 (checked before any kernel reads them): their low halves are the values, converted
        // exactly.
        F64x4(unsafe {
            let low_halves = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
            let v = _mm256_loadu_si256(targets.as_ptr().cast());
            let v = _mm256_permutevar8x32_epi32(v, low_halves);
            _mm256_cvtepi32_pd(_mm256_castsi256_si128(v))
        })
    }
}

impl Load<F32x8> for f32 {
    #[inline(always)]
    fn load_columns(
        rows: &[f32],
        pitch: usize,
        first: usize,
        width: usize,
        out: &mut [F32x8; MAX_TILE],
    ) {
        assert!(width <= 8 && first + width <= pitch && rows.len() >= 7 * pitch + first + width);
        if width < 8 && rows.len() >= 7 * pitch + first + width.next_multiple_of(4) {
            for g in 0..2 {
                if 4 * g < width {
                    // SAFETY: the group reads `rows[k·pitch + first + 4g ..][..4]` for k < 8, which
                    // ends at most at `7·pitch + first + 4·ceil(width/4)`, inside `rows` by the test
                    // above.
                    let cols =
                        unsafe { load_column_group(rows.as_ptr().add(first + 4 * g), pitch) };
                    for (o, v) in out[4 * g..4 * g + 4].iter_mut().zip(cols) {
                        *o = F32x8(v);
                    }
                }
            }
            return;
        }
        let mut r = [F32x8::splat(0.0).0; 8];
        if width == 8 {
            for (k, v) in r.iter_mut().enumerate() {
                // SAFETY: AVX is available. Reads `rows[k·pitch + first .. k·pitch + first + 8]`, inside
                // `rows` by the assert (k < 8, width = 8).
                *v = unsafe { _mm256_loadu_ps(rows.as_ptr().add(k * pitch + first)) };
            }
        } else {
            let mask = lanes_below_32(width);
            for (k, v) in r.iter_mut().enumerate() {
                // SAFETY: AVX is available. Lanes `0..width` read `rows[k·pitch + first ..
                // k·pitch + first + width]`, inside `rows` by the assert; masked-off lanes are not
                // accessed (no fault).
                *v = unsafe { _mm256_maskload_ps(rows.as_ptr().add(k * pitch + first), mask) };
            }
        }
        transpose_f32x8(&mut r);
        for (o, v) in out.iter_mut().zip(r) {
            *o = F32x8(v);
        }
    }
}

impl Load<F64x4> for f64 {
    #[inline(always)]
    fn load_columns(
        rows: &[f64],
        pitch: usize,
        first: usize,
        width: usize,
        out: &mut [F64x4; MAX_TILE],
    ) {
        assert!(width <= 4 && first + width <= pitch && rows.len() >= 3 * pitch + first + width);
        let mut r = [F64x4::splat(0.0).0; 4];
        if width == 4 {
            for (k, v) in r.iter_mut().enumerate() {
                // SAFETY: AVX is available. Reads `rows[k·pitch + first .. k·pitch + first + 4]`, inside
                // `rows` by the assert (k < 4, width = 4).
                *v = unsafe { _mm256_loadu_pd(rows.as_ptr().add(k * pitch + first)) };
            }
        } else {
            let mask = lanes_below_64(width);
            for (k, v) in r.iter_mut().enumerate() {
                // SAFETY: AVX is available. Lanes `0..width` read `rows[k·pitch + first ..
                // k·pitch + first + width]`, inside `rows` by the assert; masked-off lanes are not
                // accessed (no fault).
                *v = unsafe { _mm256_maskload_pd(rows.as_ptr().add(k * pitch + first), mask) };
            }
        }
        transpose_f64x4(&mut r);
        for (o, v) in out.iter_mut().zip(r) {
            *o = F64x4(v);
        }
    }
}

/// Columns `0..4` of the 8 rows at `at`, `pitch` values apart, as 8-lane vectors: rows `m` and
/// `4 + m` are read as 4 values each into the two halves of one register, then each half is
/// transposed as a 4×4 block. 8 loads and 8 in-lane shuffles, where the 8×8 transpose costs 24
/// shuffles whatever the width: the cheaper way for partial tiles (measured on Zen 4: forward
/// 7% faster at c = 7, 12% at c = 3). Only loads: gradients keep the transpose, as 4-column
/// group stores measured no faster.
///
/// # Safety
/// AVX must be available, and `at[k·pitch .. k·pitch + 4]` readable for every `k < 8`.
#[inline(always)]
unsafe fn load_column_group(at: *const f32, pitch: usize) -> [__m256; 4] {
    // SAFETY: the caller's contract covers every load; the rest are register operations.
    unsafe {
        let (a0, a1, a2, a3) = (
            group_rows(at, pitch, 0),
            group_rows(at, pitch, 1),
            group_rows(at, pitch, 2),
            group_rows(at, pitch, 3),
        );
        // Half h of t0 = [row 4h c0, row 4h+1 c0, row 4h c1, row 4h+1 c1], t1 the same for
        // columns 2 and 3, t2 and t3 for rows 4h+2 and 4h+3.
        let t0 = _mm256_castps_pd(_mm256_unpacklo_ps(a0, a1));
        let t1 = _mm256_castps_pd(_mm256_unpackhi_ps(a0, a1));
        let t2 = _mm256_castps_pd(_mm256_unpacklo_ps(a2, a3));
        let t3 = _mm256_castps_pd(_mm256_unpackhi_ps(a2, a3));
        [
            _mm256_castpd_ps(_mm256_unpacklo_pd(t0, t2)),
            _mm256_castpd_ps(_mm256_unpackhi_pd(t0, t2)),
            _mm256_castpd_ps(_mm256_unpacklo_pd(t1, t3)),
            _mm256_castpd_ps(_mm256_unpackhi_pd(t1, t3)),
        ]
    }
}

/// Rows `m` and `4 + m` of [`load_column_group`]'s 8, 4 values each, one per half. A function,
/// not a closure, which the compiler may leave out of line (see `avx512::group_rows`).
///
/// # Safety
/// As [`load_column_group`].
#[inline(always)]
unsafe fn group_rows(at: *const f32, pitch: usize, m: usize) -> __m256 {
    // SAFETY: the caller's contract covers both loads.
    unsafe {
        _mm256_insertf128_ps::<1>(
            _mm256_castps128_ps256(_mm_loadu_ps(at.add(m * pitch))),
            _mm_loadu_ps(at.add((4 + m) * pitch)),
        )
    }
}

/// Writes lanes `0..dst.len()` of `v` (`dst.len() < 8`) to `dst`, nothing else.
#[inline(always)]
fn store_low_lanes_f32(dst: &mut [f32], v: __m256) {
    let width = dst.len();
    assert!(width < 8);
    // SAFETY: AVX is available; shuffles and stores only. Each store writes `dst[at..at + k]`
    // with `at + k <= width = dst.len()`: 4 values when bit 2 of `width` is set, then 2 when
    // bit 1 is, then 1 when bit 0 is, each from the next unwritten lanes.
    unsafe {
        let mut rest = _mm256_castps256_ps128(v);
        let mut at = 0;
        if width & 4 != 0 {
            _mm_storeu_ps(dst.as_mut_ptr(), rest);
            rest = _mm256_extractf128_ps::<1>(v);
            at = 4;
        }
        if width & 2 != 0 {
            _mm_storel_epi64(dst.as_mut_ptr().add(at).cast(), _mm_castps_si128(rest));
            rest = _mm_movehl_ps(rest, rest);
            at += 2;
        }
        if width & 1 != 0 {
            _mm_store_ss(dst.as_mut_ptr().add(at), rest);
        }
    }
}

/// Writes lanes `0..dst.len()` of `v` (`dst.len() < 4`) to `dst`, nothing else: the same
/// stores as [`store_low_lanes_f32`] on twice as many `f32` halves.
#[inline(always)]
fn store_low_lanes_f64(dst: &mut [f64], v: __m256d) {
    assert!(dst.len() < 4);
    // SAFETY: `dst`'s memory viewed as twice as many `f32`s: the same bytes, aligned for `f32`
    // (less than `f64` needs), and `dst`'s exclusive borrow covers the view's use. AVX is
    // available for the register cast. Lane `i` of `v` is `f32` lanes `2i, 2i + 1` of the cast,
    // so the `f32` stores write exactly the bytes of `dst`'s lanes.
    let (halves, v) = unsafe {
        (
            std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<f32>(), 2 * dst.len()),
            _mm256_castpd_ps(v),
        )
    };
    store_low_lanes_f32(halves, v);
}

/// A `maskload`/`maskstore` mask: 32-bit lanes `0..width` all ones (sign bit set), the rest 0.
#[inline(always)]
fn lanes_below_32(width: usize) -> __m256i {
    // SAFETY: AVX2 is available (module invariant); register operations only.
    unsafe {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(width as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
}

/// A `maskload`/`maskstore` mask: 64-bit lanes `0..width` all ones, the rest 0.
#[inline(always)]
fn lanes_below_64(width: usize) -> __m256i {
    // SAFETY: AVX2 is available (module invariant); register operations only.
    unsafe {
        _mm256_cmpgt_epi64(
            _mm256_set1_epi64x(width as i64),
            _mm256_setr_epi64x(0, 1, 2, 3),
        )
    }
}

/// Transposes an 8×8 matrix of `f32` held as 8 row vectors, in place (its own inverse).
#[inline(always)]
fn transpose_f32x8(r: &mut [__m256; 8]) {
    // SAFETY: AVX is available (module invariant); shuffles only, no memory access.
    unsafe {
        // a[2m] half h = [r2m[4h], r2m+1[4h], r2m[4h+1], r2m+1[4h+1]], a[2m+1] for 4h+2, 4h+3.
        let mut a = [_mm256_setzero_ps(); 8];
        for m in 0..4 {
            a[2 * m] = _mm256_unpacklo_ps(r[2 * m], r[2 * m + 1]);
            a[2 * m + 1] = _mm256_unpackhi_ps(r[2 * m], r[2 * m + 1]);
        }
        // b[4q+p] half h = column 4h+p of rows 4q..4q+3.
        let mut b = [_mm256_setzero_ps(); 8];
        for q in 0..2 {
            let (lo, hi) = (_mm256_castps_pd(a[4 * q]), _mm256_castps_pd(a[4 * q + 2]));
            let (lo2, hi2) = (
                _mm256_castps_pd(a[4 * q + 1]),
                _mm256_castps_pd(a[4 * q + 3]),
            );
            b[4 * q] = _mm256_castpd_ps(_mm256_unpacklo_pd(lo, hi));
            b[4 * q + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(lo, hi));
            b[4 * q + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(lo2, hi2));
            b[4 * q + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(lo2, hi2));
        }
        // Column 4h+p, half q = b[4q+p] half h.
        for p in 0..4 {
            r[p] = _mm256_permute2f128_ps::<0x20>(b[p], b[4 + p]);
            r[4 + p] = _mm256_permute2f128_ps::<0x31>(b[p], b[4 + p]);
        }
    }
}

/// Transposes a 4×4 matrix of `f64` held as 4 row vectors, in place (its own inverse).
#[inline(always)]
fn transpose_f64x4(r: &mut [__m256d; 4]) {
    // SAFETY: AVX is available (module invariant); shuffles only, no memory access.
    unsafe {
        // a[2m+p] half h = column 2h+p of rows 2m, 2m+1.
        let a = [
            _mm256_unpacklo_pd(r[0], r[1]),
            _mm256_unpackhi_pd(r[0], r[1]),
            _mm256_unpacklo_pd(r[2], r[3]),
            _mm256_unpackhi_pd(r[2], r[3]),
        ];
        // Column 2h+p, half m = a[2m+p] half h.
        for p in 0..2 {
            r[p] = _mm256_permute2f128_pd::<0x20>(a[p], a[2 + p]);
            r[2 + p] = _mm256_permute2f128_pd::<0x31>(a[p], a[2 + p]);
        }
    }
}
