//! The AVX2 backend: 8 `f32` or 4 `f64` rows per 256-bit vector, a tile as wide as a vector.
//! No FMA is written (docs/DESIGN.md, "Exactness invariants").
//!
//! Module invariant, which every `SAFETY` comment relies on: the vector types are created only
//! inside the entries below, which `platform` calls only after detecting AVX2, FMA and F16C.

use std::arch::x86_64::*;

use super::element::{Half, Targets, half_bits};
use super::schedule::{self, Schedule};
use super::task::{Params, Task};
use super::vector::{Load, MAX_LANES, MAX_TILE, Vector};

#[derive(Clone, Copy)]
pub(super) struct F32x8(__m256);

#[derive(Clone, Copy)]
pub(super) struct F64x4(__m256d);

schedule::entries! {
    #[target_feature(enable = "avx2,fma")]
    F32 = f32, F32x8, [(SHORT), (STREAMS), (SHORT | GRAD), (GRAD)];
    F64 = f64, F64x4, [(SHORT), (STREAMS), (SHORT | GRAD), (GRAD)];
}

// 16-bit scores, widened in registers (F16C for `f16`, a shift for `bf16`).
schedule::entries! {
    #[target_feature(enable = "avx2,fma,f16c")]
    BF16 = half::bf16, F32x8, [(SHORT), (STREAMS), (SHORT | GRAD), (GRAD)];
    F16 = half::f16, F32x8, [(SHORT), (STREAMS), (SHORT | GRAD), (GRAD)];
}

/// [`super::sum::sum_in_any_order`] compiled for this backend's instruction set.
#[target_feature(enable = "avx2,fma")]
pub(super) fn sum_in_any_order(total: f64, losses: &[f32]) -> Option<f64> {
    super::sum::sum_in_any_order(total, losses)
}

/// The first target outside `[0, c)`, if any, scanned with this backend's 64-bit compares.
#[target_feature(enable = "avx2,fma")]
pub(super) fn first_bad_target(target: Targets<'_>, c: usize) -> Option<usize> {
    super::element::first_bad_target(target, c)
}

/// `Vector` and `Load` for one vector type: the same intrinsics with `_ps` or `_pd`.
macro_rules! avx2_vector {
    ($v:ident($reg:ty): $t:ty, $lanes:literal, $set1:ident, $loadu:ident, $storeu:ident,
     $add:ident, $sub:ident, $mul:ident, $div:ident, $cmp:ident, $and:ident, $blendv:ident,
     $maskload:ident, $lanes_below:ident, $transpose:ident, $store_low:ident, $classes:ident,
     $classes_i32:ident, $widen:ident, $groups:ident) => {
        impl Vector<$t> for $v {
            const LANES: usize = $lanes;
            const TILE: usize = $lanes;
            type Mask = $reg;

            #[inline(always)]
            fn splat(v: $t) -> Self {
                // SAFETY: AVX (module invariant).
                $v(unsafe { $set1(v) })
            }
            #[inline(always)]
            fn load(src: &[$t]) -> Self {
                let src = &src[..$lanes];
                // SAFETY: AVX; `src` holds `LANES` values (unaligned load).
                $v(unsafe { $loadu(src.as_ptr()) })
            }
            #[inline(always)]
            fn store(self, dst: &mut [$t]) {
                let dst = &mut dst[..$lanes];
                // SAFETY: AVX; `dst` holds `LANES` values (unaligned store).
                unsafe { $storeu(dst.as_mut_ptr(), self.0) }
            }
            #[inline(always)]
            fn add(self, rhs: Self) -> Self {
                // SAFETY: AVX (module invariant).
                $v(unsafe { $add(self.0, rhs.0) })
            }
            #[inline(always)]
            fn sub(self, rhs: Self) -> Self {
                // SAFETY: AVX (module invariant).
                $v(unsafe { $sub(self.0, rhs.0) })
            }
            #[inline(always)]
            fn mul(self, rhs: Self) -> Self {
                // SAFETY: AVX (module invariant).
                $v(unsafe { $mul(self.0, rhs.0) })
            }
            #[inline(always)]
            fn div(self, rhs: Self) -> Self {
                // SAFETY: AVX (module invariant).
                $v(unsafe { $div(self.0, rhs.0) })
            }
            #[inline(always)]
            fn gt(self, rhs: Self) -> $reg {
                // SAFETY: AVX. Ordered, quiet: false where either side is NaN.
                unsafe { $cmp::<_CMP_GT_OQ>(self.0, rhs.0) }
            }
            #[inline(always)]
            fn ne(self, rhs: Self) -> $reg {
                // SAFETY: AVX (module invariant).
                unsafe { $cmp::<_CMP_NEQ_OQ>(self.0, rhs.0) }
            }
            #[inline(always)]
            fn gt_where_ne(self, rhs: Self, class: Self, column: Self) -> $reg {
                // Two compares and an `and`, in the measured order.
                let above = self.gt(rhs);
                // SAFETY: AVX (module invariant).
                unsafe { $and(above, class.ne(column)) }
            }
            #[inline(always)]
            fn select(mask: $reg, if_true: Self, if_false: Self) -> Self {
                // SAFETY: AVX. Comparison masks are all ones or all zeros per lane.
                $v(unsafe { $blendv(if_false.0, if_true.0, mask) })
            }
            // `term & mask` (`+0.0` if masked) keeps a blend off the sum's chain (docs/DESIGN.md).
            #[inline(always)]
            fn add_where(self, mask: $reg, term: Self) -> Self {
                // SAFETY: AVX (module invariant).
                self.add($v(unsafe { $and(term.0, mask) }))
            }
            #[inline(always)]
            fn sub_where(self, mask: $reg, term: Self) -> Self {
                // SAFETY: AVX (module invariant).
                self.sub($v(unsafe { $and(term.0, mask) }))
            }
            #[inline(always)]
            fn widen(self, out: &mut [f64; MAX_LANES]) {
                $widen(self.0, out)
            }
            #[inline(always)]
            fn classes_i64(targets: &[i64]) -> Self {
                $v($classes(&targets[..$lanes]))
            }
            #[inline(always)]
            fn classes_i32(targets: &[i32]) -> Self {
                let targets = &targets[..$lanes];
                // SAFETY: AVX2; `targets` holds `LANES` `i32`s (unaligned load).
                $v(unsafe { $classes_i32(targets.as_ptr().cast()) })
            }
            #[inline(always)]
            fn store_columns(
                cols: &[Self; MAX_TILE],
                pitch: usize,
                first: usize,
                width: usize,
                grads: &mut [$t],
            ) {
                assert!(width <= $lanes && grads.len() >= ($lanes - 1) * pitch + first + width);
                let mut r = [cols[0].0; $lanes];
                for (r, c) in r.iter_mut().zip(cols) {
                    *r = c.0;
                }
                $transpose(&mut r);
                if width == $lanes {
                    for (k, v) in r.into_iter().enumerate() {
                        // SAFETY: AVX; writes `grads[k·pitch + first..][..LANES]`, inside `grads`
                        // by the assert (unaligned store).
                        unsafe { $storeu(grads.as_mut_ptr().add(k * pitch + first), v) };
                    }
                } else {
                    // `maskstore` is microcoded and slow on AMD cores: at most three plain stores.
                    for (k, v) in r.into_iter().enumerate() {
                        $store_low(&mut grads[k * pitch + first..k * pitch + first + width], v);
                    }
                }
            }
        }

        impl Load<$v> for $t {
            #[inline(always)]
            fn load_columns(
                rows: &[$t],
                pitch: usize,
                first: usize,
                width: usize,
                out: &mut [$v; MAX_TILE],
            ) {
                assert!(width <= $lanes && rows.len() >= ($lanes - 1) * pitch + first + width);
                if $groups(rows, pitch, first, width, out) {
                    return;
                }
                let mask = $lanes_below(width);
                let mut r = [<$v as Vector<$t>>::splat(0.0).0; $lanes];
                for (k, v) in r.iter_mut().enumerate() {
                    // SAFETY: AVX. A whole tile reads `rows[k·pitch + first..][..LANES]`, inside
                    // `rows` by the assert; otherwise lanes `0..width` read `width` values, inside
                    // too, and masked-off lanes are not accessed (no fault).
                    *v = unsafe {
                        let at = rows.as_ptr().add(k * pitch + first);
                        if width == $lanes {
                            $loadu(at)
                        } else {
                            $maskload(at, mask)
                        }
                    };
                }
                $transpose(&mut r);
                for (o, v) in out.iter_mut().zip(r) {
                    *o = $v(v);
                }
            }
        }
    };
}

avx2_vector!(F32x8(__m256): f32, 8, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps,
    _mm256_add_ps, _mm256_sub_ps, _mm256_mul_ps, _mm256_div_ps, _mm256_cmp_ps, _mm256_and_ps,
    _mm256_blendv_ps, _mm256_maskload_ps, lanes_below_32, transpose_f32x8, store_low_lanes_f32,
    classes_f32, classes_i32_f32, widen_f32, column_groups_f32);
avx2_vector!(F64x4(__m256d): f64, 4, _mm256_set1_pd, _mm256_loadu_pd, _mm256_storeu_pd,
    _mm256_add_pd, _mm256_sub_pd, _mm256_mul_pd, _mm256_div_pd, _mm256_cmp_pd, _mm256_and_pd,
    _mm256_blendv_pd, _mm256_maskload_pd, lanes_below_64, transpose_f64x4, store_low_lanes_f64,
    classes_f64, classes_i32_f64, widen_f64, no_column_groups);

/// Partial `f32` tiles where `rows` goes on past them, as 4-column groups: rows `m` and `4 + m`
/// into one register's halves, each half a 4×4 transpose (docs/DESIGN.md). Returns whether it did.
#[inline(always)]
fn column_groups_f32(
    rows: &[f32],
    pitch: usize,
    first: usize,
    width: usize,
    out: &mut [F32x8; MAX_TILE],
) -> bool {
    if width == 8 || rows.len() < 7 * pitch + first + width.next_multiple_of(4) {
        return false;
    }
    for g in [0, 4] {
        if g >= width {
            break;
        }
        let at = rows[first + g..].as_ptr();
        // SAFETY: AVX. Reads `rows[k·pitch + first + g..][..4]` for k < 8, which ends at most
        // at `7·pitch + first + 4·ceil(width/4)`, inside `rows` by the test above.
        let mut square = unsafe {
            [
                group_rows(at, pitch, 0),
                group_rows(at, pitch, 1),
                group_rows(at, pitch, 2),
                group_rows(at, pitch, 3),
            ]
        };
        transpose_f32x4_halves(&mut square);
        for (o, v) in out[g..g + 4].iter_mut().zip(square) {
            *o = F32x8(v);
        }
    }
    true
}

/// `f64` tiles take no group loads.
#[inline(always)]
fn no_column_groups(_: &[f64], _: usize, _: usize, _: usize, _: &mut [F64x4; MAX_TILE]) -> bool {
    false
}

/// Rows `m` and `4 + m` of a group, one per half (a function: closures are not always inlined).
///
/// # Safety
/// AVX, and `at[m·pitch..][..4]` and `at[(4 + m)·pitch..][..4]` readable.
#[inline(always)]
unsafe fn group_rows(at: *const f32, pitch: usize, m: usize) -> __m256 {
    // SAFETY: the caller's contract covers both loads.
    unsafe {
        let low = _mm256_castps128_ps256(_mm_loadu_ps(at.add(m * pitch)));
        _mm256_insertf128_ps::<1>(low, _mm_loadu_ps(at.add((4 + m) * pitch)))
    }
}

/// Each 128-bit half of 4 registers transposed as a 4×4 square.
#[inline(always)]
fn transpose_f32x4_halves(r: &mut [__m256; 4]) {
    // SAFETY: AVX (module invariant); shuffles only.
    unsafe {
        let t0 = _mm256_castps_pd(_mm256_unpacklo_ps(r[0], r[1]));
        let t1 = _mm256_castps_pd(_mm256_unpackhi_ps(r[0], r[1]));
        let t2 = _mm256_castps_pd(_mm256_unpacklo_ps(r[2], r[3]));
        let t3 = _mm256_castps_pd(_mm256_unpackhi_ps(r[2], r[3]));
        r[0] = _mm256_castpd_ps(_mm256_unpacklo_pd(t0, t2));
        r[1] = _mm256_castpd_ps(_mm256_unpackhi_pd(t0, t2));
        r[2] = _mm256_castpd_ps(_mm256_unpacklo_pd(t1, t3));
        r[3] = _mm256_castpd_ps(_mm256_unpackhi_pd(t1, t3));
    }
}

/// The first 8 targets as exact floats, from their low halves (below 2^24, checked before use).
#[inline(always)]
fn classes_f32(targets: &[i64]) -> __m256 {
    let targets = &targets[..8];
    // SAFETY: AVX2; `targets` holds 8 `i64`s, read unaligned as two vectors.
    unsafe {
        let low_halves = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
        let lo = _mm256_loadu_si256(targets.as_ptr().cast());
        let hi = _mm256_loadu_si256(targets[4..].as_ptr().cast());
        let lo = _mm256_permutevar8x32_epi32(lo, low_halves);
        let hi = _mm256_permutevar8x32_epi32(hi, low_halves);
        _mm256_cvtepi32_ps(_mm256_permute2x128_si256::<0x20>(lo, hi))
    }
}

/// `i32` targets below 2^24 as exact floats, from 8 of them at `at`.
///
/// # Safety
/// AVX2, and 8 readable `i32`s at `at`.
#[inline(always)]
unsafe fn classes_i32_f32(at: *const __m256i) -> __m256 {
    // SAFETY: the caller's contract.
    unsafe { _mm256_cvtepi32_ps(_mm256_loadu_si256(at)) }
}

/// `i32` targets as exact doubles, from 4 of them at `at`.
///
/// # Safety
/// AVX2, and 4 readable `i32`s at `at`.
#[inline(always)]
unsafe fn classes_i32_f64(at: *const __m256i) -> __m256d {
    // SAFETY: the caller's contract.
    unsafe { _mm256_cvtepi32_pd(_mm_loadu_si128(at.cast())) }
}

/// The first 4 targets as exact doubles (see [`classes_f32`]).
#[inline(always)]
fn classes_f64(targets: &[i64]) -> __m256d {
    let targets = &targets[..4];
    // SAFETY: AVX2; `targets` holds 4 `i64`s, read unaligned.
    unsafe {
        let low_halves = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
        let v =
            _mm256_permutevar8x32_epi32(_mm256_loadu_si256(targets.as_ptr().cast()), low_halves);
        _mm256_cvtepi32_pd(_mm256_castsi256_si128(v))
    }
}

/// The lanes widened to `f64` (exact) into `out[..8]`.
#[inline(always)]
fn widen_f32(v: __m256, out: &mut [f64; MAX_LANES]) {
    // SAFETY: AVX; `out` holds 16 doubles, of which the first 8 are written (unaligned).
    unsafe {
        let hi = _mm256_extractf128_ps::<1>(v);
        _mm256_storeu_pd(out.as_mut_ptr(), _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        _mm256_storeu_pd(out[4..].as_mut_ptr(), _mm256_cvtps_pd(hi));
    }
}

/// The lanes into `out[..4]`.
#[inline(always)]
fn widen_f64(v: __m256d, out: &mut [f64; MAX_LANES]) {
    // SAFETY: AVX; `out` holds 16 doubles, of which the first 4 are written (unaligned).
    unsafe { _mm256_storeu_pd(out.as_mut_ptr(), v) }
}

/// Writes lanes `0..dst.len()` of `v` (`dst.len() < 8`) to `dst`, nothing else.
#[inline(always)]
fn store_low_lanes_f32(dst: &mut [f32], v: __m256) {
    let width = dst.len();
    assert!(width < 8);
    // SAFETY: AVX; shuffles and stores only. Each store writes `dst[at..at + k]` with
    // `at + k <= width`: 4 values when bit 2 of `width` is set, then 2 when bit 1 is, then 1
    // when bit 0 is, each from the next unwritten lanes.
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

/// Writes lanes `0..dst.len()` (`< 4`) of `v` to `dst`, nothing else, as twice as many `f32`s.
#[inline(always)]
fn store_low_lanes_f64(dst: &mut [f64], v: __m256d) {
    assert!(dst.len() < 4);
    // SAFETY: `dst`'s bytes viewed as twice as many `f32`s (aligned for `f32`, covered by `dst`'s
    // exclusive borrow); AVX for the register cast, whose `f32` lanes `2i, 2i + 1` are lane `i`.
    let (halves, v) = unsafe {
        (
            std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<f32>(), 2 * dst.len()),
            _mm256_castpd_ps(v),
        )
    };
    store_low_lanes_f32(halves, v);
}

/// A `maskload` mask: 32-bit lanes `0..width` all ones, the rest 0.
#[inline(always)]
fn lanes_below_32(width: usize) -> __m256i {
    // SAFETY: AVX2 (module invariant); register operations only.
    unsafe {
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(width as i32), lanes)
    }
}

/// A `maskload` mask: 64-bit lanes `0..width` all ones, the rest 0.
#[inline(always)]
fn lanes_below_64(width: usize) -> __m256i {
    // SAFETY: AVX2 (module invariant); register operations only.
    unsafe {
        let lanes = _mm256_setr_epi64x(0, 1, 2, 3);
        _mm256_cmpgt_epi64(_mm256_set1_epi64x(width as i64), lanes)
    }
}

/// Transposes an 8×8 matrix of `f32` held as 8 row vectors, in place (its own inverse).
#[inline(always)]
fn transpose_f32x8(r: &mut [__m256; 8]) {
    // SAFETY: AVX (module invariant); shuffles only.
    unsafe {
        // Each 4×4 square of each half, then the halves swapped between rows 0..4 and 4..8.
        let mut lo = [r[0], r[1], r[2], r[3]];
        let mut hi = [r[4], r[5], r[6], r[7]];
        transpose_f32x4_halves(&mut lo);
        transpose_f32x4_halves(&mut hi);
        for p in 0..4 {
            r[p] = _mm256_permute2f128_ps::<0x20>(lo[p], hi[p]);
            r[4 + p] = _mm256_permute2f128_ps::<0x31>(lo[p], hi[p]);
        }
    }
}

/// Transposes a 4×4 matrix of `f64` held as 4 row vectors, in place (its own inverse).
#[inline(always)]
fn transpose_f64x4(r: &mut [__m256d; 4]) {
    // SAFETY: AVX (module invariant); shuffles only.
    unsafe {
        // a[2m + p] half h = column 2h + p of rows 2m, 2m + 1.
        let a = [
            _mm256_unpacklo_pd(r[0], r[1]),
            _mm256_unpackhi_pd(r[0], r[1]),
            _mm256_unpacklo_pd(r[2], r[3]),
            _mm256_unpackhi_pd(r[2], r[3]),
        ];
        for p in 0..2 {
            r[p] = _mm256_permute2f128_pd::<0x20>(a[p], a[2 + p]);
            r[2 + p] = _mm256_permute2f128_pd::<0x31>(a[p], a[2 + p]);
        }
    }
}

/// Up to 8 halves at `rows[at..]` as 16-bit patterns: one load where the row goes on past them
/// (values past `width` read, never used), else `width` values one by one (a task's last rows).
#[inline(always)]
fn half_row<H: Half>(rows: &[H], at: usize, width: usize) -> __m128i {
    if rows.len() >= at + 8 {
        // SAFETY: SSE2; `rows[at..at + 8]` is inside `rows` (16 bytes, unaligned load).
        unsafe { _mm_loadu_si128(rows.as_ptr().add(at).cast()) }
    } else {
        let bits = half_bits::<H, 8>(rows, at, width);
        // SAFETY: SSE2; `bits` holds 8 values.
        unsafe { _mm_loadu_si128(bits.as_ptr().cast()) }
    }
}

/// `Load` for 16-bit scores: each row widened to `f32` in registers (`$widen`), then transposed.
macro_rules! avx2_half_load {
    ($t:ty, $widen:expr) => {
        impl Load<F32x8> for $t {
            #[inline(always)]
            fn load_columns(
                rows: &[$t],
                pitch: usize,
                first: usize,
                width: usize,
                out: &mut [F32x8; MAX_TILE],
            ) {
                assert!(width <= 8 && rows.len() >= 7 * pitch + first + width);
                let mut r = [<F32x8 as Vector<f32>>::splat(0.0).0; 8];
                for (k, v) in r.iter_mut().enumerate() {
                    *v = $widen(half_row(rows, k * pitch + first, width));
                }
                transpose_f32x8(&mut r);
                for (o, v) in out.iter_mut().zip(r) {
                    *o = F32x8(v);
                }
            }
        }
    };
}

avx2_half_load!(half::bf16, |x: __m128i| {
    // SAFETY: AVX2 (module invariant): bfloat16 is the upper half of a float32.
    unsafe { _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(x))) }
});
avx2_half_load!(half::f16, |x: __m128i| {
    // SAFETY: F16C, which the AVX2 path requires (`platform::detect`).
    unsafe { _mm256_cvtph_ps(x) }
});
