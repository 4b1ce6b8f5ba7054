//! Vector kernels: one generic body per operation over the small [`Vector`] trait, and the
//! backends that implement it (`wide`, AVX2, AVX-512).
//!
//! Layout: lanes are rows. A block of `LANES` consecutive rows is processed column by column
//! (`j = 0..c`), each column one vector (tiles of columns are transposed by the backend, in registers on x86), so every lane accumulates its row's sum in
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

use super::{
    GradOut, INTERLEAVE, Isa, LineAligned, LossOut, Params, Partials, Power, Real, Task, Upstream,
    reference,
};

/// The most lanes of any backend (AVX-512 with `f32`): the size of the stack buffers lanes are
/// spilled to.
pub(super) const MAX_LANES: usize = 16;

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
    /// `self > rhs` where `class != column`, false elsewhere and where `self` or `rhs` is NaN:
    /// the hinge's test with the `j != y` mask. One masked compare on AVX-512, where a compare
    /// and a mask `and` made the tiles that hold a target 1.25× slower (Zen 4); elsewhere two
    /// compares and an `and`, in that order.
    fn gt_where_ne(self, rhs: Self, class: Self, column: Self) -> Self::Mask;
    /// `if_true` where `mask` holds, else `if_false`.
    fn select(mask: Self::Mask, if_true: Self, if_false: Self) -> Self;
    /// `self + term` where `mask` holds, `self` elsewhere: one link of a running sum that skips
    /// masked-out terms. Requires that no lane of `self` is `-0.0`, which holds for a sum that
    /// starts at `+0.0` and grows only by this method: under round-to-nearest, `a + b` is
    /// `-0.0` only when both `a` and `b` are. A backend whose blend would lengthen the sum's
    /// dependency chain adds `term & mask` instead, `+0.0` where masked out: `x + 0.0` is `x`
    /// for every `x` but `-0.0` (NaN payloads included).
    #[inline(always)]
    fn add_where(self, mask: Self::Mask, term: Self) -> Self {
        Self::select(mask, self.add(term), self)
    }
    /// `self - term` where `mask` holds, `self` elsewhere. A backend may subtract `term & mask`
    /// instead, with no precondition: `x - 0.0` is `x` for every `x`, `-0.0` and NaN included.
    #[inline(always)]
    fn sub_where(self, mask: Self::Mask, term: Self) -> Self {
        Self::select(mask, self.sub(term), self)
    }

    /// The first `LANES` targets as exact floats. Requires each to be in `[0, MAX_CLASSES)`
    /// (checked before any kernel runs), where the conversion is exact in both precisions.
    #[inline(always)]
    fn classes(targets: &[i64]) -> Self {
        let mut lanes = [T::ZERO; MAX_LANES];
        for (lane, &y) in lanes.iter_mut().zip(&targets[..Self::LANES]) {
            *lane = T::from_usize(y as usize);
        }
        Self::load(&lanes)
    }

    /// Whether this backend's forward tasks that sum into [`Partials`] check their own
    /// targets, with [`Vector::targets_out_of_range`] (see [`Partials::bad_target`]). Only
    /// the AVX-512 entry for rows of 9 to 16 `f32` classes does: its blocks are where the check
    /// pays (measured: 4194304x10 forward 1.05–1.07× faster on 1 thread, 1.13× on 2), and the
    /// same loop compiled into AVX-512's entry for c = 17 to 127 (since handed to AVX2) made
    /// 1024x100 forward 1.2× slower, through register allocation, though that call never ran it.
    const CHECKS_OWN_TARGETS: bool = false;

    /// Whether any of the first `LANES` targets lies outside `[0, c)`; backends with
    /// [`Vector::CHECKS_OWN_TARGETS`] only.
    #[inline(always)]
    fn targets_out_of_range(targets: &[i64], c: usize) -> bool {
        let _ = (targets, c);
        unreachable!("a backend that checks no targets")
    }

    /// Whether any lane is NaN.
    #[inline(always)]
    fn any_nan(self) -> bool {
        let mut lanes = LineAligned([T::ZERO; MAX_LANES]);
        self.store(&mut lanes.0);
        lanes.0[..Self::LANES].iter().any(|v| v.is_nan())
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

    /// Columns per tile of [`Vector::load_columns`] (at most [`MAX_TILE`]).
    const TILE: usize = MAX_TILE;

    /// Columns `first..first + width` of the first `LANES` rows of `rows` (at least `LANES·c`
    /// values, row-major) as vectors: `out[jj]` lane `k` = `rows[k·c + first + jj]`, for
    /// `jj < width`; later entries of `out` are unspecified. Requires `width <= TILE` and
    /// `first + width <= c`. Values of `rows` past the block may be read (only read), which lets
    /// a backend load whole vectors where a row's piece is shorter.
    ///
    /// Every backend transposes in registers.
    fn load_columns(rows: &[T], c: usize, first: usize, width: usize, out: &mut [Self; MAX_TILE]);

    /// The inverse of [`Vector::load_columns`]: writes `cols[jj]` lane `k` to
    /// `grads[k·c + first + jj]` for `jj < width`, and nothing else.
    fn store_columns(
        cols: &[Self; MAX_TILE],
        c: usize,
        first: usize,
        width: usize,
        grads: &mut [T],
    );
}

/// Targets per chunk of [`crate::kernel::first_bad_target_chunk`].
pub const TARGET_CHUNK: usize = 64;

/// The index of the first chunk of [`TARGET_CHUNK`] targets that holds one outside `[0, c)`.
/// Each chunk is scanned without an early exit (comparing as `u64` folds the negative check
/// into the upper bound), so the compiler vectorises the scan; inlined into each backend's
/// `#[target_feature]` entry, it uses that backend's 64-bit compares (baseline x86-64 has none).
#[inline(always)]
pub(crate) fn first_bad_target_chunk(target: &[i64], c: usize) -> Option<usize> {
    let out_of_range = |t: i64| (t as u64) >= c as u64;
    target
        .chunks(TARGET_CHUNK)
        .position(|chunk| chunk.iter().fold(false, |bad, &t| bad | out_of_range(t)))
}

/// [`first_bad_target_chunk`] on `isa`, which must be available on this CPU.
pub(crate) fn first_bad_target_chunk_on(isa: Isa, target: &[i64], c: usize) -> Option<usize> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is available, so the CPU has AVX-512F, AVX2 and FMA.
        Isa::Avx512 => unsafe { avx512::first_bad_target_chunk(target, c) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is available, so the CPU has AVX2 and FMA.
        Isa::Avx2 => unsafe { avx2::first_bad_target_chunk(target, c) },
        _ => first_bad_target_chunk(target, c),
    }
}

/// [`super::sum::sum_in_any_order`] on `isa`, which must be available on this CPU.
#[inline]
pub(crate) fn sum_in_any_order_on(isa: Isa, total: f64, losses: &[f32]) -> Option<f64> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is available, so the CPU has AVX-512F, AVX2 and FMA.
        Isa::Avx512 => unsafe { avx512::sum_in_any_order(total, losses) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is available, so the CPU has AVX2 and FMA.
        Isa::Avx2 => unsafe { avx2::sum_in_any_order(total, losses) },
        _ => portable_sum_in_any_order(total, losses),
    }
}

/// The portable pass, out of line (callers inline only the dispatch above).
#[inline(never)]
fn portable_sum_in_any_order(total: f64, losses: &[f32]) -> Option<f64> {
    super::sum::sum_in_any_order(total, losses)
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
    /// The CPU must support AVX-512F, AVX2 and FMA.
    #[doc(hidden)]
    #[cfg(target_arch = "x86_64")]
    unsafe fn run_avx512(params: &Params<Self>, c: usize, task: Task<'_, Self>);
    /// Whether the entry `isa` (an available one) picks for `c` classes checks the targets of
    /// a forward task summing into [`Partials`] itself ([`Vector::CHECKS_OWN_TARGETS`]).
    #[doc(hidden)]
    fn checks_own_targets(isa: Isa, c: usize) -> bool;
    /// The entry of `isa` (an available one) that runs two tasks of `kind` and `c` classes
    /// interleaved ([`run_forward_pair`], [`run_gradient_pair`]), where that path has one.
    #[doc(hidden)]
    fn pair_entry(isa: Isa, c: usize, kind: PairKind) -> Option<PairEntry<Self>>;
    /// The entry of `isa` (an available one) that reads a large call's forward blocks in
    /// streams ([`forward_long_rows_streamed`]), for tasks that [`takes_long_rows_streamed`],
    /// where that path has one.
    #[doc(hidden)]
    fn streamed_entry(isa: Isa) -> Option<Entry<Self>>;
}

/// A backend's entry for one task; callers must have checked the CPU features it enables.
pub type Entry<T> = unsafe fn(&Params<T>, usize, Task<'_, T>);

/// A backend's entry for two tasks of one kind ([`pair_kind_of`]); callers must have checked
/// that kind, and the CPU features the entry enables.
pub type PairEntry<T> = unsafe fn(&Params<T>, usize, Task<'_, T>, Task<'_, T>);

/// [`Backends::pair_entry`] for `f32`: AVX-512's short-row entries for the rows they run (9 to
/// 16 classes), AVX2's for the rest, on both paths (AVX-512 runs AVX2's kernels there).
#[inline(always)]
fn pair_entry_f32(isa: Isa, c: usize, kind: PairKind) -> Option<PairEntry<f32>> {
    if !(PAIRED_MIN_CLASSES..=PAIRED_MAX_CLASSES).contains(&c) {
        return None;
    }
    let forward = kind == PairKind::Forward;
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if avx512::takes_short_rows_f32(c) => Some(if forward {
            avx512::run_f32_short_rows_pair
        } else {
            avx512::run_f32_short_rows_gradient_pair
        }),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 => Some(if forward {
            avx2::run_f32_pair
        } else {
            avx2::run_f32_gradient_pair
        }),
        _ => None,
    }
}

/// [`Backends::pair_entry`] for `f64`: AVX-512's or AVX2's own kernels, forward only. Backward
/// and fused pairs of `f64` measured 1.3x and 1.18x faster on 1 thread (2097152x10), but their
/// two entries took 18 of the library's 73 seconds of compiling, in each of the builds the
/// tests make; `f64` training is rare enough to leave them out.
#[inline(always)]
fn pair_entry_f64(isa: Isa, c: usize, kind: PairKind) -> Option<PairEntry<f64>> {
    if !(PAIRED_MIN_CLASSES..=PAIRED_MAX_CLASSES).contains(&c) {
        return None;
    }
    let forward = kind == PairKind::Forward;
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if forward => Some(avx512::run_f64_pair),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if forward => Some(avx2::run_f64_pair),
        _ => None,
    }
}

macro_rules! impl_backends {
    ($t:ty, $wide:ty, $avx2:ident, $avx512:ident, $long:ident, streamed: $streamed:ident,
     pairs: $pair_entry:ident
     $(, short rows: $takes_short:ident => $short:ident,
         long rows on AVX2: $long_on_avx2:ident)?) => {
        impl Backends for $t {
            // Not inlined: it holds the whole portable kernel.
            #[inline(never)]
            fn run_wide(params: &Params<$t>, c: usize, task: Task<'_, $t>) {
                run::<$t, $wide>(params, c, task)
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn run_avx2(params: &Params<$t>, c: usize, task: Task<'_, $t>) {
                if takes_long_rows_forward(c, &task) {
                    // SAFETY: the caller guarantees AVX2 and FMA.
                    return unsafe { avx2::$long(params, c, task) };
                }
                // SAFETY: the caller guarantees AVX2 and FMA.
                unsafe { avx2::$avx2(params, c, task) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn run_avx512(params: &Params<$t>, c: usize, task: Task<'_, $t>) {
                if takes_long_rows_forward(c, &task) {
                    #[allow(unused_mut)]
                    let mut long: unsafe fn(&Params<$t>, usize, Task<'_, $t>) = avx512::$long;
                    $(
                        if avx512::$long_on_avx2(c) {
                            long = avx2::$long;
                        }
                    )?
                    // SAFETY: the caller guarantees AVX-512F, AVX2 and FMA.
                    return unsafe { long(params, c, task) };
                }
                // One call site whatever the entry: a second one made the compiler copy the
                // task on its way there, with loads wider than the stores that had just
                // written it (a store-forwarding stall of 7% of a 32x10 forward call).
                #[allow(unused_mut)]
                let mut entry: unsafe fn(&Params<$t>, usize, Task<'_, $t>) = avx512::$avx512;
                $(
                    if avx512::$takes_short(c) {
                        entry = avx512::$short;
                    }
                )?
                // SAFETY: the caller guarantees AVX-512F, AVX2 and FMA.
                unsafe { entry(params, c, task) }
            }
            #[inline(always)]
            fn checks_own_targets(isa: Isa, c: usize) -> bool {
                let _ = (isa, c);
                $(
                    #[cfg(target_arch = "x86_64")]
                    {
                        // The entry `run_avx512` picks for these rows.
                        if isa == Isa::Avx512 && avx512::$takes_short(c) {
                            return <avx512::F32x16Rows as Vector<f32>>::CHECKS_OWN_TARGETS;
                        }
                    }
                )?
                false
            }
            #[inline(always)]
            fn pair_entry(isa: Isa, c: usize, kind: PairKind) -> Option<PairEntry<$t>> {
                $pair_entry(isa, c, kind)
            }
            #[inline(always)]
            fn streamed_entry(isa: Isa) -> Option<Entry<$t>> {
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 => Some(avx512::$streamed),
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => Some(avx2::$streamed),
                    _ => None,
                }
            }
        }
    };
}

impl_backends!(f32, ::wide::f32x8, run_f32, run_f32, run_f32_long_rows,
    streamed: run_f32_long_rows_streamed, pairs: pair_entry_f32,
    short rows: takes_short_rows_f32 => run_f32_short_rows,
    long rows on AVX2: long_rows_on_avx2_f32);
impl_backends!(f64, ::wide::f64x4, run_f64, run_f64, run_f64_long_rows,
    streamed: run_f64_long_rows_streamed, pairs: pair_entry_f64);

/// A class count whose kernels for PyTorch's default parameters (p = 1, no weights) are also
/// compiled with `c` as a constant: 10, the common case (MNIST, CIFAR-10, the shapes).
/// The column loops, load and store widths, masks and offsets then resolve at compile time.
/// Measured on Zen 4 (in-process A/B, AVX-512 path) at 32x10 / 4096x10: forward 6–8% / 16%
/// faster, backward 13–21% / 16%, at 4194304x10 3–10%; fused moved less than its swings from
/// one process to the next (±25% at 4096x10, the generic build's as much). It costs 80 KB of
/// library (stripped), as would each further count.
const CONSTANT_CLASSES: usize = 10;

/// Runs a task with vectors `V`; bit-identical to [`reference::run`]. Always inlined so that a
/// backend's `#[target_feature]` entry point compiles the whole body for its instruction set.
#[inline(always)]
pub(crate) fn run<T: Real, V: Vector<T>>(params: &Params<T>, c: usize, task: Task<'_, T>) {
    if task.target.len() < V::LANES || c > MAX_CLASSES {
        return reference::run(params, c, task);
    }
    // One copy of the loops per (power, weighted): no per-term branches on either.
    match (params.power, params.weight.is_some()) {
        (Power::One, false) if c == CONSTANT_CLASSES => {
            run_shape::<T, V, false, false>(params, CONSTANT_CLASSES, task)
        }
        (Power::One, false) => run_shape::<T, V, false, false>(params, c, task),
        (Power::One, true) => run_shape::<T, V, false, true>(params, c, task),
        (Power::Two, false) => run_shape::<T, V, true, false>(params, c, task),
        (Power::Two, true) => run_shape::<T, V, true, true>(params, c, task),
    }
}

/// From this many classes on, a forward task (no gradient) runs [`run_forward_long_rows`]: the
/// tiles that hold no lane's target (three in four at c = 1000, two in five at c = 128) skip the
/// `j == y` compare and mask of each column. Measured on Zen 4 (AVX-512, in-process A/B, 1
/// thread): 4096×1000 forward 1.22× faster, 33×1001 1.33×, 8192×600 1.25×, 1024×400 1.2×,
/// 2048×200 1.1×, 2048×128 1.03–1.05×, 2048×100 1.02× (hence the bound); 32768×1000 and
/// 65536×300, which wait on memory, 4–8%.
pub(crate) const LONG_ROWS_MIN_CLASSES: usize = 128;

/// Whether `task` is one for [`run_forward_long_rows`] (at least 16 rows, the widest vector's).
/// (Written out rather than through [`takes_long_rows_streamed`]'s shape: every call's dispatch
/// runs it, and the shared form compiled the small summed calls' path to other instructions.)
#[inline(always)]
fn takes_long_rows_forward<T: Real>(c: usize, task: &Task<'_, T>) -> bool {
    task.grad.is_none()
        && (LONG_ROWS_MIN_CLASSES..=MAX_CLASSES).contains(&c)
        && task.target.len() >= MAX_LANES
}

/// [`run`] for a forward task of at least [`LONG_ROWS_MIN_CLASSES`] classes and `LANES` rows,
/// whose tiles without any lane's target skip the `j == y` mask. A separate entry (each backend
/// gives it its own `#[target_feature]` function): the same choice made at run time inside
/// [`run`]'s loops made c = 17 to 100 compile 1.2–2× slower. `STREAMED` for the blocks of a
/// large call, whose rows come from memory ([`forward_long_rows_streamed`]): another entry
/// again, since what pays there costs in cache.
#[inline(always)]
pub(crate) fn run_forward_long_rows<T: Real, V: Vector<T>, const STREAMED: bool>(
    params: &Params<T>,
    c: usize,
    task: Task<'_, T>,
) {
    assert!(task.grad.is_none() && task.target.len() >= V::LANES && c <= MAX_CLASSES);
    let Task {
        input,
        target,
        loss,
        grad: _,
    } = task;
    assert_eq!(
        input.len(),
        target.len() * c,
        "task input/target lengths disagree"
    );
    let Some(sink) = LossSink::new(loss, target.len()) else {
        return;
    };
    macro_rules! forward {
        ($square:literal, $weighted:literal) => {
            if STREAMED {
                forward_long_rows_streamed::<T, V, $square, $weighted>(
                    params, c, input, target, sink,
                )
            } else {
                forward_blocks::<T, V, $square, $weighted, true>(params, c, input, target, sink)
            }
        };
    }
    match (params.power, params.weight.is_some()) {
        (Power::One, false) => forward!(false, false),
        (Power::One, true) => forward!(false, true),
        (Power::Two, false) => forward!(true, false),
        (Power::Two, true) => forward!(true, true),
    }
}

/// From this many classes on, the forward blocks of large calls' long rows run
/// [`forward_long_rows_streamed`]. Shorter rows prefetch the whole next block into L1 (see
/// [`PREFETCH_NEXT_BLOCK_MAX_CLASSES`]), which measured faster: 131072×128 1.26× and 65536×256
/// 1.19× slower streamed (AVX2's 8-row blocks, as the AVX-512 path runs them there). Just
/// above, streams and the next block in L2 are even: AVX-512 `f32` 65536×260 and ×280 1.0,
/// ×300 1.025× faster streamed, ×350 1.09×.
pub(crate) const STREAMED_MIN_CLASSES: usize = PREFETCH_NEXT_BLOCK_MAX_CLASSES + 1;
// Streamed tasks are long-row tasks.
const _: () = assert!(STREAMED_MIN_CLASSES >= LONG_ROWS_MIN_CLASSES);

/// Whether a task of `rows` rows, with or without a gradient, is one for
/// [`forward_long_rows_streamed`] when its call is large (where the path has the entry): a
/// forward task of [`STREAMED_MIN_CLASSES`] or more, at least two rows a lane of the widest
/// vector, for streams of more than one row.
#[inline(always)]
pub(crate) fn takes_long_rows_streamed(c: usize, rows: usize, with_gradient: bool) -> bool {
    !with_gradient && (STREAMED_MIN_CLASSES..=MAX_CLASSES).contains(&c) && rows >= 2 * MAX_LANES
}

/// The most rows of a chunk of [`forward_long_rows_streamed`] (an engine block of 257 classes
/// or more has at most 256).
const STREAMED_CHUNK_MAX_ROWS: usize = 512;

/// How far ahead in its stream each lane prefetches (into L2): 1 KiB of `f32`. Measured on
/// Zen 4 (in-process A/B against the adjacent blocks, 1 thread, `f32`, AVX-512): 32768×1000
/// 1.2× faster at 256 values, 1.19× at 384, 1.16× at 500 (half a row), 1.11× at 128, 1.05× at
/// 1000 (a row), 1.0 with no prefetch at all; 40000×800 1.2×, 1.19×, 1.19×, 1.1× at 256, 384,
/// 400, 128 values.
const STREAM_AHEAD_VALUES: usize = 256;

/// The losses of a large call's block of long rows into `sink`, in chunks of up to
/// [`STREAMED_CHUNK_MAX_ROWS`] rows: [`strided_losses`] computes a chunk's losses into a buffer,
/// which then goes to `sink` block by block in row order, the very adds [`forward_blocks`]
/// makes, so every bit of the output is the same.
#[inline(always)]
fn forward_long_rows_streamed<T: Real, V: Vector<T>, const SQUARE: bool, const WEIGHTED: bool>(
    params: &Params<T>,
    c: usize,
    input: &[T],
    target: &[i64],
    mut sink: LossSink<'_, T>,
) {
    let n = target.len();
    let checks_targets = checks_own_targets::<T, V>(&sink);
    let chunks = n.div_ceil(STREAMED_CHUNK_MAX_ROWS);
    let mut buffer = [T::ZERO; STREAMED_CHUNK_MAX_ROWS];
    let mut start = 0;
    for chunk in 0..chunks {
        // Chunks within one row of each other in length, each at least `LANES` rows.
        let len = n / chunks + usize::from(chunk < n % chunks);
        let targets = &target[start..start + len];
        // Before anything reads the chunk's targets or indexes by them.
        if checks_targets
            && blocks(len, V::LANES).any(|(s, _)| V::targets_out_of_range(&targets[s..], c))
        {
            return sink.reject_targets();
        }
        let losses = &mut buffer[..len];
        strided_losses::<T, V, SQUARE, WEIGHTED>(
            params,
            c,
            &input[start * c..(start + len) * c],
            targets,
            losses,
        );
        for (s, first) in blocks(len, V::LANES) {
            sink.add(V::load(&losses[s..]), start + s, first);
        }
        start += len;
    }
    sink.finish(params, c, input, target);
}

/// The losses of the rows of `rows` (`targets.len() >= LANES` rows of `c` values) into
/// `losses`. The lanes of a block are rows far apart: with `per = rows / LANES`, lane `k` of
/// block `i` is row `k·per + i`, so that each lane reads one contiguous run of `per` rows, a
/// stream that it prefetches [`STREAM_AHEAD_VALUES`] ahead, and the hardware follows `LANES`
/// long streams instead of the short ones of adjacent rows, which restart every block. The
/// last `rows mod LANES` rows go in one block of the last `LANES` rows. Measured on Zen 4
/// (in-process A/B against adjacent rows with the next block prefetched, forward, 1 / 2
/// threads): `f32` AVX-512 32768×1000 1.27× / 1.21× faster, 40000×800 1.34×, 65536×400 1.22×,
/// 65536×500 1.14× / 1.17×, 16384×2000 1.14×, 8192×4000 (two rows a lane) 1.0; AVX2
/// 65536×300 1.23×, 32768×1000 1.09×, 16384×2000 1.06×; `f64` AVX-512 16384×1000 1.13×,
/// 32768×500 1.11×, 65536×300 1.11×.
#[inline(always)]
fn strided_losses<T: Real, V: Vector<T>, const SQUARE: bool, const WEIGHTED: bool>(
    params: &Params<T>,
    c: usize,
    rows: &[T],
    targets: &[i64],
    losses: &mut [T],
) {
    let n = targets.len();
    let per = n / V::LANES;
    let mut lane_targets = [0i64; MAX_LANES];
    let mut lane_losses = [T::ZERO; MAX_LANES];
    // Each lane's run from its start up to where its stream prefetch takes over, and the first
    // vector's `x[y]`: without these a lane's first lines were read on demand, tile after tile.
    // Lane by lane (in the tiles' order instead, line by line across the lanes, was 1.06–1.12×
    // slower).
    // `x[y]` of `row`, which its block reads first.
    let prefetch_target_score = |row: usize| {
        let y = target_index(targets[row], c);
        prefetch::<TO_L2, _>(rows.as_ptr().wrapping_add(row * c + y));
    };
    if per > 0 {
        for k in 0..V::LANES {
            let run = k * per * c;
            for at in (0..STREAM_AHEAD_VALUES).step_by(CACHE_LINE / size_of::<T>()) {
                prefetch::<TO_L2, _>(rows.as_ptr().wrapping_add(run + at));
            }
            prefetch_target_score(k * per);
        }
    }
    for i in 0..per {
        for (k, t) in lane_targets[..V::LANES].iter_mut().enumerate() {
            *t = targets[k * per + i];
        }
        if i + 1 < per {
            // The next block's, at a column where the lanes' streams have not arrived yet:
            // without this the streams gained nothing (A/B 1.0 at 32768×1000).
            for k in 0..V::LANES {
                prefetch_target_score(k * per + i + 1);
            }
        }
        let block = strided_block_loss::<T, V, SQUARE, WEIGHTED>(
            params,
            c,
            rows,
            (i * c, per * c),
            &lane_targets,
        );
        block.store(&mut lane_losses[..V::LANES]);
        for (k, &loss) in lane_losses[..V::LANES].iter().enumerate() {
            losses[k * per + i] = loss;
        }
    }
    if per * V::LANES < n {
        let last = n - V::LANES;
        let block = strided_block_loss::<T, V, SQUARE, WEIGHTED>(
            params,
            c,
            &rows[last * c..],
            (0, c),
            &targets[last..],
        );
        block.store(&mut losses[last..]);
    }
}

/// The losses of every block of `input` into `sink`; `SKIP_TARGET_MASK` as in [`block_loss`].
#[inline(always)]
fn forward_blocks<
    T: Real,
    V: Vector<T>,
    const SQUARE: bool,
    const WEIGHTED: bool,
    const SKIP_TARGET_MASK: bool,
>(
    params: &Params<T>,
    c: usize,
    input: &[T],
    target: &[i64],
    mut sink: LossSink<'_, T>,
) {
    let checks_targets = checks_own_targets::<T, V>(&sink);
    for (start, first) in blocks(target.len(), V::LANES) {
        // Before anything reads the block's targets from its registers or indexes by them.
        if checks_targets && V::targets_out_of_range(&target[start..], c) {
            return sink.reject_targets();
        }
        let losses = block_loss::<T, V, SQUARE, WEIGHTED, SKIP_TARGET_MASK>(
            params,
            c,
            &input[start * c..],
            &target[start..],
        );
        sink.add(losses, start, first);
    }
    sink.finish(params, c, input, target);
}

/// Whether a forward task into `sink` checks its targets block by block (see
/// [`Partials::bad_target`]): constant `false` for backends that check no targets, whose loops
/// are then as they were.
#[inline(always)]
fn checks_own_targets<T: Real, V: Vector<T>>(sink: &LossSink<'_, T>) -> bool {
    V::CHECKS_OWN_TARGETS && matches!(sink, LossSink::Interleaved(..))
}

/// Rows of this many classes and up to [`PAIRED_MAX_CLASSES`] run in pairs on the AVX2 and
/// AVX-512 paths ([`run_forward_pair`], [`run_gradient_pair`]). Measured on Zen 4 (in-process
/// A/B against one task after the other): forward `f32` 4194304x10 1.22x faster on 1 thread and
/// 1.07x on 2, 2097152x20 1.24x and 1.16x, 2621440x16 1.22x, `f64` 2097152x10 1.17x (AVX2
/// 1.22x), 1048576x20 1.3x; backward (`f32`: see [`pair_entry_f64`]) 1.09-1.23x on 1 thread
/// (4194304x10, 2097152x20, 1048576x16) and 1.07x on 2, fused 1.04-1.14x and 1.06x.
/// Rows of 3 or 5 classes (AVX2's blocks of 96 or 160 bytes) gained nothing or lost
/// (0.96-1.0x, forward, measured with a block's halves interleaved as the pairs are), and so
/// did the portable path, which computes more slowly than memory reads (1.02-1.1x slower).
pub(crate) const PAIRED_MIN_CLASSES: usize = 9;
/// From [`PREFETCH_MIN_CLASSES`] on, the kernels prefetch the next block themselves: interleaved
/// halves (two blocks at a time) measured 1.04x slower at 524288x100, 1.07-1.18x at 32768x1000
/// and 65536x300.
pub(crate) const PAIRED_MAX_CLASSES: usize = PREFETCH_MIN_CLASSES - 1;
/// A paired run takes about this many bytes of rows from one task, then from the other (whole
/// blocks, at least one). Measured on Zen 4 (1 thread, in-process A/B, the two halves of
/// 128K-score blocks interleaved, against each block alone), forward: 1280 bytes gained 1.14x
/// at 4194304x10 but lost 1.02-1.04x at c = 3 and 5; 2560 gained most (1.14-1.18x at c = 10,
/// 16, 20); 5120 gained 1.02-1.05x at c = 10 and 20 and lost 1.03x at c = 16; alternating single
/// blocks (640 bytes at c = 10) lost 1.08x.
const PAIR_GROUP_BYTES: usize = 2560;
/// The same for tasks that store a gradient, whose two streams each read and write: measured
/// on Zen 4 (1 thread, in-process A/B against 2560 bytes) at 4194304x10 and 2097152x20,
/// backward and fused 1.02-1.04x faster at 1280 bytes, 1.01-1.02x at 640, 1.05-1.11x slower at
/// 5120 and 1.12-1.18x at 10240.
const PAIR_GROUP_BYTES_WITH_GRADIENT: usize = 1280;

/// What a paired run computes: both tasks of a pair are of one kind.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairKind {
    Forward,
    Backward,
    Fused,
}

/// The kind of `task` where a paired entry can take it: at least one block of the widest
/// vector's rows, [`PAIRED_MIN_CLASSES`] to [`PAIRED_MAX_CLASSES`] classes, and a loss, a
/// gradient, or both.
#[inline(always)]
fn pair_kind<T: Real>(c: usize, task: &Task<'_, T>) -> Option<PairKind> {
    if task.target.len() < MAX_LANES || !(PAIRED_MIN_CLASSES..=PAIRED_MAX_CLASSES).contains(&c) {
        return None;
    }
    match (&task.loss, &task.grad) {
        (LossOut::Skip, None) => None,
        (_, None) => Some(PairKind::Forward),
        (LossOut::Skip, Some(_)) => Some(PairKind::Backward),
        (_, Some(_)) => Some(PairKind::Fused),
    }
}

/// Whether [`pair_kind`] is [`PairKind::Forward`], in the terms the forward pairs' entries were
/// measured with: written through `pair_kind`, the same assertion made them compile to other
/// instructions and run 1.07x slower at 1048576x12.
#[inline(always)]
fn is_forward_pair_task<T: Real>(c: usize, task: &Task<'_, T>) -> bool {
    task.grad.is_none()
        && !matches!(task.loss, LossOut::Skip)
        && task.target.len() >= MAX_LANES
        && (PAIRED_MIN_CLASSES..=PAIRED_MAX_CLASSES).contains(&c)
}

/// The kind of two tasks that a paired entry can take together: both of that kind.
#[inline(always)]
pub(crate) fn pair_kind_of<T: Real>(
    c: usize,
    first: &Task<'_, T>,
    second: &Task<'_, T>,
) -> Option<PairKind> {
    pair_kind(c, first).filter(|&kind| pair_kind(c, second) == Some(kind))
}

/// The block of rows `start..start + LANES` of a forward task into `sink` (`first` as in
/// [`LossSink::add`]); `false`, with nothing added, when `checks_targets` and one of its
/// targets is out of range. [`forward_pair`]'s step; [`forward_blocks`] keeps the same lines
/// inline, because through this function its entries compiled to other instructions (AVX-512's
/// short-row entry two more), which the single-task calls need not risk.
#[inline(always)]
fn forward_block<T: Real, V: Vector<T>, const SQUARE: bool, const WEIGHTED: bool>(
    params: &Params<T>,
    c: usize,
    input: &[T],
    target: &[i64],
    sink: &mut LossSink<'_, T>,
    checks_targets: bool,
    (start, first): (usize, usize),
) -> bool {
    // Before anything reads the block's targets from its registers or indexes by them.
    if checks_targets && V::targets_out_of_range(&target[start..], c) {
        return false;
    }
    let losses = block_loss::<T, V, SQUARE, WEIGHTED, false>(
        params,
        c,
        &input[start * c..],
        &target[start..],
    );
    sink.add(losses, start, first);
    true
}

/// Runs `$step_a` on each block of `$blocks_a` and `$step_b` on each of `$blocks_b`, `$group`
/// blocks of one, then of the other, until both are done (the rest of the longer one alone).
/// A macro, not a function taking closures, so that both steps are always inlined (a closure
/// left out of line costs a call per block).
macro_rules! alternate_blocks {
    ($group:expr, $blocks_a:expr, |$a:ident| $step_a:block, $blocks_b:expr, |$b:ident| $step_b:block) => {{
        let (mut blocks_a, mut blocks_b) = ($blocks_a, $blocks_b);
        let (mut more_a, mut more_b) = (true, true);
        while more_a || more_b {
            for _ in 0..$group {
                let Some($a) = blocks_a.next() else {
                    more_a = false;
                    break;
                };
                $step_a
            }
            for _ in 0..$group {
                let Some($b) = blocks_b.next() else {
                    more_b = false;
                    break;
                };
                $step_b
            }
        }
    }};
}

/// Runs two forward tasks ([`pair_kind_of`]) with vectors `V`, each exactly as [`run`] would,
/// alternating between them every [`PAIR_GROUP_BYTES`] of rows: the core then reads two
/// streams from memory, which the hardware prefetchers follow further ahead than one (a read
/// loop over two halves of a buffer ran 1.1x faster than over the whole on Zen 4; the kernels'
/// row loads 1.15-1.25x). Each task keeps its own sink, so its results, sums included, carry
/// the same bits as when it runs alone.
#[inline(always)]
pub(crate) fn run_forward_pair<T: Real, V: Vector<T>>(
    params: &Params<T>,
    c: usize,
    first: Task<'_, T>,
    second: Task<'_, T>,
) {
    assert!(is_forward_pair_task(c, &first) && is_forward_pair_task(c, &second));
    match (params.power, params.weight.is_some()) {
        (Power::One, false) if c == CONSTANT_CLASSES => {
            forward_pair::<T, V, false, false>(params, CONSTANT_CLASSES, first, second)
        }
        (Power::One, false) => forward_pair::<T, V, false, false>(params, c, first, second),
        (Power::One, true) => forward_pair::<T, V, false, true>(params, c, first, second),
        (Power::Two, false) => forward_pair::<T, V, true, false>(params, c, first, second),
        (Power::Two, true) => forward_pair::<T, V, true, true>(params, c, first, second),
    }
}

/// The body of [`run_forward_pair`] for one (power, weighted).
#[inline(always)]
fn forward_pair<T: Real, V: Vector<T>, const SQUARE: bool, const WEIGHTED: bool>(
    params: &Params<T>,
    c: usize,
    first: Task<'_, T>,
    second: Task<'_, T>,
) {
    let (input_a, target_a, sink_a) = forward_parts(c, first);
    let (input_b, target_b, sink_b) = forward_parts(c, second);
    let (Some(mut sink_a), Some(mut sink_b)) = (sink_a, sink_b) else {
        unreachable!("paired tasks compute a loss")
    };
    let (checks_a, checks_b) = (
        checks_own_targets::<T, V>(&sink_a),
        checks_own_targets::<T, V>(&sink_b),
    );
    let group = (PAIR_GROUP_BYTES / (V::LANES * c * size_of::<T>())).max(1);
    // A failed check ends the call: the other task's sink no longer matters.
    alternate_blocks!(
        group,
        blocks(target_a.len(), V::LANES),
        |block| {
            let step = forward_block::<T, V, SQUARE, WEIGHTED>;
            if !step(params, c, input_a, target_a, &mut sink_a, checks_a, block) {
                return sink_a.reject_targets();
            }
        },
        blocks(target_b.len(), V::LANES),
        |block| {
            let step = forward_block::<T, V, SQUARE, WEIGHTED>;
            if !step(params, c, input_b, target_b, &mut sink_b, checks_b, block) {
                return sink_b.reject_targets();
            }
        }
    );
    sink_a.finish(params, c, input_a, target_a);
    sink_b.finish(params, c, input_b, target_b);
}

/// A forward task's input, targets and sink, its lengths checked.
#[inline(always)]
fn forward_parts<'a, T: Real>(
    c: usize,
    task: Task<'a, T>,
) -> (&'a [T], &'a [i64], Option<LossSink<'a, T>>) {
    let Task {
        input,
        target,
        loss,
        grad: _,
    } = task;
    assert_eq!(
        input.len(),
        target.len() * c,
        "task input/target lengths disagree"
    );
    (input, target, LossSink::new(loss, target.len()))
}

/// Runs two backward or two fused tasks ([`pair_kind_of`]) with vectors `V` as
/// [`run_forward_pair`] runs forward ones, every [`PAIR_GROUP_BYTES_WITH_GRADIENT`] of rows. An
/// entry of its own: the gradient loops compiled into the forward pairs' entry made those
/// 1.07-1.23x slower at 1048576 rows of 12 to 20 classes.
#[inline(always)]
pub(crate) fn run_gradient_pair<T: Real, V: Vector<T>>(
    params: &Params<T>,
    c: usize,
    first: Task<'_, T>,
    second: Task<'_, T>,
) {
    let kind = pair_kind_of(c, &first, &second);
    assert!(matches!(kind, Some(PairKind::Backward | PairKind::Fused)));
    let fused = kind == Some(PairKind::Fused);
    let streams = [
        GradientStream::new(c, first),
        GradientStream::new(c, second),
    ];
    match (params.power, params.weight.is_some(), fused) {
        (Power::One, false, false) if c == CONSTANT_CLASSES => {
            gradient_pair::<T, V, false, false, false>(params, CONSTANT_CLASSES, streams)
        }
        (Power::One, false, true) if c == CONSTANT_CLASSES => {
            gradient_pair::<T, V, false, false, true>(params, CONSTANT_CLASSES, streams)
        }
        (Power::One, false, false) => {
            gradient_pair::<T, V, false, false, false>(params, c, streams)
        }
        (Power::One, false, true) => gradient_pair::<T, V, false, false, true>(params, c, streams),
        (Power::One, true, false) => gradient_pair::<T, V, false, true, false>(params, c, streams),
        (Power::One, true, true) => gradient_pair::<T, V, false, true, true>(params, c, streams),
        (Power::Two, false, false) => gradient_pair::<T, V, true, false, false>(params, c, streams),
        (Power::Two, false, true) => gradient_pair::<T, V, true, false, true>(params, c, streams),
        (Power::Two, true, false) => gradient_pair::<T, V, true, true, false>(params, c, streams),
        (Power::Two, true, true) => gradient_pair::<T, V, true, true, true>(params, c, streams),
    }
}

/// A backward or fused task of a pair, taken apart (its loss goes to a [`LossSink`]), its
/// lengths checked.
struct GradientStream<'a, T> {
    input: &'a [T],
    target: &'a [i64],
    g: T,
    upstream: Upstream<'a, T>,
    grad: &'a mut [T],
}

impl<'a, T: Real> GradientStream<'a, T> {
    #[inline(always)]
    fn new(c: usize, task: Task<'a, T>) -> (Self, LossOut<'a, T>) {
        let Task {
            input,
            target,
            loss,
            grad,
        } = task;
        let Some(GradOut { g, upstream, grad }) = grad else {
            unreachable!("a task with a gradient")
        };
        let n = target.len();
        assert_eq!(input.len(), n * c, "task input/target lengths disagree");
        assert_eq!(grad.len(), input.len());
        if let Upstream::PerRow(u) = upstream {
            assert_eq!(u.len(), n);
        }
        let stream = GradientStream {
            input,
            target,
            g,
            upstream,
            grad,
        };
        (stream, loss)
    }
}

/// The body of [`run_gradient_pair`] for one (power, weighted, fused).
#[inline(always)]
fn gradient_pair<
    T: Real,
    V: Vector<T>,
    const SQUARE: bool,
    const WEIGHTED: bool,
    const LOSS: bool,
>(
    params: &Params<T>,
    c: usize,
    streams: [(GradientStream<'_, T>, LossOut<'_, T>); 2],
) {
    let group = (PAIR_GROUP_BYTES_WITH_GRADIENT / (V::LANES * c * size_of::<T>())).max(1);
    let [(mut a, loss_a), (mut b, loss_b)] = streams;
    let n = [a.target.len(), b.target.len()];
    // Plain sinks in the loop rather than options: a backward task gets one it never adds to.
    let (mut unused_a, mut unused_b) = (0.0, 0.0);
    let mut sink_a = LossSink::new(loss_a, n[0]).unwrap_or(LossSink::Sum(0.0, &mut unused_a));
    let mut sink_b = LossSink::new(loss_b, n[1]).unwrap_or(LossSink::Sum(0.0, &mut unused_b));
    let step = gradient_step::<T, V, SQUARE, WEIGHTED, LOSS>;
    alternate_blocks!(
        group,
        blocks(n[0], V::LANES),
        |block| {
            step(params, c, &mut a, &mut sink_a, block);
        },
        blocks(n[1], V::LANES),
        |block| {
            step(params, c, &mut b, &mut sink_b, block);
        }
    );
    sink_a.finish(params, c, a.input, a.target);
    sink_b.finish(params, c, b.input, b.target);
}

/// The block of rows `start..start + LANES` of a backward or fused task of a pair (`first` as
/// in [`LossSink::add`]), as [`run_shape`] runs it.
#[inline(always)]
fn gradient_step<
    T: Real,
    V: Vector<T>,
    const SQUARE: bool,
    const WEIGHTED: bool,
    const LOSS: bool,
>(
    params: &Params<T>,
    c: usize,
    stream: &mut GradientStream<'_, T>,
    sink: &mut LossSink<'_, T>,
    (start, first): (usize, usize),
) {
    let losses = block_grad::<T, V, SQUARE, WEIGHTED, LOSS>(
        params,
        c,
        &stream.input[start * c..],
        &stream.target[start..],
        stream.g,
        upstream_at::<T, V>(stream.upstream, start),
        &mut stream.grad[start * c..(start + V::LANES) * c],
    );
    if LOSS {
        sink.add(losses, start, first);
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

/// Runs `$body` with `$jj` bound to each column index of a tile below `min($tile, $width)`,
/// unrolled with constant indices: a tile's vectors then stay in registers instead of an array
/// in memory (a loop with a runtime bound forces them there). `$tile` is a backend constant, so
/// the columns beyond it cost nothing; the `$width` tests are predictable branches.
macro_rules! each_column {
    ($tile:expr, $width:expr, |$jj:ident| $body:block) => {
        each_column!(@ $tile, $width, $jj, $body, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    };
    (@ $tile:expr, $width:expr, $jj:ident, $body:block, $($n:literal)*) => {
        $({
            let $jj: usize = $n;
            if $jj < $tile && $jj < $width $body
        })*
    };
}

/// From this many classes on, the kernels prefetch: a block reads its `LANES` rows a tile at a
/// time, column-major across rows, an order the hardware prefetchers do not recognise as a
/// stream once the rows are this long (measured: 65536×100 ran at a third of the read loop's
/// speed without it). Shorter rows are read nearly sequentially and need no help.
const PREFETCH_MIN_CLASSES: usize = 32;

/// Up to this many classes, a block's rows are small enough (16 KiB of `f32` rows at most) to
/// prefetch the whole next block into L1 while this one runs, each tile asking for its share of
/// its lines. Longer rows are prefetched `PREFETCH_ROW_AHEAD` values ahead in each row into L1,
/// and the next block the same way as shorter ones but into L2, up to
/// [`PREFETCH_L2_MAX_BYTES`].
const PREFETCH_NEXT_BLOCK_MAX_CLASSES: usize = 256;
/// Two cache lines of `f32` ahead: measured on Zen 4 at 32768×1000 (1 thread), forward was 14%
/// faster than at 64 values, and 16, 48, 128, 256 or no prefetch were all slower than 32.
const PREFETCH_ROW_AHEAD: usize = 32;
/// The largest next block (`LANES` long rows) prefetched into L2, so the lines are still there
/// when the block runs: the block is one contiguous run, which DRAM serves far better than the
/// `LANES` row streams the tiles read (rows of a page or less are too short for the hardware
/// prefetchers). Measured on Zen 4 (1 MiB L2, in-process A/B), forward on 1 / 2 threads:
/// 2.2–2.4× / 1.4–1.55× faster at 65536×300 (19 KiB blocks), 1.5× / 1.2× at 65536×500,
/// 1.3× / 1.1× at 50000×600, 1.1–1.15× / 1.02–1.08× at 40000×800 (50 KiB). Since forward's
/// long-row entry (less work per tile) it also pays at 32768×1000 (62.5 KiB): 1.27× / 1.02–1.04×
/// (`f64`, 8-row blocks of the same size: 1.15×), and at 27306×1200 (75 KiB): 1.15× / 0.96×
/// (`f64` 1.25×). Beyond it loses: 21845×1500 (94 KiB) 1.08× / 0.95× (`f64` 0.98×), 19275×1700
/// 0.97×, 16384×2000 (125 KiB) 0.96×, 8192×4000 0.81× (1 thread). Two blocks ahead gained less
/// than one (at 50 KiB).
const PREFETCH_L2_MAX_BYTES: usize = 80 << 10;
/// The same for blocks that also store a gradient, whose lines compete for L2 too: backward
/// 13–16% and fused 17–21% faster at 100000×300 (8-row blocks of 9.4 KiB); since the gradient
/// prefetch, backward 1.28× and fused 1.31× at 50000×600 (19 KiB), 1.15× and 1.14× at
/// 32768×1000 (31 KiB; 2 threads 1.05× and 1.03×). At 64 KiB (21845×1500, 16384×2000,
/// `f64` 16384×1000) it was within ±4%.
const PREFETCH_L2_MAX_BYTES_WITH_GRADIENT: usize = 32 << 10;
const CACHE_LINE: usize = 64;

/// Prefetch hints for the tile of columns `first..` of the block of `LANES` rows at `rows`;
/// `WRITES` for a block that also stores its gradient.
#[inline(always)]
fn prefetch_for_tile<T: Real, V: Vector<T>, const WRITES: bool>(
    rows: &[T],
    c: usize,
    first: usize,
) {
    if c < PREFETCH_MIN_CLASSES {
        return;
    }
    if c <= PREFETCH_NEXT_BLOCK_MAX_CLASSES {
        prefetch_next_block_share::<TO_L1, T, V>(rows, c, first);
    } else {
        for k in 0..V::LANES {
            prefetch::<TO_L1, _>(
                rows.as_ptr()
                    .wrapping_add(k * c + first + PREFETCH_ROW_AHEAD),
            );
        }
        let l2_max_bytes = if WRITES {
            if stores_long_gradients::<T, V>() {
                PREFETCH_L2_MAX_BYTES_WITH_GRADIENT
            } else {
                0
            }
        } else {
            PREFETCH_L2_MAX_BYTES
        };
        if V::LANES * c * size_of::<T>() <= l2_max_bytes {
            prefetch_next_block_share::<TO_L2, T, V>(rows, c, first);
        }
    }
}

/// Prefetch hints (into the level `HINT` names) for the share of tile `first / TILE` of the
/// block after `block`: that next block is one contiguous run of `LANES·c` values right after
/// this one, and tile `t` takes its lines `t·L..(t+1)·L`, `L` being the lines of one tile, so
/// the block's `ceil(c / TILE)` tiles cover it. Used for both the scores and the gradient.
#[inline(always)]
fn prefetch_next_block_share<const HINT: i32, T: Real, V: Vector<T>>(
    block: &[T],
    c: usize,
    first: usize,
) {
    let tile_lines = (V::TILE * V::LANES * size_of::<T>()).div_ceil(CACHE_LINE);
    let next = block.as_ptr().wrapping_add(V::LANES * c).cast::<u8>();
    let first_line = first / V::TILE * tile_lines;
    for line in first_line..first_line + tile_lines {
        prefetch::<HINT, _>(next.wrapping_add(line * CACHE_LINE));
    }
}

/// From this many classes on, a block that stores a gradient also prefetches the next block's
/// gradient lines (into L2, a contiguous run like the next block's scores), so that its stores
/// find them there instead of each waiting for its line to be read. Shorter rows store nearly
/// sequentially, which the hardware already follows. Measured on Zen 4 (in-process A/B; 1 / 2
/// threads): backward 1.4× / 1.3× and fused 1.2× / 1.25× faster at 65536×100, backward 1.6× /
/// 1.2× and fused 1.6× / 1.2× at 65536×300, both 4–6% at 32768×1000; ±4% at 65536×64.
const PREFETCH_GRADIENT_MIN_CLASSES: usize = 64;
/// The largest next gradient block prefetched that way (8 rows of 1024 `f32`): at 8192×4000
/// (125 KiB) fused measured 9% slower with it.
const PREFETCH_GRADIENT_MAX_BYTES: usize = 32 << 10;
/// Kernels whose tiles hold more values than this (AVX-512's 16×16 `f32` tiles) store
/// gradients only of rows of 9 to 16 classes (the AVX-512 backend hands all others to AVX2).
const PREFETCH_GRADIENT_MAX_TILE_VALUES: usize = 128;

/// Whether the kernels with vectors `V` store gradients of rows long enough to prefetch for
/// (see [`PREFETCH_GRADIENT_MAX_TILE_VALUES`]). Where they do not, the gradient prefetches are
/// compiled out rather than left as branches that never run: such dead code still changed how
/// the whole entry point compiled. The gradient's own prefetch in the tile loop, whose 32 tile
/// vectors fill the register file, made fused 10–25% slower at 131072×40; the L2 prefetch of
/// the next block's scores for gradient blocks made AVX-512's `f32` forward at c = 17 to 33
/// 1.35–1.65× slower.
#[inline(always)]
const fn stores_long_gradients<T: Real, V: Vector<T>>() -> bool {
    V::LANES * V::TILE <= PREFETCH_GRADIENT_MAX_TILE_VALUES
}

/// Prefetch hints for the gradient of the block after the one at `grads` (its `LANES·c`
/// values), for the tile of columns `first..` of the current block: the same share of lines as
/// [`prefetch_for_tile`] takes of the next block's scores.
#[inline(always)]
fn prefetch_next_gradient<T: Real, V: Vector<T>>(grads: &[T], c: usize, first: usize) {
    if !stores_long_gradients::<T, V>()
        || c < PREFETCH_GRADIENT_MIN_CLASSES
        || V::LANES * c * size_of::<T>() > PREFETCH_GRADIENT_MAX_BYTES
    {
        return;
    }
    prefetch_next_block_share::<TO_L2, T, V>(grads, c, first);
}

/// Prefetch hints, the values of x86's `_MM_HINT_T0` (into L1) and `_MM_HINT_T1` (into L2).
const TO_L1: i32 = 3;
const TO_L2: i32 = 2;
#[cfg(target_arch = "x86_64")]
const _: () =
    assert!(TO_L1 == std::arch::x86_64::_MM_HINT_T0 && TO_L2 == std::arch::x86_64::_MM_HINT_T1);

/// A hint to bring the line holding `address` into the cache level `HINT` names. Any address
/// will do: the pointer is never dereferenced (it may point past the data; it is formed with
/// `wrapping_add`).
#[inline(always)]
fn prefetch<const HINT: i32, T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86-64 baseline; a prefetch never faults and has no effect on
    // memory or on the program's results, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<HINT>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// Per-lane values of a block that do not depend on `j`.
struct RowConstants<V> {
    /// `margin - x[y]`, as the reference computes it.
    base: V,
    /// `w[y]`, or zero when unweighted (never read then).
    weight: V,
}

/// Row constants of a block whose `c <= TILE` columns are already in registers (`cols`): `x[y]`
/// and `w[y]` are picked with one select per column instead of sixteen scalar loads, which at
/// small `c` would cost as much as the rest of the block.
#[inline(always)]
fn row_constants_from_columns<T: Real, V: Vector<T>, const WEIGHTED: bool>(
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
        if WEIGHTED {
            let w = params.weight.expect("weighted kernel without weights");
            weight = V::select(other, weight, V::splat(w[j]));
        }
    });
    RowConstants {
        base: V::splat(params.margin).sub(picked),
        weight,
    }
}

/// Row constants of a block of long rows, read with one scalar load per row (and per weight);
/// lane `k`'s row starts at `rows[k·stride]`.
#[inline(always)]
fn row_constants_from_rows<T: Real, V: Vector<T>, const WEIGHTED: bool>(
    params: &Params<T>,
    c: usize,
    rows: &[T],
    stride: usize,
    targets: &[i64],
) -> RowConstants<V> {
    let mut picked = [T::ZERO; MAX_LANES];
    let mut weight = [T::ZERO; MAX_LANES];
    for k in 0..V::LANES {
        let y = target_index(targets[k], c);
        picked[k] = rows[k * stride + y];
        if WEIGHTED {
            weight[k] = params.weight.expect("weighted kernel without weights")[y];
        }
    }
    RowConstants {
        base: V::splat(params.margin).sub(V::load(&picked)),
        weight: V::load(&weight),
    }
}

/// Column `j` (of a tile) in every lane; `j` is a constant of the unrolled loops, so this is a
/// constant vector. Compared with the targets (relative to the tile's first column), it masks
/// out the `j == y` term without a running column counter.
#[inline(always)]
fn column_index<T: Real, V: Vector<T>>(j: usize) -> V {
    V::splat(T::from_usize(j))
}

/// The targets relative to a tile's first column: exact, as both are integers below 2^24.
#[inline(always)]
fn relative_classes<T: Real, V: Vector<T>>(class: V, first: usize) -> V {
    class.sub(V::splat(T::from_usize(first)))
}

/// A target as an index into its row.
#[inline(always)]
fn target_index(y: i64, c: usize) -> usize {
    // Targets were checked before any kernel runs; this keeps a bad one from reading or
    // writing another row's entry, as the reference's `row[y]` would refuse.
    assert!((0..c as i64).contains(&y), "unchecked target");
    y as usize
}

/// The most columns per tile of any backend: a tile of `LANES` rows by up to this many columns
/// becomes one vector per column. Rows are read in contiguous runs (a whole cache line per row
/// for 16 `f32` columns), never with gathers, which are slow on many cores and thrash the cache
/// when rows are a page apart.
pub(crate) const MAX_TILE: usize = 16;

/// The start of every block: the targets as a class vector and the row constants. Rows of at
/// most one tile (`c <= TILE`) are transposed here, once, into `cols`, which then stay in
/// registers for every pass over them.
#[inline(always)]
fn start_block<T: Real, V: Vector<T>, const WEIGHTED: bool>(
    params: &Params<T>,
    c: usize,
    rows: &[T],
    targets: &[i64],
    cols: &mut [V; MAX_TILE],
) -> (V, RowConstants<V>) {
    let class = V::classes(targets);
    let k = if c <= V::TILE {
        prefetch_for_tile::<T, V, false>(rows, c, 0);
        V::load_columns(rows, c, 0, c, cols);
        row_constants_from_columns::<T, V, WEIGHTED>(params, class, c, cols)
    } else {
        row_constants_from_rows::<T, V, WEIGHTED>(params, c, rows, c, targets)
    };
    (class, k)
}

/// For a block of more than one tile (`c > TILE`, with `T` and `V` the caller's types): loads
/// each tile of columns of `$rows` into `$cols` and runs `$body` with `$first` (its first
/// column), `$width` and `$tile_class` (the targets relative to `$first`) bound; `$writes`
/// says whether the body stores a gradient (see [`prefetch_for_tile`]). Whole tiles
/// come first, at the constant width `TILE` (so their column loops unroll completely), then the
/// rest.
macro_rules! each_tile {
    ($rows:expr, $c:expr, $class:expr, $cols:ident, $writes:expr,
     |$first:ident, $width:ident, $tile_class:ident| $body:block) => {
        tiles!($c, |$first, $width| {
            prefetch_for_tile::<T, V, $writes>($rows, $c, $first);
            V::load_columns($rows, $c, $first, $width, &mut $cols);
            let $tile_class = relative_classes($class, $first);
            $body
        })
    };
}

/// Runs `$body` for each tile of `$c` columns with `$first` (its first column) and `$width`
/// bound: whole tiles first, at the constant width `TILE` (so that column loops over them
/// unroll completely), then the rest.
macro_rules! tiles {
    ($c:expr, |$first:ident, $width:ident| $body:block) => {{
        let full = $c / V::TILE * V::TILE;
        for $first in (0..full).step_by(V::TILE) {
            let $width = V::TILE;
            $body
        }
        if full < $c {
            let ($first, $width) = (full, $c - full);
            $body
        }
    }};
}

/// `$sum` plus the hinge term of column `$x` (a vector of one column of the block whose row
/// constants are `$k`) where `z = base + x > 0`, and, with `unless $j == $class`, where the
/// lane's class (relative to the tile) is not column `$j`: the reference's operations, lane by
/// lane. A macro rather than a closure so that every site is always inlined; `SQUARE` and
/// `WEIGHTED` are the caller's.
macro_rules! add_hinge_term {
    ($sum:ident, $k:expr, $zero:expr, $x:expr, unless $j:ident == $class:expr) => {{
        let z = $k.base.add($x);
        let active = z.gt_where_ne($zero, $class, column_index($j));
        $sum = $sum.add_where(active, add_hinge_term!(@term $k, z));
    }};
    ($sum:ident, $k:expr, $zero:expr, $x:expr) => {{
        let z = $k.base.add($x);
        let term = add_hinge_term!(@term $k, z);
        $sum = $sum.add_where(z.gt($zero), term);
    }};
    (@term $k:expr, $z:ident) => {{
        let mut term = if SQUARE { $z.mul($z) } else { $z };
        if WEIGHTED {
            term = term.mul($k.weight);
        }
        term
    }};
}

/// `$sum` plus the hinge terms of the tile of long rows in `$cols` (columns `$first..` of
/// width `$width`, the targets relative to `$first` in `$tile_class`): with the `j == y` mask
/// only where `$tiles_with_targets` ([`tiles_with_targets`]) says the tile may hold a target.
macro_rules! add_long_row_tile {
    ($sum:ident, $k:expr, $zero:expr, $cols:expr, $tiles_with_targets:expr, $first:expr,
     $width:expr, $tile_class:expr) => {
        if $tiles_with_targets.wrapping_shr(($first / V::TILE) as u32) & 1 != 0 {
            each_column!(V::TILE, $width, |j| {
                add_hinge_term!($sum, $k, $zero, $cols[j], unless j == $tile_class);
            });
        } else {
            each_column!(V::TILE, $width, |j| {
                add_hinge_term!($sum, $k, $zero, $cols[j]);
            });
        }
    };
}

/// The losses of one block of `LANES` rows, the first rows of `rows` (the input from the block
/// on). With `SKIP_TARGET_MASK`, tiles that hold no lane's target skip the `j == y` mask (see
/// [`run_forward_long_rows`]).
#[inline(always)]
fn block_loss<
    T: Real,
    V: Vector<T>,
    const SQUARE: bool,
    const WEIGHTED: bool,
    const SKIP_TARGET_MASK: bool,
>(
    params: &Params<T>,
    c: usize,
    rows: &[T],
    targets: &[i64],
) -> V {
    let zero = V::splat(T::ZERO);
    let mut cols = [zero; MAX_TILE];
    let (class, k) = start_block::<T, V, WEIGHTED>(params, c, rows, targets, &mut cols);
    let mut sum = zero;
    if c <= V::TILE {
        each_column!(V::TILE, c, |j| {
            add_hinge_term!(sum, k, zero, cols[j], unless j == class);
        });
    } else if SKIP_TARGET_MASK {
        let tiles_with_targets = tiles_with_targets::<T, V>(c, targets);
        each_tile!(rows, c, class, cols, false, |first, width, tile_class| {
            add_long_row_tile!(
                sum,
                k,
                zero,
                cols,
                tiles_with_targets,
                first,
                width,
                tile_class
            );
        });
    } else {
        each_tile!(rows, c, class, cols, false, |_first, width, tile_class| {
            each_column!(V::TILE, width, |j| {
                add_hinge_term!(sum, k, zero, cols[j], unless j == tile_class);
            });
        });
    }
    sum.div(V::splat(T::from_usize(c)))
}

/// Bit `t mod 64` set for every tile `t` of long rows that holds the target of one of the
/// block's lanes (`targets[..LANES]`). Past 64 tiles several tiles share a bit; a tile whose bit
/// is set keeps the `j == y` mask, which is exact whether or not it holds a target.
#[inline(always)]
fn tiles_with_targets<T: Real, V: Vector<T>>(c: usize, targets: &[i64]) -> u64 {
    // (The wrapping shifts are x86's own, one instruction each.)
    targets[..V::LANES].iter().fold(0u64, |bits, &y| {
        bits | 1u64.wrapping_shl((target_index(y, c) / V::TILE) as u32)
    })
}

/// The losses of one block of long rows (more than one tile) for [`strided_losses`]: lane `k`
/// is the row at `rows[offset + k·stride..]` (`(offset, stride)`), its target `targets[k]`; each
/// lane prefetches its stream [`STREAM_AHEAD_VALUES`] ahead. Otherwise [`block_loss`]'s steps
/// for long rows (`SKIP_TARGET_MASK`), which keeps them for blocks of adjacent rows: through
/// this function the unstreamed entries compiled to other instructions, 1.05-1.08x slower from
/// memory at 65536x280 to 65536x310 (AVX-512, `f32`).
#[inline(always)]
fn strided_block_loss<T: Real, V: Vector<T>, const SQUARE: bool, const WEIGHTED: bool>(
    params: &Params<T>,
    c: usize,
    rows: &[T],
    (offset, stride): (usize, usize),
    targets: &[i64],
) -> V {
    let zero = V::splat(T::ZERO);
    let mut cols = [zero; MAX_TILE];
    let class = V::classes(targets);
    let k = row_constants_from_rows::<T, V, WEIGHTED>(params, c, &rows[offset..], stride, targets);
    let mut sum = zero;
    let tiles_with_targets = tiles_with_targets::<T, V>(c, targets);
    tiles!(c, |first, width| {
        for lane in 0..V::LANES {
            let at = offset + lane * stride + first + STREAM_AHEAD_VALUES;
            prefetch::<TO_L2, _>(rows.as_ptr().wrapping_add(at));
        }
        // `rows` from its start, lanes `stride` apart, columns from `offset + first`: within
        // the backends' bounds for every block of [`strided_losses`] (`offset + c <= stride`
        // and `LANES·stride <= rows.len()`).
        V::load_columns(rows, stride, offset + first, width, &mut cols);
        let tile_class = relative_classes(class, first);
        add_long_row_tile!(
            sum,
            k,
            zero,
            cols,
            tiles_with_targets,
            first,
            width,
            tile_class
        );
    });
    sum.div(V::splat(T::from_usize(c)))
}

/// The gradient of one block of `LANES` rows (the first rows of `rows`, the input from the block
/// on) into `grads` (`LANES·c` values), and, when `LOSS`, the block's losses (else zeros).
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
    if WEIGHTED && upstream.any_nan() {
        // A NaN weight's gradient times a NaN upstream gradient: which NaN a vector product
        // keeps is the compiler's choice, so such blocks take the reference's written-out rule
        // (`reference::times_upstream`). Only weights make a gradient term NaN.
        return block_grad_by_rows::<T, V, LOSS>(params, c, rows, targets, g, upstream, grads);
    }
    let zero = V::splat(T::ZERO);
    let mut cols = [zero; MAX_TILE];
    let mut grad_cols = [zero; MAX_TILE];
    let (class, k) = start_block::<T, V, WEIGHTED>(params, c, rows, targets, &mut cols);
    let g2 = V::splat(T::TWO * g);
    let g = V::splat(g);
    // Inactive entries are `0·up`, not 0: that keeps PyTorch's -0 and NaN.
    let inactive = zero.mul(upstream);
    let mut sum = zero;
    let mut target_grad = zero;
    // Column `j` of the tile whose targets, relative to its first column, are `$tile_class`.
    // A macro rather than a closure so that every site is always inlined.
    macro_rules! step {
        ($x:expr, $tile_class:expr, $j:expr) => {{
            let z = k.base.add($x);
            let active = z.gt_where_ne(zero, $tile_class, column_index($j));
            let mut h = if SQUARE { g2.mul(z) } else { g };
            if WEIGHTED {
                h = h.mul(k.weight);
            }
            target_grad = target_grad.sub_where(active, h);
            if LOSS {
                let mut term = if SQUARE { z.mul(z) } else { z };
                if WEIGHTED {
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
        V::store_columns(&grad_cols, c, 0, c, grads);
    } else {
        each_tile!(rows, c, class, cols, true, |first, width, tile_class| {
            each_column!(V::TILE, width, |j| {
                grad_cols[j] = step!(cols[j], tile_class, j);
            });
            prefetch_next_gradient::<T, V>(grads, c, first);
            V::store_columns(&grad_cols, c, first, width, grads);
        });
        let mut target_grads = LineAligned([T::ZERO; MAX_LANES]);
        target_grad.mul(upstream).store(&mut target_grads.0);
        for (lane, (&y, &v)) in targets[..V::LANES].iter().zip(&target_grads.0).enumerate() {
            grads[lane * c + target_index(y, c)] = v;
        }
    }
    if LOSS {
        sum.div(V::splat(T::from_usize(c)))
    } else {
        zero
    }
}

/// [`block_grad`] row by row with the reference's loops, for blocks whose upstream gradient
/// holds a NaN.
#[inline(always)]
fn block_grad_by_rows<T: Real, V: Vector<T>, const LOSS: bool>(
    params: &Params<T>,
    c: usize,
    rows: &[T],
    targets: &[i64],
    g: T,
    upstream: V,
    grads: &mut [T],
) -> V {
    let mut up = LineAligned([T::ZERO; MAX_LANES]);
    upstream.store(&mut up.0);
    let mut losses = LineAligned([T::ZERO; MAX_LANES]);
    grad_rows_by_reference::<T, LOSS>(
        params,
        c,
        &rows[..V::LANES * c],
        &targets[..V::LANES],
        g,
        &up.0,
        grads,
        &mut losses.0,
    );
    V::load(&losses.0)
}

/// The reference's gradient (and, with `LOSS`, loss) of each row of `rows`; out of line, as
/// it runs only on NaN upstream gradients.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn grad_rows_by_reference<T: Real, const LOSS: bool>(
    params: &Params<T>,
    c: usize,
    rows: &[T],
    targets: &[i64],
    g: T,
    upstream: &[T],
    grads: &mut [T],
    losses: &mut [T],
) {
    let rows = rows.chunks_exact(c).zip(grads.chunks_exact_mut(c));
    for (k, (row, grad)) in rows.enumerate() {
        let y = target_index(targets[k], c);
        if LOSS {
            losses[k] = reference::row_loss_grad(params, row, y, g, upstream[k], grad);
        } else {
            reference::row_grad(params, row, y, g, upstream[k], grad);
        }
    }
}

/// A block's losses widened to float64, in a buffer the summing sinks read lane by lane.
#[inline(always)]
fn widened<T: Real, V: Vector<T>>(losses: V) -> LineAligned<[f64; MAX_LANES]> {
    let mut lanes = LineAligned([0.0f64; MAX_LANES]);
    losses.widen(&mut lanes.0);
    lanes
}

/// Where a run's block losses go, and the accumulators of the summing kinds.
enum LossSink<'a, T> {
    PerRow(&'a mut [T]),
    Sum(f64, &'a mut f64),
    Interleaved([f64; INTERLEAVE], &'a mut Partials),
}

impl<'a, T: Real> LossSink<'a, T> {
    /// `None` for [`LossOut::Skip`].
    #[inline(always)]
    fn new(loss: LossOut<'a, T>, n: usize) -> Option<Self> {
        match loss {
            LossOut::Skip => None,
            LossOut::PerRow(out) => {
                assert_eq!(out.len(), n);
                Some(LossSink::PerRow(out))
            }
            LossOut::Sum(acc) => Some(LossSink::Sum(0.0, acc)),
            LossOut::Interleaved(acc) => Some(LossSink::Interleaved([0.0; INTERLEAVE], acc)),
        }
    }

    /// The losses of the block of rows `start..start + LANES`, whose lanes before `first`
    /// repeat rows already added.
    #[inline(always)]
    fn add<V: Vector<T>>(&mut self, losses: V, start: usize, first: usize) {
        match self {
            LossSink::PerRow(out) => losses.store(&mut out[start..start + V::LANES]),
            LossSink::Sum(sum, _) => {
                // One float64 chain in row order, as PyTorch sums.
                let lanes = &widened(losses).0;
                for &l in &lanes[first..V::LANES] {
                    *sum += l;
                }
            }
            LossSink::Interleaved(sums, _) => {
                // Sixteen independent chains: no add waits for the previous row's.
                let lanes = &widened(losses).0;
                let offset = start % INTERLEAVE;
                if first == 0 && offset + V::LANES <= INTERLEAVE {
                    // Every block but an overlapping last one: lanes map to consecutive
                    // partials (`LANES` divides 16), one vector add.
                    let sums = &mut sums[offset..offset + V::LANES];
                    for (s, &l) in sums.iter_mut().zip(&lanes[..V::LANES]) {
                        *s += l;
                    }
                } else {
                    for (k, &l) in lanes.iter().enumerate().take(V::LANES).skip(first) {
                        sums[(start + k) % INTERLEAVE] += l;
                    }
                }
            }
        }
    }

    /// Writes the sums of the task whose rows are `input` (targets `target`). A sum that came out
    /// NaN is summed again by [`reference::summed_losses`], which keeps the first NaN as
    /// PyTorch's serial sum does: which of two NaNs a vector add keeps is the compiler's
    /// choice. (NaN-ness itself does not depend on it.) Rare enough for a second pass.
    #[inline(always)]
    fn finish(self, params: &Params<T>, c: usize, input: &[T], target: &[i64]) {
        match self {
            LossSink::PerRow(_) => {}
            LossSink::Sum(sum, acc) => {
                *acc = sum;
                if sum.is_nan() {
                    reference::summed_losses(params, c, input, target, std::slice::from_mut(acc));
                }
            }
            LossSink::Interleaved(sums, partials) => {
                partials.sums = sums;
                if sums.iter().any(|s| s.is_nan()) {
                    reference::summed_losses(params, c, input, target, &mut partials.sums);
                }
            }
        }
    }

    /// Ends a task that found a target out of range (see [`Partials::bad_target`]).
    #[inline(always)]
    fn reject_targets(self) {
        if let LossSink::Interleaved(_, partials) = self {
            partials.bad_target = true;
        }
    }
}

/// The upstream gradient of the block of rows from `start`.
#[inline(always)]
fn upstream_at<T: Real, V: Vector<T>>(upstream: Upstream<'_, T>, start: usize) -> V {
    match upstream {
        Upstream::Scalar(v) => V::splat(v),
        Upstream::PerRow(u) => V::load(&u[start..start + V::LANES]),
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
    let sink = LossSink::new(loss, n);
    // Each block gets the input from its first row on: loads may read past the block where the
    // input goes on (see `Vector::load_columns`). No closures in these loops: one that the
    // compiler leaves out of line costs a call per block (see `avx512::group_rows`).
    match (sink, grad) {
        (None, None) => {}
        (Some(sink), None) => {
            forward_blocks::<T, V, SQUARE, WEIGHTED, false>(params, c, input, target, sink)
        }
        (sink, Some(GradOut { g, upstream, grad })) => {
            assert_eq!(grad.len(), input.len());
            if let Upstream::PerRow(u) = upstream {
                assert_eq!(u.len(), n);
            }
            match sink {
                None => {
                    for (start, _) in blocks(n, lanes) {
                        block_grad::<T, V, SQUARE, WEIGHTED, false>(
                            params,
                            c,
                            &input[start * c..],
                            &target[start..],
                            g,
                            upstream_at::<T, V>(upstream, start),
                            &mut grad[start * c..(start + lanes) * c],
                        );
                    }
                }
                Some(mut sink) => {
                    for (start, first) in blocks(n, lanes) {
                        let losses = block_grad::<T, V, SQUARE, WEIGHTED, true>(
                            params,
                            c,
                            &input[start * c..],
                            &target[start..],
                            g,
                            upstream_at::<T, V>(upstream, start),
                            &mut grad[start * c..(start + lanes) * c],
                        );
                        sink.add(losses, start, first);
                    }
                    sink.finish(params, c, input, target);
                }
            }
        }
    }
}
