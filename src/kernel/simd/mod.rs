//! Vector kernels: one generic body per operation over the small [`Vector`] trait, and the
//! backends that implement it (`wide`, AVX2, AVX-512).
//!
//! Layout: lanes are rows. A block of `LANES` consecutive rows is processed column by column
//! (`j = 0..c`), each column one vector (tiles of columns are transposed through a stack buffer), so every lane accumulates its row's sum in
//! increasing `j` with exactly the reference's operations: `z = (margin - x[y]) + x[j]`, the
//! strict hinge as a compare-and-select (never `max`, whose NaN rule differs between
//! platforms), the `j == y` term masked out, the weight after the power, no fused multiply-add.
//! Each lane therefore performs the very same IEEE operations as the scalar reference on its row
//! and gives the same bits. Rows that do not fill a block are handled by re-running the last full
//! `LANES` rows (their results are recomputed identically and only the new lanes are summed);
//! batches of fewer than `LANES` rows go to the reference.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod wide_backend;

use super::{GradOut, LossOut, Params, Power, Real, Task, Upstream, reference};

/// The most lanes of any backend (AVX-512 with `f32`): the size of the stack buffers lanes are
/// spilled to.
const MAX_LANES: usize = 16;

/// Above this many classes the vector kernels hand the task to the reference: column indices
/// travel as exact floats, exact below 2^24 in `f32`.
pub(crate) const MAX_CLASSES: usize = 1 << 24;

/// `LANES` values of `T`, lane `k` holding row `k` of a block. Implementations do plain IEEE
/// arithmetic lane by lane (no fusing, no reassociation).
pub(crate) trait Vector<T: Real>: Copy {
    const LANES: usize;
    /// Per-lane booleans produced by comparisons.
    type Mask: Copy;

    fn splat(v: T) -> Self;
    /// The first `LANES` values of `src`.
    fn load(src: &[T]) -> Self;
    /// Writes the lanes to the first `LANES` values of `dst`.
    fn store(self, dst: &mut [T]);
    fn add(self, rhs: Self) -> Self;
    fn sub(self, rhs: Self) -> Self;
    fn mul(self, rhs: Self) -> Self;
    fn div(self, rhs: Self) -> Self;
    /// `self > rhs`, false where either is NaN.
    fn gt(self, rhs: Self) -> Self::Mask;
    /// `self != rhs` for values that are never NaN.
    fn ne(self, rhs: Self) -> Self::Mask;
    fn and(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// `if_true` where `mask` holds, else `if_false`.
    fn select(mask: Self::Mask, if_true: Self, if_false: Self) -> Self;
}

/// Connects each precision to its backends; implemented for `f32` and `f64` only (it is a
/// supertrait of the sealed [`Real`]).
pub trait Backends: Sized {
    #[doc(hidden)]
    fn run_wide(params: &Params<Self>, c: usize, task: Task<'_, Self>);
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[doc(hidden)]
    #[cfg(target_arch = "x86_64")]
    unsafe fn run_avx2(params: &Params<Self>, c: usize, task: Task<'_, Self>);
    /// # Safety
    /// The CPU must support AVX-512F.
    #[doc(hidden)]
    #[cfg(target_arch = "x86_64")]
    unsafe fn run_avx512(params: &Params<Self>, c: usize, task: Task<'_, Self>);
}

macro_rules! impl_backends {
    ($t:ty, $wide:ty, $avx2:ident, $avx512:ident) => {
        impl Backends for $t {
            fn run_wide(params: &Params<$t>, c: usize, task: Task<'_, $t>) {
                run::<$t, $wide>(params, c, task)
            }
            #[cfg(target_arch = "x86_64")]
            unsafe fn run_avx2(params: &Params<$t>, c: usize, task: Task<'_, $t>) {
                // SAFETY: the caller guarantees AVX2 and FMA.
                unsafe { avx2::$avx2(params, c, task) }
            }
            #[cfg(target_arch = "x86_64")]
            unsafe fn run_avx512(params: &Params<$t>, c: usize, task: Task<'_, $t>) {
                // SAFETY: the caller guarantees AVX-512F.
                unsafe { avx512::$avx512(params, c, task) }
            }
        }
    };
}

impl_backends!(f32, ::wide::f32x8, run_f32, run_f32);
impl_backends!(f64, ::wide::f64x4, run_f64, run_f64);

/// Runs a task with vectors `V`; bit-identical to [`reference::run`]. Always inlined so that a
/// backend's `#[target_feature]` entry point compiles the whole body for its instruction set.
#[inline(always)]
pub(crate) fn run<T: Real, V: Vector<T>>(params: &Params<T>, c: usize, task: Task<'_, T>) {
    if task.target.len() < V::LANES || c > MAX_CLASSES {
        return reference::run(params, c, task);
    }
    // One copy of the loops per (power, weighted): no per-term branches on either.
    match (params.power, params.weight.is_some()) {
        (Power::One, false) => run_shape::<T, V, false, false>(params, c, task),
        (Power::One, true) => run_shape::<T, V, false, true>(params, c, task),
        (Power::Two, false) => run_shape::<T, V, true, false>(params, c, task),
        (Power::Two, true) => run_shape::<T, V, true, true>(params, c, task),
    }
}

/// The starts of the blocks of `lanes` rows covering `n >= lanes` rows, each with the first lane
/// that is new: all blocks start at multiples of `lanes` except a last one that ends at row `n`
/// and overlaps its predecessor.
#[inline(always)]
fn blocks(n: usize, lanes: usize) -> impl Iterator<Item = (usize, usize)> {
    let full = n / lanes * lanes;
    let tail = (full < n).then_some((n - lanes, lanes - (n - full)));
    (0..full).step_by(lanes).map(|start| (start, 0)).chain(tail)
}

/// Per-lane values of a block that do not depend on `j`.
struct RowConstants<V> {
    /// `margin - x[y]`, as the reference computes it.
    base: V,
    /// The target class as an exact float, for masking out the `j == y` term.
    class: V,
    /// `w[y]`, or garbage when unweighted (never read then).
    weight: V,
    /// The targets as indices.
    targets: [usize; MAX_LANES],
}

#[inline(always)]
fn row_constants<T: Real, V: Vector<T>>(
    params: &Params<T>,
    c: usize,
    rows: &[T],
    targets: &[i64],
) -> RowConstants<V> {
    let mut picked = [T::ZERO; MAX_LANES];
    let mut class = [T::ZERO; MAX_LANES];
    let mut weight = [T::ZERO; MAX_LANES];
    let mut indices = [0usize; MAX_LANES];
    for k in 0..V::LANES {
        let y = targets[k] as usize;
        // Targets were checked before any kernel runs; this keeps a bad one from reading
        // another row's score, as the reference's `row[y]` would refuse.
        assert!(y < c, "unchecked target");
        indices[k] = y;
        picked[k] = rows[k * c + y];
        class[k] = T::from_usize(y);
        if let Some(w) = params.weight {
            weight[k] = w[y];
        }
    }
    RowConstants {
        base: V::splat(params.margin).sub(V::load(&picked)),
        class: V::load(&class),
        weight: V::load(&weight),
        targets: indices,
    }
}

/// Columns per tile: a tile of `LANES` rows by up to this many columns is transposed through a
/// stack buffer, so that each column becomes one contiguous vector load. Rows are read in
/// contiguous runs (a whole cache line per row for 16 `f32` columns), never with gathers, which
/// are slow on many cores and thrash the cache when rows are a page apart.
const TILE_COLUMNS: usize = 16;
const TILE_VALUES: usize = TILE_COLUMNS * MAX_LANES;

/// Copies columns `first..first + width` of a block of `LANES` rows into `tile`, column-major
/// (`tile[jj·LANES + k]` = row `k`, column `first + jj`), and returns `width`.
#[inline(always)]
fn load_tile<T: Real, V: Vector<T>>(
    rows: &[T],
    c: usize,
    first: usize,
    tile: &mut [T; TILE_VALUES],
) -> usize {
    let width = TILE_COLUMNS.min(c - first);
    for (k, row) in rows.chunks_exact(c).take(V::LANES).enumerate() {
        for (jj, &x) in row[first..first + width].iter().enumerate() {
            tile[jj * V::LANES + k] = x;
        }
    }
    width
}

/// The inverse of [`load_tile`]: writes a column-major tile back into the rows of `grads`.
#[inline(always)]
fn store_tile<T: Real, V: Vector<T>>(
    tile: &[T; TILE_VALUES],
    width: usize,
    c: usize,
    first: usize,
    grads: &mut [T],
) {
    for (k, row) in grads.chunks_exact_mut(c).take(V::LANES).enumerate() {
        for (jj, out) in row[first..first + width].iter_mut().enumerate() {
            *out = tile[jj * V::LANES + k];
        }
    }
}

/// The losses of one block of `LANES` rows.
#[inline(always)]
fn block_loss<T: Real, V: Vector<T>, const SQUARE: bool, const WEIGHTED: bool>(
    params: &Params<T>,
    c: usize,
    rows: &[T],
    targets: &[i64],
) -> V {
    let k = row_constants::<T, V>(params, c, rows, targets);
    let zero = V::splat(T::ZERO);
    let one = V::splat(T::from_usize(1));
    let mut column = zero;
    let mut sum = zero;
    let mut tile = [T::ZERO; TILE_VALUES];
    for first in (0..c).step_by(TILE_COLUMNS) {
        let width = load_tile::<T, V>(rows, c, first, &mut tile);
        for lanes in tile[..width * V::LANES].chunks_exact(V::LANES) {
            let z = k.base.add(V::load(lanes));
            let active = V::and(z.gt(zero), k.class.ne(column));
            let mut term = if SQUARE { z.mul(z) } else { z };
            if WEIGHTED {
                term = term.mul(k.weight);
            }
            sum = V::select(active, sum.add(term), sum);
            column = column.add(one);
        }
    }
    sum.div(V::splat(T::from_usize(c)))
}

/// The gradient of one block of `LANES` rows into `grads` (`LANES·c` values), and, when `LOSS`,
/// the block's losses (else zeros).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_grad<T: Real, V: Vector<T>, const SQUARE: bool, const WEIGHTED: bool, const LOSS: bool>(
    params: &Params<T>,
    c: usize,
    rows: &[T],
    targets: &[i64],
    g: T,
    upstream: V,
    grads: &mut [T],
) -> V {
    let k = row_constants::<T, V>(params, c, rows, targets);
    let zero = V::splat(T::ZERO);
    let one = V::splat(T::from_usize(1));
    let g2 = V::splat(T::TWO * g);
    let g = V::splat(g);
    // Inactive entries are `0·up`, not 0: that keeps PyTorch's -0 and NaN.
    let inactive = zero.mul(upstream);
    let mut column = zero;
    let mut sum = zero;
    let mut target_grad = zero;
    let mut tile = [T::ZERO; TILE_VALUES];
    let mut grad_tile = [T::ZERO; TILE_VALUES];
    for first in (0..c).step_by(TILE_COLUMNS) {
        let width = load_tile::<T, V>(rows, c, first, &mut tile);
        let columns = tile[..width * V::LANES].chunks_exact(V::LANES);
        for (lanes, out) in columns.zip(grad_tile.chunks_exact_mut(V::LANES)) {
            let z = k.base.add(V::load(lanes));
            let active = V::and(z.gt(zero), k.class.ne(column));
            let mut h = if SQUARE { g2.mul(z) } else { g };
            if WEIGHTED {
                h = h.mul(k.weight);
            }
            target_grad = V::select(active, target_grad.sub(h), target_grad);
            // The `j == y` lane writes `0·up` here; the target entry is written after the loop.
            V::select(active, h.mul(upstream), inactive).store(out);
            if LOSS {
                let mut term = if SQUARE { z.mul(z) } else { z };
                if WEIGHTED {
                    term = term.mul(k.weight);
                }
                sum = V::select(active, sum.add(term), sum);
            }
            column = column.add(one);
        }
        store_tile::<T, V>(&grad_tile, width, c, first, grads);
    }
    let mut target_grads = [T::ZERO; MAX_LANES];
    target_grad.mul(upstream).store(&mut target_grads);
    for (lane, (&y, &v)) in k.targets[..V::LANES].iter().zip(&target_grads).enumerate() {
        grads[lane * c + y] = v;
    }
    if LOSS {
        sum.div(V::splat(T::from_usize(c)))
    } else {
        zero
    }
}

/// Adds the lanes from `first` on to a float64 accumulator, in row order.
#[inline(always)]
fn add_lanes<T: Real, V: Vector<T>>(acc: &mut f64, v: V, first: usize) {
    let mut lanes = [T::ZERO; MAX_LANES];
    v.store(&mut lanes);
    for &l in &lanes[first..V::LANES] {
        *acc += l.to_f64();
    }
}

#[inline(always)]
fn run_shape<T: Real, V: Vector<T>, const SQUARE: bool, const WEIGHTED: bool>(
    params: &Params<T>,
    c: usize,
    task: Task<'_, T>,
) {
    let Task {
        input,
        target,
        loss,
        grad,
    } = task;
    let n = target.len();
    let lanes = V::LANES;
    assert_eq!(input.len(), n * c, "task input/target lengths disagree");
    let rows_of = |start: usize| &input[start * c..(start + lanes) * c];
    match (loss, grad) {
        (LossOut::Skip, None) => {}
        (LossOut::PerRow(out), None) => {
            assert_eq!(out.len(), n);
            for (start, _) in blocks(n, lanes) {
                block_loss::<T, V, SQUARE, WEIGHTED>(params, c, rows_of(start), &target[start..])
                    .store(&mut out[start..start + lanes]);
            }
        }
        (LossOut::Sum(acc), None) => {
            let mut sum = 0.0f64;
            for (start, first) in blocks(n, lanes) {
                let loss = block_loss::<T, V, SQUARE, WEIGHTED>(
                    params,
                    c,
                    rows_of(start),
                    &target[start..],
                );
                add_lanes(&mut sum, loss, first);
            }
            *acc = sum;
        }
        (loss, Some(GradOut { g, upstream, grad })) => {
            assert_eq!(grad.len(), input.len());
            let upstream_of = |start: usize| match upstream {
                Upstream::Scalar(v) => V::splat(v),
                Upstream::PerRow(u) => V::load(&u[start..start + lanes]),
            };
            if let Upstream::PerRow(u) = upstream {
                assert_eq!(u.len(), n);
            }
            match loss {
                LossOut::Skip => {
                    for (start, _) in blocks(n, lanes) {
                        block_grad::<T, V, SQUARE, WEIGHTED, false>(
                            params,
                            c,
                            rows_of(start),
                            &target[start..],
                            g,
                            upstream_of(start),
                            &mut grad[start * c..(start + lanes) * c],
                        );
                    }
                }
                LossOut::PerRow(out) => {
                    assert_eq!(out.len(), n);
                    for (start, _) in blocks(n, lanes) {
                        block_grad::<T, V, SQUARE, WEIGHTED, true>(
                            params,
                            c,
                            rows_of(start),
                            &target[start..],
                            g,
                            upstream_of(start),
                            &mut grad[start * c..(start + lanes) * c],
                        )
                        .store(&mut out[start..start + lanes]);
                    }
                }
                LossOut::Sum(acc) => {
                    let mut sum = 0.0f64;
                    for (start, first) in blocks(n, lanes) {
                        let loss = block_grad::<T, V, SQUARE, WEIGHTED, true>(
                            params,
                            c,
                            rows_of(start),
                            &target[start..],
                            g,
                            upstream_of(start),
                            &mut grad[start * c..(start + lanes) * c],
                        );
                        add_lanes(&mut sum, loss, first);
                    }
                    *acc = sum;
                }
            }
        }
    }
}
