//! The AVX-512 backend: 16 `f32` or 8 `f64` rows per 512-bit vector, a tile as wide as a
//! vector, comparisons into mask registers.
//!
//! Module invariant, which every `SAFETY` comment relies on: the vector types are created only
//! inside the entries below, which `platform` calls only after detecting AVX-512F, AVX2 and FMA.

use std::arch::x86_64::*;

use super::element::{Half, Targets, half_bits};
use super::schedule::{self, Schedule};
use super::task::{Params, Task};
use super::vector::{Load, MAX_LANES, MAX_TILE, Vector};

#[derive(Clone, Copy)]
pub(super) struct F32x16(__m512);

#[derive(Clone, Copy)]
pub(super) struct F64x8(__m512d);

// No long `f32` gradient body: `platform` gives those rows to AVX2.
schedule::entries! {
    #[target_feature(enable = "avx512f,avx2,fma")]
    F32 = f32, F32x16, [(SHORT), (STREAMS), (SHORT | GRAD), _];
    F64 = f64, F64x8, [(SHORT), (STREAMS), (SHORT | GRAD), (GRAD)];
    BF16 = half::bf16, F32x16, [(SHORT), (STREAMS), (SHORT | GRAD), _];
    F16 = half::f16, F32x16, [(SHORT), (STREAMS), (SHORT | GRAD), _];
}

/// [`super::sum::sum_in_any_order`] in this backend's vectors (the portable one reduces in scalar).
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) fn sum_in_any_order(total: f64, losses: &[f32]) -> Option<f64> {
    use super::sum::{Lanes, SUM_LANES, exact_total};
    const _: () = assert!(SUM_LANES == 16);
    let (vectors, rest) = losses.as_chunks::<16>();
    if !rest.is_empty() {
        return None;
    }
    let one = _mm512_set1_epi32(1);
    let mut largest = _mm512_setzero_si512();
    let mut smallest = _mm512_set1_epi32(-1);
    let (mut low, mut high) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    for v in vectors {
        // SAFETY: 16 readable floats; AVX-512F as for every function here.
        let x = unsafe { _mm512_loadu_ps(v.as_ptr()) };
        let bits = _mm512_castps_si512(x);
        largest = _mm512_max_epu32(largest, bits);
        smallest = _mm512_min_epu32(smallest, _mm512_sub_epi32(bits, one));
        low = _mm512_add_pd(low, _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
        let upper = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x)));
        high = _mm512_add_pd(high, _mm512_cvtps_pd(upper));
    }
    exact_total(
        total,
        Lanes {
            largest: _mm512_reduce_max_epu32(largest),
            smallest_minus_one: _mm512_reduce_min_epu32(smallest),
            sum: _mm512_reduce_add_pd(_mm512_add_pd(low, high)),
        },
    )
}

/// The first target outside `[0, c)`, if any, scanned with this backend's 64-bit compares.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) fn first_bad_target(target: Targets<'_>, c: usize) -> Option<usize> {
    super::element::first_bad_target(target, c)
}

/// `Vector` and `Load` for one vector type: the same intrinsics with `_ps` or `_pd`.
macro_rules! avx512_vector {
    ($v:ident($reg:ty, $mask:ty): $t:ty, $lanes:literal, $set1:ident, $loadu:ident,
     $storeu:ident, $add:ident, $sub:ident, $mul:ident, $div:ident, $cmp:ident, $mask_cmp:ident,
     $blend:ident, $maskz_loadu:ident, $mask_storeu:ident, $transpose:ident, $classes:ident,
     $classes_i32:ident, $widen:ident, $special_loads:ident) => {
        impl Vector<$t> for $v {
            const LANES: usize = $lanes;
            const TILE: usize = $lanes;
            type Mask = $mask;

            #[inline(always)]
            fn splat(v: $t) -> Self {
                // SAFETY: AVX-512F (module invariant).
                $v(unsafe { $set1(v) })
            }
            #[inline(always)]
            fn load(src: &[$t]) -> Self {
                let src = &src[..$lanes];
                // SAFETY: AVX-512F; `src` holds `LANES` values (unaligned load).
                $v(unsafe { $loadu(src.as_ptr()) })
            }
            #[inline(always)]
            fn store(self, dst: &mut [$t]) {
                let dst = &mut dst[..$lanes];
                // SAFETY: AVX-512F; `dst` holds `LANES` values (unaligned store).
                unsafe { $storeu(dst.as_mut_ptr(), self.0) }
            }
            #[inline(always)]
            fn add(self, rhs: Self) -> Self {
                // SAFETY: AVX-512F (module invariant).
                $v(unsafe { $add(self.0, rhs.0) })
            }
            #[inline(always)]
            fn sub(self, rhs: Self) -> Self {
                // SAFETY: AVX-512F (module invariant).
                $v(unsafe { $sub(self.0, rhs.0) })
            }
            #[inline(always)]
            fn mul(self, rhs: Self) -> Self {
                // SAFETY: AVX-512F (module invariant).
                $v(unsafe { $mul(self.0, rhs.0) })
            }
            #[inline(always)]
            fn div(self, rhs: Self) -> Self {
                // SAFETY: AVX-512F (module invariant).
                $v(unsafe { $div(self.0, rhs.0) })
            }
            #[inline(always)]
            fn gt(self, rhs: Self) -> $mask {
                // SAFETY: AVX-512F. Ordered, quiet: false where either side is NaN.
                unsafe { $cmp::<_CMP_GT_OQ>(self.0, rhs.0) }
            }
            #[inline(always)]
            fn ne(self, rhs: Self) -> $mask {
                // SAFETY: AVX-512F (module invariant).
                unsafe { $cmp::<_CMP_NEQ_OQ>(self.0, rhs.0) }
            }
            // One compare under the `j != y` mask, not two and a `kandw` (docs/DESIGN.md).
            #[inline(always)]
            fn gt_where_ne(self, rhs: Self, class: Self, column: Self) -> $mask {
                // SAFETY: AVX-512F. Ordered, quiet: false where either side is NaN.
                unsafe { $mask_cmp::<_CMP_GT_OQ>(class.ne(column), self.0, rhs.0) }
            }
            #[inline(always)]
            fn select(mask: $mask, if_true: Self, if_false: Self) -> Self {
                // SAFETY: AVX-512F (module invariant).
                $v(unsafe { $blend(mask, if_false.0, if_true.0) })
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
                // SAFETY: AVX-512F; `targets` holds `LANES` `i32`s (unaligned load).
                $v(unsafe { $classes_i32(targets.as_ptr()) })
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
                let mask = low_bits(width) as $mask;
                let mut r = [cols[0].0; $lanes];
                for (r, c) in r.iter_mut().zip(cols) {
                    *r = c.0;
                }
                $transpose(&mut r);
                for (k, v) in r.into_iter().enumerate() {
                    // SAFETY: AVX-512F. Lanes `0..width` write `grads[k·pitch + first..][..width]`,
                    // inside `grads` by the assert; masked-off lanes are not written. Whole tiles
                    // take plain stores (a masked store is slower even with every lane set).
                    unsafe {
                        let at = grads.as_mut_ptr().add(k * pitch + first);
                        if width == $lanes {
                            $storeu(at, v)
                        } else {
                            $mask_storeu(at, mask, v)
                        }
                    };
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
                if $special_loads(rows, pitch, first, width, out) {
                    return;
                }
                // Partial tiles take plain loads where every row goes on past them (values past
                // the tile are read, never used), faster than masked ones (docs/DESIGN.md).
                let room = rows.len() >= ($lanes - 1) * pitch + first + $lanes;
                let mask = low_bits(width) as $mask;
                let mut r = [<$v as Vector<$t>>::splat(0.0).0; $lanes];
                for (k, v) in r.iter_mut().enumerate() {
                    // SAFETY: AVX-512F. With `room` or a whole tile, `rows[k·pitch + first..]`
                    // holds `LANES` values; otherwise lanes `0..width` read `width` values, inside
                    // `rows` by the assert, and masked-off lanes are not accessed (no fault).
                    *v = unsafe {
                        let at = rows.as_ptr().add(k * pitch + first);
                        if width == $lanes || room {
                            $loadu(at)
                        } else {
                            $maskz_loadu(mask, at)
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

avx512_vector!(F32x16(__m512, __mmask16): f32, 16, _mm512_set1_ps, _mm512_loadu_ps,
    _mm512_storeu_ps, _mm512_add_ps, _mm512_sub_ps, _mm512_mul_ps, _mm512_div_ps,
    _mm512_cmp_ps_mask, _mm512_mask_cmp_ps_mask, _mm512_mask_blend_ps, _mm512_maskz_loadu_ps,
    _mm512_mask_storeu_ps, transpose_f32x16, classes_f32, classes_i32_f32, widen_f32, special_loads_f32);
avx512_vector!(F64x8(__m512d, __mmask8): f64, 8, _mm512_set1_pd, _mm512_loadu_pd,
    _mm512_storeu_pd, _mm512_add_pd, _mm512_sub_pd, _mm512_mul_pd, _mm512_div_pd,
    _mm512_cmp_pd_mask, _mm512_mask_cmp_pd_mask, _mm512_mask_blend_pd, _mm512_maskz_loadu_pd,
    _mm512_mask_storeu_pd, transpose_f64x8, classes_f64, classes_i32_f64, widen_f64,
    no_special_loads);

/// The first 16 targets as exact floats, narrowed to `i32` (below 2^24, checked before use).
#[inline(always)]
fn classes_f32(targets: &[i64]) -> __m512 {
    let targets = &targets[..16];
    // SAFETY: AVX-512F; `targets` holds 16 `i64`s, read unaligned as two vectors.
    unsafe {
        let lo = _mm512_cvtepi64_epi32(_mm512_loadu_si512(targets.as_ptr().cast()));
        let hi = _mm512_cvtepi64_epi32(_mm512_loadu_si512(targets[8..].as_ptr().cast()));
        _mm512_cvtepi32_ps(_mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi))
    }
}

/// `i32` targets below 2^24 as exact floats, from 16 of them at `at`.
///
/// # Safety
/// AVX-512F, and 16 readable `i32`s at `at`.
#[inline(always)]
unsafe fn classes_i32_f32(at: *const i32) -> __m512 {
    // SAFETY: the caller's contract.
    unsafe { _mm512_cvtepi32_ps(_mm512_loadu_si512(at.cast())) }
}

/// `i32` targets as exact doubles, from 8 of them at `at`.
///
/// # Safety
/// AVX-512F, and 8 readable `i32`s at `at`.
#[inline(always)]
unsafe fn classes_i32_f64(at: *const i32) -> __m512d {
    // SAFETY: the caller's contract.
    unsafe { _mm512_cvtepi32_pd(_mm256_loadu_si256(at.cast())) }
}

/// The first 8 targets as exact doubles (see [`classes_f32`]).
#[inline(always)]
fn classes_f64(targets: &[i64]) -> __m512d {
    let targets = &targets[..8];
    // SAFETY: AVX-512F; `targets` holds 8 `i64`s, read unaligned.
    unsafe {
        _mm512_cvtepi32_pd(_mm512_cvtepi64_epi32(_mm512_loadu_si512(
            targets.as_ptr().cast(),
        )))
    }
}

/// The lanes widened to `f64` (exact) into `out`.
#[inline(always)]
fn widen_f32(v: __m512, out: &mut [f64; MAX_LANES]) {
    // SAFETY: AVX-512F; `out` holds 16 doubles, written unaligned as two vectors.
    unsafe {
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        _mm512_storeu_pd(out.as_mut_ptr(), _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        _mm512_storeu_pd(out[8..].as_mut_ptr(), _mm512_cvtps_pd(hi));
    }
}

/// The lanes into `out[..8]`.
#[inline(always)]
fn widen_f64(v: __m512d, out: &mut [f64; MAX_LANES]) {
    // SAFETY: AVX-512F; `out` holds 16 doubles, of which the first 8 are written (unaligned).
    unsafe { _mm512_storeu_pd(out.as_mut_ptr(), v) }
}

/// `f64` tiles take no special loads.
#[inline(always)]
fn no_special_loads(_: &[f64], _: usize, _: usize, _: usize, _: &mut [F64x8; MAX_TILE]) -> bool {
    false
}

/// The load of `f32` tiles that beats a transpose: rows of 9 or 10 values in pairs (see
/// [`load_pair_columns`]). Returns whether it did.
#[inline(always)]
fn special_loads_f32(
    rows: &[f32],
    pitch: usize,
    first: usize,
    width: usize,
    out: &mut [F32x16; MAX_TILE],
) -> bool {
    // SAFETY (of each call): AVX-512F; `load_pair_columns` passes pointers to 16 values.
    pair_loads(rows, pitch, (first, width), out, |at| unsafe {
        _mm512_loadu_ps(at)
    })
}

/// [`special_loads_f32`] for scores of any storage whose 16 values at a pointer `load16` reads
/// as 16 `f32` lanes.
#[inline(always)]
fn pair_loads<E>(
    rows: &[E],
    pitch: usize,
    (first, width): (usize, usize),
    out: &mut [F32x16; MAX_TILE],
    load16: impl Fn(*const E) -> __m512,
) -> bool {
    let Some(indices) = PairLoadIndices::for_rows(pitch, first, width) else {
        return false;
    };
    for (o, v) in out
        .iter_mut()
        .zip(load_pair_columns(rows, pitch, indices, load16))
    {
        *o = F32x16(v);
    }
    true
}

/// Permutation indices of [`load_pair_columns`] for one class count: `quads[g]` builds the
/// 4-row × 4-column group `g` from two row-pair loads, `octs[h]` 8 rows × 2 columns from two
/// quads (`h`: the pair of columns is the first or the second of its group), `columns[h]` one
/// column of 16 rows from two octs (`h`: the column is the first or the second of its pair).
/// A lane of an index names lane `i` of the first source (`i < 16`) or of the second (`16 + i`).
struct PairLoadIndices {
    quads: [[u32; 16]; 3],
    octs: [[u32; 16]; 2],
    columns: [[u32; 16]; 2],
}

/// [`PairLoadIndices`] for 9 and 10 classes, the counts whose row pairs two loads can split
/// into groups of 4 columns (see [`load_pair_columns`]).
const PAIR_LOAD_INDICES: [PairLoadIndices; 2] = [PairLoadIndices::new(9), PairLoadIndices::new(10)];

impl PairLoadIndices {
    #[inline(always)]
    /// The indices for a whole tile of rows of 9 or 10 values each, `pitch` values apart
    /// with nothing between them (the two rows of a pair then share loads).
    fn for_rows(pitch: usize, first: usize, width: usize) -> Option<&'static Self> {
        if first != 0 || width != pitch {
            return None;
        }
        PAIR_LOAD_INDICES.get(pitch.checked_sub(9)?)
    }

    /// The indices for rows of `c` classes; fails to compile where `c` does not split.
    const fn new(c: usize) -> Self {
        let mut quads = [[0; 16]; 3];
        let mut g = 0;
        while g < 3 {
            // Group 0 comes from the loads at each pair's first row (which hold the second
            // row's first `16 - c` columns), the others from the loads that end at the pair's
            // last value (which hold the first row's last `16 - c` columns).
            let from_end = g > 0;
            let mut lane = 0;
            while lane < 16 {
                let (r, col) = (lane / 4, 4 * g + lane % 4);
                if col < c {
                    let at = pair_lane(c, from_end, r % 2, col);
                    assert!(at < 16, "a group of 4 columns not in one load of each pair");
                    quads[g][lane] = (at + 16 * (r / 2)) as u32;
                }
                lane += 1;
            }
            g += 1;
        }
        let mut octs = [[0; 16]; 2];
        let mut columns = [[0; 16]; 2];
        let mut h = 0;
        while h < 2 {
            let mut lane = 0;
            while lane < 16 {
                // Oct lane = 8 · (column in the pair) + row; quad lane = 4 · row + column in
                // the group.
                let r = lane % 8;
                octs[h][lane] = (16 * (r / 4) + 4 * (r % 4) + 2 * h + lane / 8) as u32;
                columns[h][lane] = (16 * (lane / 8) + 8 * h + lane % 8) as u32;
                lane += 1;
            }
            h += 1;
        }
        Self {
            quads,
            octs,
            columns,
        }
    }
}

/// The lane of row `r` (0 or 1), column `col` of a row pair in the pair's load from its start
/// (`from_end == false`) or the one that ends with the pair; 16 if that load does not hold it.
const fn pair_lane(c: usize, from_end: bool, r: usize, col: usize) -> usize {
    let at = r * c + col;
    let start = if from_end { 2 * c - 16 } else { 0 };
    if at >= start && at - start < 16 {
        at - start
    } else {
        16
    }
}

/// The columns of a block of 16 rows of 9 or 10 classes, by two-source permutes in place of the
/// 16×16 transpose (docs/DESIGN.md). Each pair of rows is read by two loads, one from its start
/// (both rows' columns 0 to 3) and one ending with it (columns 4 to `c - 1`); permutes merge two
/// pairs into 4 rows × 4 columns, two of those into 8 rows × 2 columns, two of those into each
/// column of 16 rows. Every load lies inside the block. Columns from `c` on are left unspecified.
/// Rows of 11 and 12 classes would need a third load per pair: measured slower, they transpose.
#[inline(always)]
fn load_pair_columns<E>(
    rows: &[E],
    c: usize,
    indices: &PairLoadIndices,
    load16: impl Fn(*const E) -> __m512,
) -> [__m512; 16] {
    assert!((9..=10).contains(&c) && rows.len() >= 16 * c);
    // SAFETY: AVX-512F (module invariant). Index loads read 16 `u32`s each; `load16` reads 16
    // values at `rows[2pc..]` and `rows[2pc + 2c - 16..]` for p < 8, which end at most at
    // `14c + 16 <= 16c` (`2c >= 16`) and `16c`: inside `rows` by the assert.
    unsafe {
        let index = |i: &[u32; 16]| _mm512_loadu_si512(i.as_ptr().cast());
        let at = |offset: usize| load16(rows.as_ptr().add(offset));
        let zero = _mm512_setzero_ps();
        let (mut heads, mut tails) = ([zero; 8], [zero; 8]);
        for p in 0..8 {
            heads[p] = at(2 * p * c);
            tails[p] = at(2 * p * c + 2 * c - 16);
        }
        // No `[T; N]::map` for these: its calls were once left out of line (one per index).
        let quads_at = &indices.quads;
        let quad_index = [
            index(&quads_at[0]),
            index(&quads_at[1]),
            index(&quads_at[2]),
        ];
        let mut quads = [[zero; 3]; 4];
        for (q, groups) in quads.iter_mut().enumerate() {
            let (a, b) = (2 * q, 2 * q + 1);
            groups[0] = _mm512_permutex2var_ps(heads[a], quad_index[0], heads[b]);
            groups[1] = _mm512_permutex2var_ps(tails[a], quad_index[1], tails[b]);
            groups[2] = _mm512_permutex2var_ps(tails[a], quad_index[2], tails[b]);
        }
        let oct_index = [index(&indices.octs[0]), index(&indices.octs[1])];
        let mut octs = [[zero; 5]; 2];
        for (o, pairs) in octs.iter_mut().enumerate() {
            for (pc, v) in pairs.iter_mut().enumerate() {
                let g = pc / 2;
                *v =
                    _mm512_permutex2var_ps(quads[2 * o][g], oct_index[pc % 2], quads[2 * o + 1][g]);
            }
        }
        let column_index = [index(&indices.columns[0]), index(&indices.columns[1])];
        let mut cols = [zero; 16];
        for (j, v) in cols.iter_mut().enumerate().take(10) {
            *v = _mm512_permutex2var_ps(octs[0][j / 2], column_index[j % 2], octs[1][j / 2]);
        }
        cols
    }
}

/// `width` low bits set (`width <= 16`).
#[inline(always)]
fn low_bits(width: usize) -> u32 {
    debug_assert!(width <= 16);
    ((1u64 << width) - 1) as u32
}

/// Transposes a 16×16 matrix of `f32` held as 16 row vectors, in place (its own inverse).
#[inline(always)]
fn transpose_f32x16(r: &mut [__m512; 16]) {
    // SAFETY: AVX-512F is available (module invariant); shuffles only, no memory access.
    unsafe {
        // a[2m] 128-bit lane l = rows 2m, 2m+1 zipped at columns 4l, 4l+1; a[2m+1] at 4l+2, 4l+3.
        let mut a = [_mm512_setzero_ps(); 16];
        for m in 0..8 {
            a[2 * m] = _mm512_unpacklo_ps(r[2 * m], r[2 * m + 1]);
            a[2 * m + 1] = _mm512_unpackhi_ps(r[2 * m], r[2 * m + 1]);
        }
        // b[4q+p] 128-bit lane l = column 4l+p of rows 4q..4q+3.
        let mut b = [_mm512_setzero_ps(); 16];
        for q in 0..4 {
            let (lo, hi) = (_mm512_castps_pd(a[4 * q]), _mm512_castps_pd(a[4 * q + 2]));
            let (lo2, hi2) = (
                _mm512_castps_pd(a[4 * q + 1]),
                _mm512_castps_pd(a[4 * q + 3]),
            );
            b[4 * q] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, hi));
            b[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, hi));
            b[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo2, hi2));
            b[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo2, hi2));
        }
        // Column 4l+p, lane q = b[4q+p] lane l: a 4×4 transpose of 128-bit blocks.
        for p in 0..4 {
            let x = _mm512_shuffle_f32x4::<0x44>(b[p], b[4 + p]);
            let y = _mm512_shuffle_f32x4::<0xEE>(b[p], b[4 + p]);
            let z = _mm512_shuffle_f32x4::<0x44>(b[8 + p], b[12 + p]);
            let w = _mm512_shuffle_f32x4::<0xEE>(b[8 + p], b[12 + p]);
            r[p] = _mm512_shuffle_f32x4::<0x88>(x, z);
            r[4 + p] = _mm512_shuffle_f32x4::<0xDD>(x, z);
            r[8 + p] = _mm512_shuffle_f32x4::<0x88>(y, w);
            r[12 + p] = _mm512_shuffle_f32x4::<0xDD>(y, w);
        }
    }
}

/// Transposes an 8×8 matrix of `f64` held as 8 row vectors, in place (its own inverse).
#[inline(always)]
fn transpose_f64x8(r: &mut [__m512d; 8]) {
    // SAFETY: AVX-512F is available (module invariant); shuffles only, no memory access.
    unsafe {
        // a[2m+p] 128-bit lane l = column 2l+p of rows 2m, 2m+1.
        let mut a = [_mm512_setzero_pd(); 8];
        for m in 0..4 {
            a[2 * m] = _mm512_unpacklo_pd(r[2 * m], r[2 * m + 1]);
            a[2 * m + 1] = _mm512_unpackhi_pd(r[2 * m], r[2 * m + 1]);
        }
        // Column 2l+p, lane m = a[2m+p] lane l: a 4×4 transpose of 128-bit blocks.
        for p in 0..2 {
            let x = _mm512_shuffle_f64x2::<0x44>(a[p], a[2 + p]);
            let y = _mm512_shuffle_f64x2::<0xEE>(a[p], a[2 + p]);
            let z = _mm512_shuffle_f64x2::<0x44>(a[4 + p], a[6 + p]);
            let w = _mm512_shuffle_f64x2::<0xEE>(a[4 + p], a[6 + p]);
            r[p] = _mm512_shuffle_f64x2::<0x88>(x, z);
            r[2 + p] = _mm512_shuffle_f64x2::<0xDD>(x, z);
            r[4 + p] = _mm512_shuffle_f64x2::<0x88>(y, w);
            r[6 + p] = _mm512_shuffle_f64x2::<0xDD>(y, w);
        }
    }
}

/// Up to 16 halves at `rows[at..]` as 16-bit patterns: one load where the row goes on past them
/// (values past `width` read, never used), else `width` values one by one (a task's last rows).
#[inline(always)]
fn half_row<H: Half>(rows: &[H], at: usize, width: usize) -> __m256i {
    if rows.len() >= at + 16 {
        // SAFETY: AVX; `rows[at..at + 16]` is inside `rows` (32 bytes, unaligned load).
        unsafe { _mm256_loadu_si256(rows.as_ptr().add(at).cast()) }
    } else {
        let bits = half_bits::<H, 16>(rows, at, width);
        // SAFETY: AVX; `bits` holds 16 values.
        unsafe { _mm256_loadu_si256(bits.as_ptr().cast()) }
    }
}

/// `Load` for 16-bit scores: each row widened to `f32` in registers (`$widen`), then transposed.
macro_rules! avx512_half_load {
    ($t:ty, $widen:expr) => {
        impl Load<F32x16> for $t {
            #[inline(always)]
            fn load_columns(
                rows: &[$t],
                pitch: usize,
                first: usize,
                width: usize,
                out: &mut [F32x16; MAX_TILE],
            ) {
                assert!(width <= 16 && rows.len() >= 15 * pitch + first + width);
                let load16 = |at: *const $t| {
                    // SAFETY: AVX; `pair_loads` passes pointers to 16 values (32 bytes).
                    $widen(unsafe { _mm256_loadu_si256(at.cast()) })
                };
                if pair_loads(rows, pitch, (first, width), out, load16) {
                    return;
                }
                let mut r = [<F32x16 as Vector<f32>>::splat(0.0).0; 16];
                for (k, v) in r.iter_mut().enumerate() {
                    *v = $widen(half_row(rows, k * pitch + first, width));
                }
                transpose_f32x16(&mut r);
                for (o, v) in out.iter_mut().zip(r) {
                    *o = F32x16(v);
                }
            }
        }
    };
}

avx512_half_load!(half::bf16, |x: __m256i| {
    // SAFETY: AVX-512F (module invariant): bfloat16 is the upper half of a float32.
    unsafe { _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(x))) }
});
avx512_half_load!(half::f16, |x: __m256i| {
    // SAFETY: AVX-512F (module invariant).
    unsafe { _mm512_cvtph_ps(x) }
});
