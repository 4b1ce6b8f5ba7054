//! Pure kernels: the arithmetic of the loss over a block of rows whose targets were already
//! checked (except where a summed forward task checks its own: see [`Partials`]). No FFI
//! types, no threads, no allocation; the only `unsafe` allowed here is in SIMD backends.
//!
//! Every kernel reproduces PyTorch 2.x CPU's arithmetic to the bit (see `reference`): per row,
//! terms accumulated in the working precision in increasing class order, `z = (margin - x[y]) +
//! x[j]`, a strict hinge `z > 0` (so a NaN `z` contributes nothing), the weight applied after
//! the power, `sum / c` in the working precision, and no fused multiply-add anywhere.

mod isa;
mod real;
pub mod reference;
mod simd;
pub mod sum;

pub use isa::{ISA_ENV, Isa};
pub use real::Real;

/// A stack buffer that a vector is stored to and then read back from piece by piece, aligned to
/// a cache line. A vector store that spans two lines is not forwarded to the loads that read it
/// back, which then wait for it to reach the cache: with 16-byte stack alignment that happened
/// or not depending on where the stack began, so the same build ran some processes 1.25-1.65x
/// slower (measured on Zen 4, AVX-512, 128x10 and 4096x10 forward and fused; the "placement
/// noise" of earlier benchmarks). Buffers filled piece by piece and read as one vector need no
/// such alignment: that load waits for all the stores whatever their placement. The engine's
/// loss buffers, which a kernel stores whole vectors to and the sum loads back, use it too.
#[repr(align(64))]
pub(crate) struct LineAligned<A>(pub(crate) A);

/// The exponent of the hinge term: PyTorch's `p`, which only admits 1 and 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Power {
    /// `max(0, z)`.
    One,
    /// `max(0, z)^2`.
    Two,
}

/// Loss parameters in the working precision `T`.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a, T> {
    pub power: Power,
    /// `margin` already converted to `T`, as PyTorch does with its `Scalar` argument.
    pub margin: T,
    /// Per-class weights, `c` of them, or `None`.
    pub weight: Option<&'a [T]>,
}

/// The upstream gradient (`grad_output`), applied as the very last multiplication.
#[derive(Clone, Copy, Debug)]
pub enum Upstream<'a, T> {
    /// One value for the whole batch (reductions `mean` and `sum`).
    Scalar(T),
    /// One value per row (reduction `none`), as many as the rows of the task.
    PerRow(&'a [T]),
}

impl<T: Copy> Upstream<'_, T> {
    #[inline(always)]
    pub fn at(&self, row: usize) -> T {
        match self {
            Upstream::Scalar(v) => *v,
            Upstream::PerRow(v) => v[row],
        }
    }
}

/// Where a task writes its loss.
#[derive(Debug)]
pub enum LossOut<'a, T> {
    /// The task computes no loss (backward only).
    Skip,
    /// One loss per row (reduction `none`).
    PerRow(&'a mut [T]),
    /// The row losses summed in a float64 accumulator, in row order, starting from 0: PyTorch's
    /// serial sum.
    Sum(&'a mut f64),
    /// The row losses summed in [`INTERLEAVE`] float64 accumulators, row `i` of the task into
    /// `sums[i % INTERLEAVE]`, each in row order from 0. The sixteen sums do not wait for each
    /// other, where a single sum is a chain of dependent adds that caps small-`c` throughput;
    /// the engine uses this for the blocks of large inputs (see [`crate::engine`]). The one
    /// task whose targets may come unchecked: see [`Partials::bad_target`].
    Interleaved(&'a mut Partials),
}

impl<T> LossOut<'_, T> {
    /// The same destination, borrowed for a shorter while (to read it again after a run).
    pub fn reborrow(&mut self) -> LossOut<'_, T> {
        match self {
            LossOut::Skip => LossOut::Skip,
            LossOut::PerRow(out) => LossOut::PerRow(out),
            LossOut::Sum(acc) => LossOut::Sum(acc),
            LossOut::Interleaved(partials) => LossOut::Interleaved(partials),
        }
    }
}

/// The accumulators of [`LossOut::Interleaved`].
pub const INTERLEAVE: usize = 16;

/// What a task with [`LossOut::Interleaved`] writes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Partials {
    pub sums: [f64; INTERLEAVE],
    /// Whether a forward task (no gradient) met a target outside `[0, c)`; `sums` then mean
    /// nothing. Where [`checks_own_targets`] says so, such a task may come with unchecked
    /// targets: it checks each vector of them as it loads them, before anything uses them, and
    /// stops at the first bad one. At 10 classes the targets are a sixth of the bytes a forward
    /// call reads, and a pass over them ahead of the arithmetic read them from memory on their
    /// own (measured on Zen 4, 4194304x10 forward: 1.05–1.07× slower on 1 thread, 1.13× on 2).
    /// Every other task needs its targets checked first, and leaves this `false`.
    pub bad_target: bool,
}

impl Partials {
    pub const ZERO: Partials = Partials {
        sums: [0.0; INTERLEAVE],
        bad_target: false,
    };
}

/// The gradient part of a task.
#[derive(Debug)]
pub struct GradOut<'a, T> {
    /// `1/(n·c)` for `mean`, `1/c` otherwise, computed in float64 and cast to `T`.
    pub g: T,
    pub upstream: Upstream<'a, T>,
    /// `rows·c` entries, row-major, every one written.
    pub grad: &'a mut [T],
}

/// One unit of work: a block of whole rows and what to compute for them.
#[derive(Debug)]
pub struct Task<'a, T> {
    /// `rows·c` scores, row-major.
    pub input: &'a [T],
    /// `rows` targets, each in `[0, c)` (or unchecked, where [`Partials::bad_target`] allows).
    pub target: &'a [i64],
    pub loss: LossOut<'a, T>,
    pub grad: Option<GradOut<'a, T>>,
}

pub use simd::TARGET_CHUNK;

/// The index of the first chunk of [`TARGET_CHUNK`] targets holding one outside `[0, c)`, or
/// `None` when all are in range: the targets are read once, with the vector compares of the
/// path [`Isa::selected`] chose (the same answer on every path).
#[inline]
pub fn first_bad_target_chunk(target: &[i64], c: usize) -> Option<usize> {
    first_bad_target_chunk_with(Isa::selected(), target, c)
}

/// Whether a forward task summing into [`Partials`] checks its own targets on `isa` (clamped
/// to the best path this CPU has) with `c` classes; other tasks need them checked first. The
/// scalar reference always does, so a caller on that path need not scan them first as well.
#[inline(always)]
pub fn checks_own_targets<T: Real>(isa: Isa, c: usize) -> bool {
    let isa = isa.clamped();
    isa == Isa::Scalar || T::checks_own_targets(isa, c)
}

/// [`first_bad_target_chunk`] on `isa`, clamped to the best path this CPU has.
#[inline(always)]
pub fn first_bad_target_chunk_with(isa: Isa, target: &[i64], c: usize) -> Option<usize> {
    simd::first_bad_target_chunk_on(isa.clamped(), target, c)
}

/// Runs one task on the path [`Isa::selected`] chose. Panics (caught at the FFI boundary) only
/// on a task whose lengths disagree or whose targets were not checked, which the callers rule out.
#[inline]
pub fn run<T: Real>(params: &Params<T>, c: usize, task: Task<'_, T>) {
    run_with(Isa::selected(), params, c, task)
}

/// Whether [`run_pair_with`] runs two tasks of `c` classes on `isa` (clamped to the best path
/// this CPU has) interleaved rather than one after the other: forward tasks, or backward and
/// fused ones (`with_gradient`). The engine pairs its blocks only then.
#[inline]
pub fn runs_pairs<T: Real>(isa: Isa, c: usize, with_gradient: bool) -> bool {
    // Backward and fused tasks share their entries.
    let kind = if with_gradient {
        simd::PairKind::Backward
    } else {
        simd::PairKind::Forward
    };
    T::pair_entry(isa.clamped(), c, kind).is_some()
}

/// Runs two tasks on `isa` (clamped), each with the results [`run_with`] gives it, sums
/// included. Two tasks of one kind (forward, backward or fused) and `c` classes where
/// [`runs_pairs`] holds, each of at least 16 rows, run interleaved, a few KiB of rows of one,
/// then of the other: a core reading two streams from memory reads faster than one (see
/// `simd::run_forward_pair`). Any other pair runs one task after the other.
#[inline]
pub fn run_pair_with<T: Real>(
    isa: Isa,
    params: &Params<T>,
    c: usize,
    first: Task<'_, T>,
    second: Task<'_, T>,
) {
    let isa = isa.clamped();
    if let Some(kind) = simd::pair_kind_of(c, &first, &second)
        && let Some(entry) = T::pair_entry(isa, c, kind)
    {
        // SAFETY: `pair_entry` names only entries of the path `isa`, which `clamped` returns
        // only on a CPU with its features, and for tasks of `kind`, which both are.
        return unsafe { entry(params, c, first, second) };
    }
    run_with(isa, params, c, first);
    run_with(isa, params, c, second);
}

/// Runs one task on `isa` (clamped), with the results [`run_with`] gives it, as a block of a
/// call too large to stay in cache: forward tasks of long rows (257 classes and more, at least
/// 32 rows) read their rows in streams, sixteen rows far apart at a time rather than sixteen
/// neighbours, each prefetched a little ahead (see `simd::strided_losses`), where the AVX2 and
/// AVX-512 paths run them. Any other task runs as [`run_with`] runs it.
#[inline]
pub fn run_streamed_with<T: Real>(isa: Isa, params: &Params<T>, c: usize, task: Task<'_, T>) {
    let isa = isa.clamped();
    if simd::takes_long_rows_streamed(c, task.target.len(), task.grad.is_some())
        && let Some(entry) = T::streamed_entry(isa)
    {
        // SAFETY: `streamed_entry` names only entries of the path `isa`, which `clamped`
        // returns only on a CPU with its features, and for tasks `takes_long_rows_streamed`
        // admits, which this one is.
        return unsafe { entry(params, c, task) };
    }
    run_with(isa, params, c, task)
}

/// Whether [`run_streamed_with`] reads a task of `rows` rows of `c` classes, with or without a
/// gradient, in streams on `isa` (clamped) rather than as [`run_with`] does. The engine streams
/// a large call's blocks only then.
#[inline]
pub fn runs_streamed<T: Real>(isa: Isa, c: usize, rows: usize, with_gradient: bool) -> bool {
    simd::takes_long_rows_streamed(c, rows, with_gradient)
        && T::streamed_entry(isa.clamped()).is_some()
}

/// Runs one task on `isa`, clamped to the best path this CPU has. Every path gives the same
/// bits; tests use this to check each one. Always inlined, so that a caller goes straight to
/// the backend's entry (left out of line, the extra call cost a 32x10 call 3%).
#[inline(always)]
pub fn run_with<T: Real>(isa: Isa, params: &Params<T>, c: usize, task: Task<'_, T>) {
    match isa.clamped() {
        Isa::Scalar => reference::run(params, c, task),
        Isa::Wide => T::run_wide(params, c, task),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `clamped` returns `Avx2` only on a CPU with AVX2 and FMA.
        Isa::Avx2 => unsafe { T::run_avx2(params, c, task) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `clamped` returns `Avx512` only on a CPU with AVX-512F, AVX2 and FMA.
        Isa::Avx512 => unsafe { T::run_avx512(params, c, task) },
        #[cfg(not(target_arch = "x86_64"))]
        Isa::Avx2 | Isa::Avx512 => unreachable!("x86 paths are never available elsewhere"),
    }
}
