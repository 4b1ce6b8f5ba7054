//! The portable backend over the `wide` crate: 128-bit SSE2 on baseline x86-64, NEON on
//! aarch64 (`f32x8` and `f64x4` are pairs of 128-bit registers there). No `unsafe`. Tiles of 8
//! columns are transposed in registers: each vector is two halves (`f32x4`, `f64x2`), a tile is
//! squares of half a vector's lanes, each transposed by `wide`'s own transpose (shuffles).

use wide::bytemuck::cast;
use wide::{f32x4, f32x8, f64x2, f64x4};

use super::element::{Element, Target};
use super::real::Real;
use super::schedule::{self, Schedule};
use super::task::{Params, Task};
use super::vector::{Load, MAX_LANES, MAX_TILE, Vector};

// The portable path computes more slowly than memory reads: no schedules for large calls.
schedule::entries! {
    #[inline(never)]
    F32 = f32, f32x8, [(SHORT), (LONG_FORWARD), (SHORT | GRAD), (GRAD)];
    F64 = f64, f64x4, [(SHORT), (LONG_FORWARD), (SHORT | GRAD), (GRAD)];
    BF16 = half::bf16, f32x8, [(SHORT), (LONG_FORWARD), (SHORT | GRAD), (GRAD)];
    F16 = half::f16, f32x8, [(SHORT), (LONG_FORWARD), (SHORT | GRAD), (GRAD)];
}

/// The lanes' targets as exact floats, one by one.
#[inline(always)]
fn classes<T: Real, V: Vector<T>, Y: Target>(targets: &[Y]) -> V {
    let mut lanes = [T::ZERO; MAX_LANES];
    for (lane, &y) in lanes.iter_mut().zip(&targets[..V::LANES]) {
        *lane = T::from_usize(y.index());
    }
    V::load(&lanes)
}

/// Columns `first..first + width` of the first `LANES` rows element by element, into
/// `out[..width]`: a tile's last, partial group where a whole group would read past the task's
/// scores. Not inlined: it runs at most once per pass over a task, and copies cost compile time.
#[inline(never)]
fn load_columns_by_value<S: Element, V: Vector<S::Real>>(
    rows: &[S],
    pitch: usize,
    first: usize,
    width: usize,
    out: &mut [V],
) {
    let mut lanes = [S::Real::ZERO; MAX_LANES];
    for (jj, v) in out.iter_mut().enumerate().take(width) {
        for (k, lane) in lanes.iter_mut().enumerate().take(V::LANES) {
            *lane = rows[k * pitch + first + jj].widen();
        }
        *v = V::load(&lanes);
    }
}

macro_rules! wide_vector {
    ($v:ty, $t:ty, $lanes:literal, $half:ty) => {
        impl Vector<$t> for $v {
            const LANES: usize = $lanes;
            // 8 columns, so that a tile's columns fit SSE2's 16 registers (16 measured slower).
            const TILE: usize = 8;
            /// All-ones lanes where true, as `wide`'s comparisons return.
            type Mask = $v;

            #[inline(always)]
            fn splat(v: $t) -> Self {
                <$v>::splat(v)
            }
            #[inline(always)]
            fn load(src: &[$t]) -> Self {
                let lanes: [$t; $lanes] = src[..$lanes].try_into().expect("slice of LANES values");
                <$v>::new(lanes)
            }
            #[inline(always)]
            fn store(self, dst: &mut [$t]) {
                dst[..$lanes].copy_from_slice(&self.to_array());
            }
            #[inline(always)]
            fn add(self, rhs: Self) -> Self {
                self + rhs
            }
            #[inline(always)]
            fn sub(self, rhs: Self) -> Self {
                self - rhs
            }
            #[inline(always)]
            fn mul(self, rhs: Self) -> Self {
                self * rhs
            }
            #[inline(always)]
            fn div(self, rhs: Self) -> Self {
                self / rhs
            }
            #[inline(always)]
            fn gt(self, rhs: Self) -> Self {
                self.simd_gt(rhs)
            }
            #[inline(always)]
            fn ne(self, rhs: Self) -> Self {
                self.simd_ne(rhs)
            }
            #[inline(always)]
            fn gt_where_ne(self, rhs: Self, class: Self, column: Self) -> Self {
                let above = self.simd_gt(rhs);
                above & class.simd_ne(column)
            }
            #[inline(always)]
            fn select(mask: Self, if_true: Self, if_false: Self) -> Self {
                mask.select(if_true, if_false)
            }
            // SSE2 blends with three operations, all on the sum's chain; the `&` is off it.
            #[inline(always)]
            fn add_where(self, mask: Self, term: Self) -> Self {
                self + (term & mask)
            }
            #[inline(always)]
            fn classes_i64(targets: &[i64]) -> Self {
                classes::<$t, $v, i64>(targets)
            }
            #[inline(always)]
            fn classes_i32(targets: &[i32]) -> Self {
                classes::<$t, $v, i32>(targets)
            }
            #[inline(always)]
            fn sub_where(self, mask: Self, term: Self) -> Self {
                self - (term & mask)
            }

            // The inverse: each group's `H` columns split into halves, the squares transposed
            // back into rows; a group's last columns past `width` are not written.
            #[inline(always)]
            fn store_columns(
                cols: &[Self; MAX_TILE],
                pitch: usize,
                first: usize,
                width: usize,
                grads: &mut [$t],
            ) {
                const H: usize = $lanes / 2;
                assert!(
                    width <= MAX_TILE
                        && first + width <= pitch
                        && grads.len() >= ($lanes - 1) * pitch + first + width
                );
                for g in (0..width).step_by(H) {
                    let n = H.min(width - g);
                    let mut halves = [[<$half>::splat(0.0); H]; 2];
                    for q in 0..H {
                        [halves[0][q], halves[1][q]] = cast(cols[g + q]);
                    }
                    for (h, square) in halves.into_iter().enumerate() {
                        for (i, row) in <$half>::transpose(square).into_iter().enumerate() {
                            let at = (h * H + i) * pitch + first + g;
                            let (dst, values) = (&mut grads[at..at + n], row.to_array());
                            if n == H {
                                dst.copy_from_slice(&values);
                            } else {
                                // Value by value: a copy of a variable length is a `memcpy` call.
                                for (d, v) in dst.iter_mut().zip(values) {
                                    *d = v;
                                }
                            }
                        }
                    }
                }
            }
        }

        // Any storage type computed in `$t` (its values widened one by one).
        impl<S: Element<Real = $t>> Load<$v> for S {
            // Groups of `H` columns (a half's lanes): rows `h·H..h·H + H` of a group are a
            // square, transposed into half `h` of its `H` columns. A last group past `width`
            // reads into the next row (values unused), or element by element where that would
            // run past the end of `rows`.
            #[inline(always)]
            fn load_columns(
                rows: &[S],
                pitch: usize,
                first: usize,
                width: usize,
                out: &mut [$v; MAX_TILE],
            ) {
                const H: usize = $lanes / 2;
                assert!(
                    width <= MAX_TILE
                        && first + width <= pitch
                        && rows.len() >= ($lanes - 1) * pitch + first + width
                );
                for g in (0..width).step_by(H) {
                    if g + H > width && rows.len() < ($lanes - 1) * pitch + first + g + H {
                        load_columns_by_value(rows, pitch, first + g, width - g, &mut out[g..]);
                        break;
                    }
                    let mut halves = [[<$half>::splat(0.0); H]; 2];
                    for (h, square) in halves.iter_mut().enumerate() {
                        for (i, row) in square.iter_mut().enumerate() {
                            let at = (h * H + i) * pitch + first + g;
                            let values = &rows[at..at + H];
                            *row = <$half>::new(std::array::from_fn(|q| values[q].widen()));
                        }
                        *square = <$half>::transpose(*square);
                    }
                    for q in 0..H {
                        // A vector is its two halves, low lanes first (`wide`'s own layout).
                        out[g + q] = cast([halves[0][q], halves[1][q]]);
                    }
                }
            }
        }
    };
}

wide_vector!(f32x8, f32, 8, f32x4);
wide_vector!(f64x4, f64, 4, f64x2);
