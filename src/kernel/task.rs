//! What a kernel is asked to compute: the loss parameters and one task, a block of whole rows
//! with its outputs. Plain data, no behaviour beyond accessors.

use super::element::{Element, Targets};

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

impl<'a, T: Copy> Upstream<'a, T> {
    /// The upstream gradient of row `row`.
    #[inline(always)]
    pub fn at(&self, row: usize) -> T {
        match self {
            Upstream::Scalar(v) => *v,
            Upstream::PerRow(v) => v[row],
        }
    }

    /// The upstream gradient of rows `start..end`.
    #[inline(always)]
    pub fn range(self, start: usize, end: usize) -> Upstream<'a, T> {
        match self {
            Upstream::Scalar(v) => Upstream::Scalar(v),
            Upstream::PerRow(v) => Upstream::PerRow(&v[start..end]),
        }
    }
}

/// The accumulators of [`LossOut::Interleaved`].
pub const INTERLEAVE: usize = 16;

/// Where a task writes its loss.
#[derive(Debug)]
pub enum LossOut<'a, T> {
    /// The task computes no loss (backward only).
    Skip,
    /// One loss per row (reduction `none`).
    PerRow(&'a mut [T]),
    /// The row losses summed in one float64 accumulator from 0, in row order: PyTorch's sum.
    Sum(&'a mut f64),
    /// Row `i`'s loss added to `sums[i % INTERLEAVE]` (float64, each in row order from 0): the
    /// engine's sum for a large call's blocks. The one kind of task whose targets may come
    /// unchecked: see [`Partials::bad_target`].
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

/// What a task with [`LossOut::Interleaved`] writes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Partials {
    pub sums: [f64; INTERLEAVE],
    /// Whether a forward task (no gradient) met a target outside `[0, c)`; `sums` then mean
    /// nothing. Only a large summed forward call's blocks may come unchecked (they check their
    /// own: `Plan::checks_targets`); every other task needs its targets checked first.
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
    /// Row `i`'s `c` gradients at `grad[i·pitch..]`, every one written; nothing between rows.
    pub grad: &'a mut [T],
    /// The distance between gradient rows, in values (`c` for contiguous rows).
    pub pitch: usize,
}

impl<T: Copy> GradOut<'_, T> {
    /// The same gradient, borrowed for a shorter while.
    #[inline(always)]
    pub fn reborrow(&mut self) -> GradOut<'_, T> {
        GradOut {
            g: self.g,
            upstream: self.upstream,
            grad: self.grad,
            pitch: self.pitch,
        }
    }
}

/// One unit of work: a block of whole rows and what to compute for them. The scores are stored
/// as `S` and computed in `S::Real`.
#[derive(Debug)]
pub struct Task<'a, S: Element> {
    /// The scores: row `i`'s `c` values at `input[i·pitch..]`.
    pub input: &'a [S],
    /// The distance between rows, in values (`c` for contiguous rows).
    pub pitch: usize,
    /// One target per row, in `[0, c)` (unchecked only where [`Partials::bad_target`] allows).
    pub target: Targets<'a>,
    pub loss: LossOut<'a, S::Real>,
    pub grad: Option<GradOut<'a, S::Real>>,
}

impl<'a, S: Element> Task<'a, S> {
    /// A task over contiguous rows (`pitch == c`).
    #[inline(always)]
    pub fn contiguous(
        input: &'a [S],
        c: usize,
        target: impl Into<Targets<'a>>,
        loss: LossOut<'a, S::Real>,
        grad: Option<GradOut<'a, S::Real>>,
    ) -> Self {
        let target = target.into();
        Task {
            input,
            pitch: c,
            target,
            loss,
            grad,
        }
    }

    /// The same task, borrowed for a shorter while.
    #[inline(always)]
    pub fn reborrow(&mut self) -> Task<'_, S> {
        Task {
            input: self.input,
            pitch: self.pitch,
            target: self.target,
            loss: self.loss.reborrow(),
            grad: self.grad.as_mut().map(GradOut::reborrow),
        }
    }

    /// The number of rows.
    #[inline(always)]
    pub fn rows(&self) -> usize {
        self.target.len()
    }
}

/// A stack buffer a vector is stored to and read back from piece by piece, aligned to a cache
/// line: a store spanning two lines is not forwarded to the loads that read it back.
#[repr(align(64))]
pub(crate) struct LineAligned<A>(pub(crate) A);
