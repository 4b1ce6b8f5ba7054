//! The block body: one generic computation of a block of `LANES` rows over the small
//! [`Vector`] trait, which each backend (`wide`, AVX2, AVX-512) implements. Lanes are rows: each
//! lane runs its row's loop in increasing `j` with the reference's very operations (the hinge a
//! strict compare and select, never `max`, whose NaN rule differs by platform; no FMA), so it
//! gives the reference's bits (docs/DESIGN.md, "Exactness invariants").

use super::element::{Element, Target, Targets, with_targets};
use super::real::Real;
use super::reference;
use super::task::{LineAligned, Params};

/// How a block body knows `p` and whether there are weights: [`Defaults`] as constants (p = 1,
/// no weights), [`Given`] from the call; see [`square!`] and [`weighted!`].
pub(crate) trait Hinge {
    /// The copy reads p and the weights from the call's parameters.
    const GIVEN: bool;
}

/// PyTorch's defaults (p = 1, no weights) as constants (`schedule::with_shape!`).
#[cfg(not(fuzzing))]
pub(crate) struct Defaults;

#[cfg(not(fuzzing))]
impl Hinge for Defaults {
    const GIVEN: bool = false;
}

/// From the call's parameters: one copy for every other (p, weighted), with the same memory
/// accesses (and, in the instrumented build, `cfg(fuzzing)`, for the defaults too).
pub(crate) struct Given;

impl Hinge for Given {
    const GIVEN: bool = true;
}

/// Whether the hinge term is squared in copy `$h` ([`Hinge`]) of a call with `$params`. The
/// constant comes first, so that a [`Defaults`] copy never emits the squared branch.
macro_rules! square {
    ($h:ty, $params:expr) => {
        <$h>::GIVEN && $params.power == super::task::Power::Two
    };
}

/// Whether the hinge term is weighted in copy `$h` of a call with `$params` (as [`square!`]).
macro_rules! weighted {
    ($h:ty, $params:expr) => {
        <$h>::GIVEN && $params.weight.is_some()
    };
}

/// The most lanes of any backend (AVX-512 with `f32`).
pub(crate) const MAX_LANES: usize = 16;

/// The most columns per tile of any backend; a tile of `LANES` rows is one vector per column.
pub(crate) const MAX_TILE: usize = 16;

/// Above this many classes, the reference runs: column indices travel as floats, exact below 2^24.
pub(crate) const MAX_CLASSES: usize = 1 << 24;

/// `LANES` values of `T`, lane `k` a block's row `k`: IEEE arithmetic per lane, no fusing or
/// reassociation.
pub(crate) trait Vector<T: Real>: Copy {
    const LANES: usize;
    /// Columns per tile (at most [`MAX_TILE`]).
    const TILE: usize;
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
    /// `self > rhs` where `class != column`, false elsewhere and where `self` or `rhs` is NaN:
    /// the hinge's test with the `j != y` mask (one masked compare on AVX-512).
    fn gt_where_ne(self, rhs: Self, class: Self, column: Self) -> Self::Mask;
    /// `if_true` where `mask` holds, else `if_false`.
    fn select(mask: Self::Mask, if_true: Self, if_false: Self) -> Self;
    /// `self + term` where `mask` holds, `self` elsewhere. Requires no lane of `self` to be `-0.0`
    /// (true of a sum that starts at `+0.0` and grows only by this), so a backend may add
    /// `term & mask` instead of blending: `x + 0.0` is `x` for every `x` but `-0.0`.
    #[inline(always)]
    fn add_where(self, mask: Self::Mask, term: Self) -> Self {
        Self::select(mask, self.add(term), self)
    }
    /// `self - term` where `mask` holds, `self` elsewhere (`x - 0.0` is `x` for every `x`).
    #[inline(always)]
    fn sub_where(self, mask: Self::Mask, term: Self) -> Self {
        Self::select(mask, self.sub(term), self)
    }
    /// The lanes widened to `f64` (exact), in lane order, into `out[..LANES]`.
    #[inline(always)]
    fn widen(self, out: &mut [f64; MAX_LANES]) {
        let mut lanes = LineAligned([T::ZERO; MAX_LANES]);
        self.store(&mut lanes.0);
        for (o, l) in out.iter_mut().zip(&lanes.0[..Self::LANES]) {
            *o = l.to_f64();
        }
    }
    /// The first `LANES` targets as floats. Requires each in `[0, MAX_CLASSES)`, where it is exact.
    fn classes_i64(targets: &[i64]) -> Self;
    /// The same for `i32` targets.
    fn classes_i32(targets: &[i32]) -> Self;
    /// Whether any lane is NaN.
    #[inline(always)]
    fn any_nan(self) -> bool {
        let mut lanes = LineAligned([T::ZERO; MAX_LANES]);
        self.store(&mut lanes.0);
        lanes.0[..Self::LANES].iter().any(|v| v.is_nan())
    }
    /// The inverse of [`Load::load_columns`]: writes `cols[jj]` lane `k` to
    /// `grads[k·pitch + first + jj]` for `jj < width`, and nothing else. Requires `width <= TILE`,
    /// `first + width <= pitch` and `grads.len() >= (LANES-1)·pitch + first + width`.
    fn store_columns(
        cols: &[Self; MAX_TILE],
        pitch: usize,
        first: usize,
        width: usize,
        grads: &mut [T],
    );
}

/// How a backend's vectors `V` read scores stored as `Self`: one loader per backend and type.
pub(crate) trait Load<V>: Element {
    /// Columns `first..first + width` of the first `LANES` rows (row `k` at `rows[k·pitch..]`),
    /// widened: `out[jj]` lane `k` = `rows[k·pitch + first + jj]` for `jj < width`; later entries
    /// of `out` are unspecified. Requires `width <= TILE` and `rows.len() >= (LANES-1)·pitch +
    /// first + width`. Values past the block may be read (only read) where `rows` goes on.
    fn load_columns(
        rows: &[Self],
        pitch: usize,
        first: usize,
        width: usize,
        out: &mut [V; MAX_TILE],
    );
}

/// The first `LANES` targets as exact floats (see [`Vector::classes_i64`]).
#[inline(always)]
fn classes<T: Real, V: Vector<T>>(targets: Targets<'_>) -> V {
    match targets {
        Targets::I64(t) => V::classes_i64(t),
        Targets::I32(t) => V::classes_i32(t),
    }
}

/// Per-lane values of a block that do not depend on `j`.
pub(crate) struct RowConstants<V> {
    /// `margin - x[y]`, as the reference computes it.
    base: V,
    /// `w[y]`, or zero when unweighted (never read then).
    weight: V,
}

/// Where a block's prefetch hints go, decided once per task from its shape: a block reads a tile
/// at a time across `LANES` rows, which hardware prefetchers miss for long rows (docs/DESIGN.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Prefetch {
    /// The next block's rows, a share of their lines with each tile, into L1.
    next_block_l1: bool,
    /// Each lane's row [`ROW_AHEAD`] values ahead of the tile, into L1.
    rows_ahead: bool,
    /// The next block's rows, a share with each tile, into L2.
    next_block_l2: bool,
    /// The next block's gradient lines, a share with each tile, into L2.
    next_gradient: bool,
    /// Each lane's stream [`STREAM_AHEAD`] values ahead, into L2 (streamed blocks).
    streams: bool,
}

/// Blocks of rows this long or longer prefetch (shorter ones: `Schedule::ahead`).
pub(crate) const PREFETCH_MIN_CLASSES: usize = 32;
/// Up to this many classes, the whole next block into L1; longer rows each row ahead instead.
pub(crate) const NEXT_BLOCK_L1_MAX_CLASSES: usize = 256;
/// How far ahead in each row (two lines of `f32`).
const ROW_AHEAD: usize = 32;
/// The largest next block of long rows prefetched into L2, without and with a gradient.
const NEXT_BLOCK_L2_MAX_BYTES: usize = 80 << 10;
const NEXT_BLOCK_L2_MAX_BYTES_WITH_GRADIENT: usize = 32 << 10;
/// Gradient blocks of at least this many classes, at most these many bytes and tiles of at most
/// these many values prefetch the next block's gradient lines into L2, for the stores.
const NEXT_GRADIENT_MIN_CLASSES: usize = 64;
const NEXT_GRADIENT_MAX_BYTES: usize = 32 << 10;
const NEXT_GRADIENT_MAX_TILE_VALUES: usize = 128;
/// How far ahead in its stream each lane of a streamed block prefetches (1 KiB of `f32`).
pub(crate) const STREAM_AHEAD: usize = 256;

impl Prefetch {
    /// The hints for blocks of `c` classes of vectors `V`: `writes` for blocks that store a
    /// gradient, `streamed` for the blocks of a streamed task.
    #[inline(always)]
    pub(crate) fn new<S: Element, V: Vector<S::Real>>(
        c: usize,
        writes: bool,
        streamed: bool,
    ) -> Prefetch {
        if streamed || c < PREFETCH_MIN_CLASSES {
            return Prefetch {
                streams: streamed,
                ..Prefetch::default()
            };
        }
        // The scores' bytes as stored; the gradient's in the working precision.
        let block_bytes = V::LANES * c * size_of::<S>();
        let gradient_bytes = V::LANES * c * size_of::<S::Real>();
        let long_gradients = V::LANES * V::TILE <= NEXT_GRADIENT_MAX_TILE_VALUES;
        let l2_max = match (writes, long_gradients) {
            (false, _) => NEXT_BLOCK_L2_MAX_BYTES,
            (true, true) => NEXT_BLOCK_L2_MAX_BYTES_WITH_GRADIENT,
            (true, false) => 0,
        };
        let long = c > NEXT_BLOCK_L1_MAX_CLASSES;
        Prefetch {
            next_block_l1: !long,
            rows_ahead: long,
            next_block_l2: long && block_bytes <= l2_max,
            next_gradient: writes
                && long_gradients
                && c >= NEXT_GRADIENT_MIN_CLASSES
                && gradient_bytes <= NEXT_GRADIENT_MAX_BYTES,
            streams: false,
        }
    }
}

/// Prefetch hints, the values of x86's `_MM_HINT_T0` (into L1) and `_MM_HINT_T1` (into L2).
const TO_L1: i32 = 3;
pub(crate) const TO_L2: i32 = 2;
#[cfg(target_arch = "x86_64")]
const _: () =
    assert!(TO_L1 == std::arch::x86_64::_MM_HINT_T0 && TO_L2 == std::arch::x86_64::_MM_HINT_T1);
pub(crate) const CACHE_LINE: usize = 64;

/// A hint to bring the line holding `address` into the cache level `HINT` names. Any address
/// will do: the pointer is never dereferenced (it is formed with `wrapping_add`).
#[inline(always)]
pub(crate) fn prefetch<const HINT: i32, T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86-64 baseline; a prefetch never faults and has no effect on
    // memory or on the program's results, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<HINT>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// Prefetches (into level `HINT`) tile `first / TILE`'s share of the block after `block`, one run
/// `LANES·pitch` values on: tile `t` takes lines `t·L..(t+1)·L`, `L` a tile's lines, so the tiles
/// cover it. For the scores and the gradient alike.
#[inline(always)]
fn prefetch_next_block_share<const HINT: i32, E, R: Real, V: Vector<R>>(
    block: &[E],
    pitch: usize,
    first: usize,
) {
    let tile_lines = (V::TILE * V::LANES * size_of::<E>()).div_ceil(CACHE_LINE);
    let next = block.as_ptr().wrapping_add(V::LANES * pitch).cast::<u8>();
    let first_line = first / V::TILE * tile_lines;
    for line in first_line..first_line + tile_lines {
        prefetch::<HINT, _>(next.wrapping_add(line * CACHE_LINE));
    }
}

impl Prefetch {
    /// The hints for the tile of columns `first..` of the block whose lane 0 row is at `rows`
    /// (lanes `lane_pitch` apart, rows of the task `pitch` apart).
    #[inline(always)]
    fn tile<S: Element, V: Vector<S::Real>>(
        self,
        rows: &[S],
        (pitch, lane_pitch): (usize, usize),
        first: usize,
    ) {
        if self.streams {
            for lane in 0..V::LANES {
                let at = lane * lane_pitch + first + STREAM_AHEAD;
                prefetch::<TO_L2, _>(rows.as_ptr().wrapping_add(at));
            }
            return;
        }
        if self.next_block_l1 {
            prefetch_next_block_share::<TO_L1, S, S::Real, V>(rows, pitch, first);
        }
        if self.rows_ahead {
            for lane in 0..V::LANES {
                let at = lane * lane_pitch + first + ROW_AHEAD;
                prefetch::<TO_L1, _>(rows.as_ptr().wrapping_add(at));
            }
        }
        if self.next_block_l2 {
            prefetch_next_block_share::<TO_L2, S, S::Real, V>(rows, pitch, first);
        }
    }

    /// The hints for tile `first..` of the gradient of the block after the one at `grads`.
    #[inline(always)]
    fn gradient_tile<T: Real, V: Vector<T>>(self, grads: &[T], pitch: usize, first: usize) {
        if self.next_gradient {
            prefetch_next_block_share::<TO_L2, T, T, V>(grads, pitch, first);
        }
    }
}

/// A block of `LANES` rows: lane `k`'s row at `rows[k·lane_pitch..]` (`lane_pitch` = `pitch` for
/// neighbouring rows, a multiple of it when streamed), the task's row `pitch` (the next block,
/// for prefetching, is `LANES·pitch` values on) and the lanes' targets.
#[derive(Clone, Copy)]
pub(crate) struct Block<'a, S> {
    pub rows: &'a [S],
    pub pitch: usize,
    pub lane_pitch: usize,
    pub targets: Targets<'a>,
}

/// Runs `$body` with `$jj` bound to each column of a tile below `min($tile, $width)`, unrolled
/// with constant indices so a tile's vectors stay in registers (a runtime-bound loop spills them).
/// `$tile` is a constant (`V::TILE`): columns past it are never emitted.
macro_rules! each_column {
    ($tile:expr, $width:expr, |$jj:ident| $body:block) => {
        each_column!(@ $tile, $width, $jj, $body, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    };
    (@ $tile:expr, $width:expr, $jj:ident, $body:block, $($n:literal)*) => {
        $({
            let $jj: usize = $n;
            if const { $n < $tile } && $jj < $width $body
        })*
    };
}

/// Runs `$body` for each tile of `$c` columns with `$first` and `$width` bound: whole tiles first
/// at the constant width `TILE` (so column loops over them unroll), then the rest.
macro_rules! tiles {
    ($tile:expr, $c:expr, |$first:ident, $width:ident| $body:block) => {{
        let full = $c / $tile * $tile;
        for $first in (0..full).step_by($tile) {
            let $width = $tile;
            $body
        }
        if full < $c {
            let ($first, $width) = (full, $c - full);
            $body
        }
    }};
}

/// `$sum` plus the hinge term of column `$x` (row constants `$k`) where `z = base + x > 0` and,
/// with `unless $j == $class`, the lane's class (relative to the tile) is not column `$j`. A
/// macro so every site is inlined; `$h` is the caller's [`Hinge`] copy, `$params` its call's.
macro_rules! add_hinge_term {
    ($h:ty, $params:expr, $sum:ident, $k:expr, $zero:expr, $x:expr, unless $j:ident == $class:expr) => {{
        let z = $k.base.add($x);
        let active = z.gt_where_ne($zero, $class, column_index($j));
        $sum = $sum.add_where(active, add_hinge_term!(@term $h, $params, $k, z));
    }};
    ($h:ty, $params:expr, $sum:ident, $k:expr, $zero:expr, $x:expr) => {{
        let z = $k.base.add($x);
        let term = add_hinge_term!(@term $h, $params, $k, z);
        $sum = $sum.add_where(z.gt($zero), term);
    }};
    (@term $h:ty, $params:expr, $k:expr, $z:ident) => {{
        let mut term = if square!($h, $params) { $z.mul($z) } else { $z };
        if weighted!($h, $params) {
            term = term.mul($k.weight);
        }
        term
    }};
}

/// Column `j` (of a tile) in every lane; `j` is a constant of the unrolled loops.
#[inline(always)]
fn column_index<T: Real, V: Vector<T>>(j: usize) -> V {
    V::splat(T::from_usize(j))
}

/// The targets relative to a tile's first column: exact, as both are integers below 2^24.
#[inline(always)]
fn relative_classes<T: Real, V: Vector<T>>(class: V, first: usize) -> V {
    class.sub(V::splat(T::from_usize(first)))
}

/// Row constants of a block whose `c <= TILE` columns are already in registers (`cols`): `x[y]`
/// and `w[y]` picked with one select per column instead of `LANES` scalar loads.
#[inline(always)]
fn row_constants_from_columns<T: Real, V: Vector<T>, H: Hinge>(
    params: &Params<T>,
    class: V,
    c: usize,
    cols: &[V; MAX_TILE],
) -> RowConstants<V> {
    let mut picked = V::splat(T::ZERO);
    let mut weight = picked;
    each_column!(V::TILE, c, |j| {
        let other = class.ne(column_index(j));
        picked = V::select(other, picked, cols[j]);
        if weighted!(H, params) {
            let w = params.weight.expect("weighted kernel without weights");
            weight = V::select(other, weight, V::splat(w[j]));
        }
    });
    RowConstants {
        base: V::splat(params.margin).sub(picked),
        weight,
    }
}

/// Row constants of a block of long rows, read with one scalar load per row (and per weight).
#[inline(always)]
fn row_constants_from_rows<S: Element, V: Vector<S::Real>, H: Hinge>(
    params: &Params<S::Real>,
    c: usize,
    block: Block<'_, S>,
) -> RowConstants<V> {
    let zero = S::Real::ZERO;
    let mut picked = [zero; MAX_LANES];
    let mut weight = [zero; MAX_LANES];
    // Each target read on its own, right before the score it indexes: read as one vector and
    // taken apart, they delayed every later step of the block (docs/DESIGN.md).
    let mut pick = |k: usize, y: usize| {
        debug_assert!(y < c, "unchecked target");
        picked[k] = block.rows[k * block.lane_pitch + y].widen();
        if weighted!(H, params) {
            weight[k] = params.weight.expect("weighted kernel without weights")[y];
        }
    };
    with_targets!(block.targets, |t| {
        for (k, &y) in t[..V::LANES].iter().enumerate() {
            pick(k, y.index());
        }
    });
    RowConstants {
        base: V::splat(params.margin).sub(V::load(&picked)),
        weight: V::load(&weight),
    }
}

/// The start of every block: the targets as a class vector and the row constants. Rows of at
/// most one tile (`c <= TILE`) are transposed here, once, into `cols`, kept in registers.
#[inline(always)]
fn start_block<S, V, H: Hinge>(
    params: &Params<S::Real>,
    c: usize,
    block: Block<'_, S>,
    prefetch: Prefetch,
    cols: &mut [V; MAX_TILE],
) -> (V, RowConstants<V>)
where
    S: Load<V>,
    V: Vector<S::Real>,
{
    let class = classes(block.targets);
    let k = if c <= V::TILE {
        prefetch.tile::<S, V>(block.rows, (block.pitch, block.lane_pitch), 0);
        S::load_columns(block.rows, block.lane_pitch, 0, c, cols);
        row_constants_from_columns::<S::Real, V, H>(params, class, c, cols)
    } else {
        row_constants_from_rows::<S, V, H>(params, c, block)
    };
    (class, k)
}

/// From this many classes on, forward blocks skip the `j == y` mask in tiles that hold no lane's
/// target (docs/DESIGN.md); below, finding those tiles costs more than it saves.
const SKIP_MASK_MIN_CLASSES: usize = 128;

/// Bit `t mod 64` set for every tile `t` of long rows that holds a lane's target. A tile whose
/// bit is set keeps the `j == y` mask, exact whether or not it holds a target; others skip it.
#[inline(always)]
fn tiles_with_targets(c: usize, targets: Targets<'_>, lanes: usize, tile: usize) -> u64 {
    let targets = targets.indices(lanes, c);
    targets[..lanes]
        .iter()
        .fold(0u64, |bits, &y| bits | 1u64.wrapping_shl((y / tile) as u32))
}

/// The losses of one block of `LANES` rows.
#[inline(always)]
pub(crate) fn block_loss<S, V, H: Hinge>(
    params: &Params<S::Real>,
    c: usize,
    block: Block<'_, S>,
    prefetch: Prefetch,
) -> V
where
    S: Load<V>,
    V: Vector<S::Real>,
{
    let zero = V::splat(S::Real::ZERO);
    let mut cols = [zero; MAX_TILE];
    let (class, k) = start_block::<S, V, H>(params, c, block, prefetch, &mut cols);
    let mut sum = zero;
    if c <= V::TILE {
        each_column!(V::TILE, c, |j| {
            add_hinge_term!(H, params, sum, k, zero, cols[j], unless j == class);
        });
    } else {
        let masked = if c >= SKIP_MASK_MIN_CLASSES {
            tiles_with_targets(c, block.targets, V::LANES, V::TILE)
        } else {
            u64::MAX
        };
        let at = (block.pitch, block.lane_pitch);
        tiles!(V::TILE, c, |first, width| {
            prefetch.tile::<S, V>(block.rows, at, first);
            S::load_columns(block.rows, block.lane_pitch, first, width, &mut cols);
            if masked.wrapping_shr((first / V::TILE) as u32) & 1 != 0 {
                let tile_class = relative_classes(class, first);
                each_column!(V::TILE, width, |j| {
                    add_hinge_term!(H, params, sum, k, zero, cols[j], unless j == tile_class);
                });
            } else {
                each_column!(V::TILE, width, |j| {
                    add_hinge_term!(H, params, sum, k, zero, cols[j]);
                });
            }
        });
    }
    sum.div(V::splat(S::Real::from_usize(c)))
}

/// The gradient of one block of `LANES` neighbouring rows into `grads` (row `k` at
/// `grads[k·grad_pitch..]`), and, with `LOSS`, the block's losses (else zeros).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_grad<S, V, H: Hinge, const LOSS: bool>(
    params: &Params<S::Real>,
    c: usize,
    block: Block<'_, S>,
    prefetch: Prefetch,
    g: S::Real,
    upstream: V,
    grads: &mut [S::Real],
    grad_pitch: usize,
) -> V
where
    S: Load<V>,
    V: Vector<S::Real>,
{
    if weighted!(H, params) && upstream.any_nan() {
        // A NaN term (only weights make one) times a NaN upstream: which NaN a vector product
        // keeps is the compiler's choice, so use the reference (`reference::times_upstream`).
        let (mut up, mut losses) = (
            LineAligned([S::Real::ZERO; MAX_LANES]),
            [S::Real::ZERO; MAX_LANES],
        );
        upstream.store(&mut up.0);
        let grads = (grads, grad_pitch);
        block_grad_by_rows::<S, LOSS>(params, c, (block, V::LANES), (g, &up.0), grads, &mut losses);
        return V::load(&losses);
    }
    let zero = V::splat(S::Real::ZERO);
    let mut cols = [zero; MAX_TILE];
    let mut grad_cols = [zero; MAX_TILE];
    let (class, k) = start_block::<S, V, H>(params, c, block, prefetch, &mut cols);
    let g2 = V::splat(S::Real::TWO * g);
    let g = V::splat(g);
    // Inactive entries are `0·up`, not 0: that keeps PyTorch's -0 and NaN.
    let inactive = zero.mul(upstream);
    let mut sum = zero;
    let mut target_grad = zero;
    // Column `j` of the tile whose targets, relative to its first column, are `$tile_class`.
    macro_rules! step {
        ($x:expr, $tile_class:expr, $j:expr) => {{
            let z = k.base.add($x);
            let active = z.gt_where_ne(zero, $tile_class, column_index($j));
            let mut h = if square!(H, params) { g2.mul(z) } else { g };
            if weighted!(H, params) {
                h = h.mul(k.weight);
            }
            target_grad = target_grad.sub_where(active, h);
            if LOSS {
                let mut term = if square!(H, params) { z.mul(z) } else { z };
                if weighted!(H, params) {
                    term = term.mul(k.weight);
                }
                sum = sum.add_where(active, term);
            }
            // The `j == y` lane writes `0·up` here; the target entry is written after the loop.
            V::select(active, h.mul(upstream), inactive)
        }};
    }
    if c <= V::TILE {
        each_column!(V::TILE, c, |j| {
            grad_cols[j] = step!(cols[j], class, j);
        });
        // The target entries go into the tile before it is written: one store per row.
        let target_value = target_grad.mul(upstream);
        each_column!(V::TILE, c, |j| {
            grad_cols[j] = V::select(class.ne(column_index(j)), grad_cols[j], target_value);
        });
        V::store_columns(&grad_cols, grad_pitch, 0, c, grads);
    } else {
        let at = (block.pitch, block.lane_pitch);
        tiles!(V::TILE, c, |first, width| {
            prefetch.tile::<S, V>(block.rows, at, first);
            S::load_columns(block.rows, block.lane_pitch, first, width, &mut cols);
            let tile_class = relative_classes(class, first);
            each_column!(V::TILE, width, |j| {
                grad_cols[j] = step!(cols[j], tile_class, j);
            });
            prefetch.gradient_tile::<S::Real, V>(grads, grad_pitch, first);
            V::store_columns(&grad_cols, grad_pitch, first, width, grads);
        });
        let mut target_grads = LineAligned([S::Real::ZERO; MAX_LANES]);
        target_grad.mul(upstream).store(&mut target_grads.0);
        let targets = block.targets.indices(V::LANES, c);
        for lane in 0..V::LANES {
            grads[lane * grad_pitch + targets[lane]] = target_grads.0[lane];
        }
    }
    if LOSS {
        sum.div(V::splat(S::Real::from_usize(c)))
    } else {
        zero
    }
}

/// [`block_grad`] row by row with the reference's loops, for blocks whose upstream gradient
/// holds a NaN; out of line, as it runs only then.
#[inline(never)]
fn block_grad_by_rows<S: Element, const LOSS: bool>(
    params: &Params<S::Real>,
    c: usize,
    (block, lanes): (Block<'_, S>, usize),
    (g, upstream): (S::Real, &[S::Real]),
    (grads, grad_pitch): (&mut [S::Real], usize),
    losses: &mut [S::Real],
) {
    for k in 0..lanes {
        let row = &block.rows[k * block.lane_pitch..][..c];
        let grad = &mut grads[k * grad_pitch..][..c];
        let y = block.targets.index(k, c);
        losses[k] = reference::row_grad::<S, LOSS>(params, row, y, g, upstream[k], grad);
    }
}
