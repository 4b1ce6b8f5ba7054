//! The order a task's blocks run in, over the one block body of `vector`: neighbouring rows
//! block after block; a large call's long rows read in streams; or two tasks' blocks
//! alternately. Also where a task's losses go. Generic over the backend's vectors: each backend
//! compiles these bodies inside its own `#[target_feature]` entries.

use super::element::Element;
use super::reference;
use super::task::{GradOut, INTERLEAVE, LossOut, Params, Partials, Power, Task, Upstream};
use super::vector::{
    Block, CACHE_LINE, Classes, Load, MAX_CLASSES, MAX_LANES, Prefetch, STREAM_AHEAD, TO_L2,
    Vector, any_out_of_range, block_grad, block_loss, prefetch, target_index,
};

/// How a call's tasks run, decided by its plan (see `platform::Plan`).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Forward tasks of long rows read their rows in streams (a large call's blocks).
    pub streams: bool,
    /// Forward tasks summing into [`Partials`] check their targets, block by block, just before
    /// they read them (see [`Partials::bad_target`]).
    pub checks_targets: bool,
}

/// A work item: one task, or two of one kind run alternately (a large call's neighbouring
/// blocks, so that each core reads two streams from memory).
pub enum Work<'a, S: Element, Y = i64> {
    One(Task<'a, S, Y>),
    Pair(Task<'a, S, Y>, Task<'a, S, Y>),
}

/// A backend's entry: a `#[target_feature]` function running the bodies below with its
/// vectors. Callers must have checked the CPU features it enables.
#[doc(hidden)]
pub type Entry<S, Y> = unsafe fn(Schedule, &Params<<S as Element>::Real>, usize, Work<'_, S, Y>);

/// A class count whose kernels for PyTorch's default parameters (p = 1, no weights) are also
/// compiled with `c` as a constant: 10, the common case. The column loops, load and store
/// widths, masks and offsets then resolve at compile time (forward 6–16% faster).
const CONSTANT_CLASSES: usize = 10;

/// Rows per group of a paired run: about this many bytes of rows from one task, then from the
/// other (whole blocks, at least one); a task that stores a gradient reads and writes.
const PAIR_GROUP_BYTES: usize = 2560;
const PAIR_GROUP_BYTES_WITH_GRADIENT: usize = 1280;

/// The most rows of a chunk of a streamed task (an engine block of 257 classes or more has at
/// most 256).
const STREAMED_CHUNK_MAX_ROWS: usize = 512;

/// Runs `$body` with `SQUARE` and `WEIGHTED` bound to the constants of `$params`: one copy of the
/// loops per (power, weighted), with no per-term branches on either. Where `$contiguous` (rows
/// `c` values apart), `$c` is also bound to the constant [`CONSTANT_CLASSES`] where that kernel
/// applies, and `CONTIGUOUS` says so: the body then gives its rows that constant pitch too.
macro_rules! with_shape {
    ($params:expr, $c:ident, $contiguous:expr, || $body:expr) => {
        match ($params.power, $params.weight.is_some()) {
            (Power::One, false) if $contiguous && $c == CONSTANT_CLASSES => {
                const SQUARE: bool = false;
                const WEIGHTED: bool = false;
                #[allow(dead_code)]
                const CONTIGUOUS: bool = true;
                let $c = CONSTANT_CLASSES;
                $body
            }
            (power, weighted) => {
                #[allow(dead_code)]
                const CONTIGUOUS: bool = false;
                match (power, weighted) {
                    (Power::One, false) => {
                        const SQUARE: bool = false;
                        const WEIGHTED: bool = false;
                        $body
                    }
                    (Power::One, true) => {
                        const SQUARE: bool = false;
                        const WEIGHTED: bool = true;
                        $body
                    }
                    (Power::Two, false) => {
                        const SQUARE: bool = true;
                        const WEIGHTED: bool = false;
                        $body
                    }
                    (Power::Two, true) => {
                        const SQUARE: bool = true;
                        const WEIGHTED: bool = true;
                        $body
                    }
                }
            }
        }
    };
}

/// Runs forward work (no gradient) with vectors `V`; every task gets [`reference::run`]'s bits.
/// `SHORT`: rows of at most one tile (`c <= TILE`), else longer ones; `MEMORY`: the schedules
/// for large calls (pairs, streams) are compiled in. Always inlined, so that a backend's
/// `#[target_feature]` entry compiles it for its ISA.
#[inline(always)]
pub(crate) fn forward<S, Y, V, const SHORT: bool, const MEMORY: bool>(
    schedule: Schedule,
    params: &Params<S::Real>,
    c: usize,
    work: Work<'_, S, Y>,
) where
    S: Load<V>,
    Y: Classes<V>,
    V: Vector<S::Real>,
{
    let Some((first, second, c)) = vector_work::<S, Y, V, SHORT, MEMORY>(params, c, work) else {
        return;
    };
    let (a, sink_a) = Rows::forward(c, first);
    match second {
        None if MEMORY && !SHORT && schedule.streams => with_shape!(params, c, false, || {
            streamed::<S, Y, V, SQUARE, WEIGHTED>(schedule, params, c, a, sink_a)
        }),
        None => with_shape!(params, c, a.pitch == c, || {
            let a = a.pitched::<CONTIGUOUS>(c);
            forward_blocks::<S, Y, V, SQUARE, WEIGHTED>(schedule, params, c, a, sink_a)
        }),
        Some(second) => {
            let (b, sink_b) = Rows::forward(c, second);
            with_shape!(params, c, a.pitch == c && b.pitch == c, || {
                let tasks = [
                    (a.pitched::<CONTIGUOUS>(c), sink_a),
                    (b.pitched::<CONTIGUOUS>(c), sink_b),
                ];
                forward_pair::<S, Y, V, SQUARE, WEIGHTED>(schedule, params, c, tasks)
            })
        }
    }
}

/// Runs backward or fused work with vectors `V`, as [`forward`] runs forward work.
#[inline(always)]
pub(crate) fn gradient<S, Y, V, const SHORT: bool, const MEMORY: bool>(
    _schedule: Schedule,
    params: &Params<S::Real>,
    c: usize,
    work: Work<'_, S, Y>,
) where
    S: Load<V>,
    Y: Classes<V>,
    V: Vector<S::Real>,
{
    let Some((first, second, c)) = vector_work::<S, Y, V, SHORT, MEMORY>(params, c, work) else {
        return;
    };
    let fused = !matches!(first.loss, LossOut::Skip);
    let a = GradientRows::new(c, first);
    let b = second.map(|t| GradientRows::new(c, t));
    let contiguous = a.is_contiguous(c) && b.as_ref().is_none_or(|b| b.is_contiguous(c));
    match (b, fused) {
        (None, false) => with_shape!(params, c, contiguous, || {
            let a = a.pitched::<CONTIGUOUS>(c);
            gradient_blocks::<S, Y, V, SQUARE, WEIGHTED, false>(params, c, a)
        }),
        (None, true) => with_shape!(params, c, contiguous, || {
            let a = a.pitched::<CONTIGUOUS>(c);
            gradient_blocks::<S, Y, V, SQUARE, WEIGHTED, true>(params, c, a)
        }),
        (Some(b), false) => with_shape!(params, c, contiguous, || {
            let tasks = [a.pitched::<CONTIGUOUS>(c), b.pitched::<CONTIGUOUS>(c)];
            gradient_pair::<S, Y, V, SQUARE, WEIGHTED, false>(params, c, tasks)
        }),
        (Some(b), true) => with_shape!(params, c, contiguous, || {
            let tasks = [a.pitched::<CONTIGUOUS>(c), b.pitched::<CONTIGUOUS>(c)];
            gradient_pair::<S, Y, V, SQUARE, WEIGHTED, true>(params, c, tasks)
        }),
    }
}

/// The work's tasks where the entry takes them: at least one block of rows each, rows as long as
/// `SHORT` says, at most [`MAX_CLASSES`] classes, and a pair only with `MEMORY` and of one kind
/// (the engine's plans keep to this). Otherwise the reference runs the work, and `None` is
/// returned. Also `c`, clamped to what `SHORT` says (a no-op that tells the compiler which
/// half of the block body can run).
#[inline(always)]
#[allow(clippy::type_complexity)]
fn vector_work<'a, S, Y, V, const SHORT: bool, const MEMORY: bool>(
    params: &Params<S::Real>,
    c: usize,
    work: Work<'a, S, Y>,
) -> Option<(Task<'a, S, Y>, Option<Task<'a, S, Y>>, usize)>
where
    S: Load<V>,
    Y: Classes<V>,
    V: Vector<S::Real>,
{
    let (first, second) = match work {
        Work::One(task) => (task, None),
        Work::Pair(a, b) => (a, Some(b)),
    };
    let takes = |task: &Task<'_, S, Y>| task.rows() >= V::LANES;
    let kind = |task: &Task<'_, S, Y>| (matches!(task.loss, LossOut::Skip), task.grad.is_some());
    let pair = second
        .as_ref()
        .is_none_or(|t| MEMORY && takes(t) && kind(t) == kind(&first));
    if takes(&first) && pair && (c <= V::TILE) == SHORT && c <= MAX_CLASSES {
        let c = if SHORT {
            c.min(V::TILE)
        } else {
            c.max(V::TILE + 1)
        };
        return Some((first, second, c));
    }
    reference::run(params, c, first);
    if let Some(second) = second {
        reference::run(params, c, second);
    }
    None
}

/// A forward task's scores and targets, its shape checked.
#[derive(Clone, Copy)]
struct Rows<'a, S, Y> {
    input: &'a [S],
    pitch: usize,
    target: &'a [Y],
}

impl<'a, S: Element, Y> Rows<'a, S, Y> {
    #[inline(always)]
    fn forward(_c: usize, task: Task<'a, S, Y>) -> (Self, Option<LossSink<'a, S::Real>>) {
        let Task {
            input,
            pitch,
            target,
            loss,
            grad: _,
        } = task;
        let n = target.len();
        (
            Rows {
                input,
                pitch,
                target,
            },
            LossSink::new(loss, n),
        )
    }

    /// The same rows with the pitch `c` where `CONTIGUOUS` (a no-op for rows that are `c`
    /// apart, which gives the constant-`c` kernels a constant pitch).
    #[inline(always)]
    fn pitched<const CONTIGUOUS: bool>(self, c: usize) -> Self {
        Rows {
            pitch: if CONTIGUOUS { c } else { self.pitch },
            ..self
        }
    }

    /// The block of `lanes` neighbouring rows from row `start`.
    #[inline(always)]
    fn block(&self, start: usize) -> Block<'a, S, Y> {
        Block {
            rows: &self.input[start * self.pitch..],
            pitch: self.pitch,
            lane_pitch: self.pitch,
            targets: &self.target[start..],
        }
    }
}

/// The losses of every block of neighbouring rows into `sink`.
#[inline(always)]
fn forward_blocks<S, Y, V, const SQUARE: bool, const WEIGHTED: bool>(
    schedule: Schedule,
    params: &Params<S::Real>,
    c: usize,
    rows: Rows<'_, S, Y>,
    sink: Option<LossSink<'_, S::Real>>,
) where
    S: Load<V>,
    Y: Classes<V>,
    V: Vector<S::Real>,
{
    let Some(mut sink) = sink else { return };
    let checks = schedule.checks_targets && sink.is_interleaved();
    let prefetch = Prefetch::new::<S::Real, V>(c, false, false);
    for (start, first) in blocks(rows.target.len(), V::LANES) {
        // Before anything reads the block's targets or indexes by them.
        if checks && any_out_of_range(&rows.target[start..], V::LANES, c) {
            return sink.reject_targets();
        }
        let losses =
            block_loss::<S, Y, V, SQUARE, WEIGHTED>(params, c, rows.block(start), prefetch);
        sink.add(losses, start, first);
    }
    sink.finish(params, c, rows);
}

/// The losses of a large call's block of long rows into `sink`, in chunks of up to
/// [`STREAMED_CHUNK_MAX_ROWS`] rows. Within a chunk of `len` rows, with `per = len / LANES`,
/// lane `k` of the `i`-th block is row `k·per + i`: each lane reads one contiguous run of rows,
/// a stream it prefetches [`STREAM_AHEAD`] values ahead, instead of `LANES` short runs that
/// restart every block (forward 1.03–1.34× faster from memory at 300 to 2000 classes). The
/// losses go to a buffer, then to `sink` in row order: the very adds of [`forward_blocks`].
#[inline(always)]
fn streamed<S, Y, V, const SQUARE: bool, const WEIGHTED: bool>(
    schedule: Schedule,
    params: &Params<S::Real>,
    c: usize,
    rows: Rows<'_, S, Y>,
    sink: Option<LossSink<'_, S::Real>>,
) where
    S: Load<V>,
    Y: Classes<V>,
    V: Vector<S::Real>,
{
    let Some(mut sink) = sink else { return };
    let checks = schedule.checks_targets && sink.is_interleaved();
    let n = rows.target.len();
    let pitch = rows.pitch;
    let chunks = n.div_ceil(STREAMED_CHUNK_MAX_ROWS);
    let mut buffer = [S::Real::default(); STREAMED_CHUNK_MAX_ROWS];
    let mut lane_targets = [rows.target[0]; MAX_LANES];
    let mut lane_losses = [S::Real::default(); MAX_LANES];
    let hints = Prefetch::new::<S::Real, V>(c, false, true);
    let mut start = 0;
    for chunk in 0..chunks {
        // Chunks within one row of each other in length, each at least `LANES` rows.
        let len = n / chunks + usize::from(chunk < n % chunks);
        let targets = &rows.target[start..start + len];
        // Before anything reads the chunk's targets or indexes by them.
        if checks && any_out_of_range(targets, len, c) {
            return sink.reject_targets();
        }
        let input = &rows.input[start * pitch..];
        let losses = &mut buffer[..len];
        let per = len / V::LANES;
        // `x[y]` of `row`, which its block reads first.
        let prefetch_target_score = |row: usize| {
            let at = row * pitch + target_index(targets[row], c);
            prefetch::<TO_L2, _>(input.as_ptr().wrapping_add(at));
        };
        if per > 0 {
            // Each lane's run up to where its stream prefetch takes over, and the first
            // block's `x[y]`: without these a lane's first lines were read on demand.
            for k in 0..V::LANES {
                for at in (0..STREAM_AHEAD).step_by(CACHE_LINE / size_of::<S>()) {
                    prefetch::<TO_L2, _>(input.as_ptr().wrapping_add(k * per * pitch + at));
                }
                prefetch_target_score(k * per);
            }
        }
        for i in 0..per {
            for (k, t) in lane_targets[..V::LANES].iter_mut().enumerate() {
                *t = targets[k * per + i];
            }
            if i + 1 < per {
                // The next block's, where the lanes' streams have not arrived yet.
                for k in 0..V::LANES {
                    prefetch_target_score(k * per + i + 1);
                }
            }
            let block = Block {
                rows: &input[i * pitch..],
                pitch,
                lane_pitch: per * pitch,
                targets: &lane_targets,
            };
            let block = block_loss::<S, Y, V, SQUARE, WEIGHTED>(params, c, block, hints);
            block.store(&mut lane_losses[..V::LANES]);
            for (k, &loss) in lane_losses[..V::LANES].iter().enumerate() {
                losses[k * per + i] = loss;
            }
        }
        if per * V::LANES < len {
            // The last `len mod LANES` rows, in one block of the last `LANES` rows.
            let last = len - V::LANES;
            let block = Block {
                rows: &input[last * pitch..],
                pitch,
                lane_pitch: pitch,
                targets: &targets[last..],
            };
            let block = block_loss::<S, Y, V, SQUARE, WEIGHTED>(params, c, block, hints);
            block.store(&mut losses[last..]);
        }
        for (s, first) in blocks(len, V::LANES) {
            sink.add(V::load(&losses[s..]), start + s, first);
        }
        start += len;
    }
    sink.finish(params, c, rows);
}

/// Runs `$step_a` on each block of `$blocks_a` and `$step_b` on each of `$blocks_b`, `$group`
/// blocks of one, then of the other, until both are done. A macro so that both steps are
/// inlined.
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

/// Two forward tasks, each exactly as [`forward_blocks`] runs it, alternating every
/// [`PAIR_GROUP_BYTES`] of rows: a core reading two streams from memory reads faster than one
/// (forward 1.16–1.3× on one thread at 9 to 31 classes). Each task keeps its own sink.
#[inline(always)]
fn forward_pair<S, Y, V, const SQUARE: bool, const WEIGHTED: bool>(
    schedule: Schedule,
    params: &Params<S::Real>,
    c: usize,
    [(a, sink_a), (b, sink_b)]: [(Rows<'_, S, Y>, Option<LossSink<'_, S::Real>>); 2],
) where
    S: Load<V>,
    Y: Classes<V>,
    V: Vector<S::Real>,
{
    let (Some(mut sink_a), Some(mut sink_b)) = (sink_a, sink_b) else {
        unreachable!("paired forward tasks compute a loss")
    };
    let checks = schedule.checks_targets;
    let (checks_a, checks_b) = (
        checks && sink_a.is_interleaved(),
        checks && sink_b.is_interleaved(),
    );
    let prefetch = Prefetch::new::<S::Real, V>(c, false, false);
    let group = (PAIR_GROUP_BYTES / (V::LANES * c * size_of::<S>())).max(1);
    // A failed check ends the call: the other task's sink no longer matters.
    alternate_blocks!(
        group,
        blocks(a.target.len(), V::LANES),
        |block| {
            let (start, first) = block;
            if checks_a && any_out_of_range(&a.target[start..], V::LANES, c) {
                return sink_a.reject_targets();
            }
            let losses =
                block_loss::<S, Y, V, SQUARE, WEIGHTED>(params, c, a.block(start), prefetch);
            sink_a.add(losses, start, first);
        },
        blocks(b.target.len(), V::LANES),
        |block| {
            let (start, first) = block;
            if checks_b && any_out_of_range(&b.target[start..], V::LANES, c) {
                return sink_b.reject_targets();
            }
            let losses =
                block_loss::<S, Y, V, SQUARE, WEIGHTED>(params, c, b.block(start), prefetch);
            sink_b.add(losses, start, first);
        }
    );
    sink_a.finish(params, c, a);
    sink_b.finish(params, c, b);
}

/// A backward or fused task taken apart (its loss goes to a [`LossSink`]), its shape checked.
struct GradientRows<'a, S: Element, Y> {
    rows: Rows<'a, S, Y>,
    g: S::Real,
    upstream: Upstream<'a, S::Real>,
    grad: &'a mut [S::Real],
    grad_pitch: usize,
    sink: Option<LossSink<'a, S::Real>>,
}

impl<'a, S: Element, Y> GradientRows<'a, S, Y> {
    #[inline(always)]
    fn new(_c: usize, task: Task<'a, S, Y>) -> Self {
        let Task {
            input,
            pitch,
            target,
            loss,
            grad,
        } = task;
        let Some(GradOut {
            g,
            upstream,
            grad,
            pitch: grad_pitch,
        }) = grad
        else {
            unreachable!("a task with a gradient")
        };
        GradientRows {
            rows: Rows {
                input,
                pitch,
                target,
            },
            g,
            upstream,
            grad,
            grad_pitch,
            sink: LossSink::new(loss, target.len()),
        }
    }

    /// Whether the scores and the gradient are rows `c` values apart.
    #[inline(always)]
    fn is_contiguous(&self, c: usize) -> bool {
        self.rows.pitch == c && self.grad_pitch == c
    }

    /// [`Rows::pitched`] for the scores and the gradient.
    #[inline(always)]
    fn pitched<const CONTIGUOUS: bool>(self, c: usize) -> Self {
        GradientRows {
            rows: self.rows.pitched::<CONTIGUOUS>(c),
            grad_pitch: if CONTIGUOUS { c } else { self.grad_pitch },
            ..self
        }
    }

    /// The block of rows `start..start + LANES` (`first` as in [`LossSink::add`]).
    #[inline(always)]
    fn step<V, const SQUARE: bool, const WEIGHTED: bool, const LOSS: bool>(
        &mut self,
        params: &Params<S::Real>,
        c: usize,
        prefetch: Prefetch,
        (start, first): (usize, usize),
    ) where
        S: Load<V>,
        Y: Classes<V>,
        V: Vector<S::Real>,
    {
        let upstream = match self.upstream {
            Upstream::Scalar(v) => V::splat(v),
            Upstream::PerRow(u) => V::load(&u[start..start + V::LANES]),
        };
        let losses = block_grad::<S, Y, V, SQUARE, WEIGHTED, LOSS>(
            params,
            c,
            self.rows.block(start),
            prefetch,
            self.g,
            upstream,
            &mut self.grad[start * self.grad_pitch..],
            self.grad_pitch,
        );
        if LOSS && let Some(sink) = self.sink.as_mut() {
            sink.add(losses, start, first);
        }
    }

    #[inline(always)]
    fn finish(self, params: &Params<S::Real>, c: usize)
    where
        Y: super::element::Target,
    {
        if let Some(sink) = self.sink {
            sink.finish(params, c, self.rows);
        }
    }
}

/// Every block of a backward (`!LOSS`) or fused task.
#[inline(always)]
fn gradient_blocks<S, Y, V, const SQUARE: bool, const WEIGHTED: bool, const LOSS: bool>(
    params: &Params<S::Real>,
    c: usize,
    task: GradientRows<'_, S, Y>,
) where
    S: Load<V>,
    Y: Classes<V>,
    V: Vector<S::Real>,
{
    let prefetch = Prefetch::new::<S::Real, V>(c, true, false);
    let GradientRows {
        rows,
        g,
        upstream,
        grad,
        grad_pitch,
        sink,
    } = task;
    let Some(mut sink) = sink.filter(|_| LOSS) else {
        for (start, _) in blocks(rows.target.len(), V::LANES) {
            let up = match upstream {
                Upstream::Scalar(v) => V::splat(v),
                Upstream::PerRow(u) => V::load(&u[start..start + V::LANES]),
            };
            block_grad::<S, Y, V, SQUARE, WEIGHTED, false>(
                params,
                c,
                rows.block(start),
                prefetch,
                g,
                up,
                &mut grad[start * grad_pitch..],
                grad_pitch,
            );
        }
        return;
    };
    for (start, first) in blocks(rows.target.len(), V::LANES) {
        let up = match upstream {
            Upstream::Scalar(v) => V::splat(v),
            Upstream::PerRow(u) => V::load(&u[start..start + V::LANES]),
        };
        let losses = block_grad::<S, Y, V, SQUARE, WEIGHTED, true>(
            params,
            c,
            rows.block(start),
            prefetch,
            g,
            up,
            &mut grad[start * grad_pitch..],
            grad_pitch,
        );
        sink.add(losses, start, first);
    }
    sink.finish(params, c, rows);
}

/// Two backward or two fused tasks, alternating every [`PAIR_GROUP_BYTES_WITH_GRADIENT`] of
/// rows (backward 1.09–1.23×, fused 1.04–1.14× faster on one thread).
#[inline(always)]
fn gradient_pair<S, Y, V, const SQUARE: bool, const WEIGHTED: bool, const LOSS: bool>(
    params: &Params<S::Real>,
    c: usize,
    [mut a, mut b]: [GradientRows<'_, S, Y>; 2],
) where
    S: Load<V>,
    Y: Classes<V>,
    V: Vector<S::Real>,
{
    let prefetch = Prefetch::new::<S::Real, V>(c, true, false);
    let group = (PAIR_GROUP_BYTES_WITH_GRADIENT / (V::LANES * c * size_of::<S>())).max(1);
    alternate_blocks!(
        group,
        blocks(a.rows.target.len(), V::LANES),
        |block| {
            a.step::<V, SQUARE, WEIGHTED, LOSS>(params, c, prefetch, block);
        },
        blocks(b.rows.target.len(), V::LANES),
        |block| {
            b.step::<V, SQUARE, WEIGHTED, LOSS>(params, c, prefetch, block);
        }
    );
    a.finish(params, c);
    b.finish(params, c);
}

/// The starts of the blocks of `lanes` rows covering `n >= lanes` rows, each with the first lane
/// that is new: all blocks start at multiples of `lanes` except a last one that ends at row `n`
/// and overlaps its predecessor (its first lanes recompute rows already done, identically).
#[inline(always)]
fn blocks(n: usize, lanes: usize) -> impl Iterator<Item = (usize, usize)> {
    let full = n / lanes * lanes;
    let tail = (full < n).then_some((n - lanes, lanes - (n - full)));
    (0..full).step_by(lanes).map(|start| (start, 0)).chain(tail)
}

/// Where a run's block losses go, and the accumulators of the summing kinds.
enum LossSink<'a, T> {
    PerRow(&'a mut [T]),
    Sum(f64, &'a mut f64),
    Interleaved([f64; INTERLEAVE], &'a mut Partials),
}

impl<'a, T: super::real::Real> LossSink<'a, T> {
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

    #[inline(always)]
    fn is_interleaved(&self) -> bool {
        matches!(self, LossSink::Interleaved(..))
    }

    /// The losses of the block of rows `start..start + LANES`, whose lanes before `first`
    /// repeat rows already added.
    #[inline(always)]
    fn add<V: Vector<T>>(&mut self, losses: V, start: usize, first: usize) {
        match self {
            LossSink::PerRow(out) => losses.store(&mut out[start..start + V::LANES]),
            LossSink::Sum(sum, _) => {
                // One float64 chain in row order, as PyTorch sums.
                let mut lanes = super::task::LineAligned([0.0f64; MAX_LANES]);
                losses.widen(&mut lanes.0);
                for &l in &lanes.0[first..V::LANES] {
                    *sum += l;
                }
            }
            LossSink::Interleaved(sums, _) => {
                // Sixteen independent chains: no add waits for the previous row's.
                let mut lanes = super::task::LineAligned([0.0f64; MAX_LANES]);
                losses.widen(&mut lanes.0);
                let lanes = &lanes.0;
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

    /// Writes the sums of the task. A sum that came out NaN is summed again by
    /// [`reference::summed_losses`], which keeps the first NaN as PyTorch's serial sum does:
    /// which of two NaNs a vector add keeps is the compiler's choice (NaN-ness itself does not
    /// depend on it). Rare enough for a second pass.
    #[inline(always)]
    fn finish<S: Element<Real = T>, Y: super::element::Target>(
        self,
        params: &Params<T>,
        c: usize,
        rows: Rows<'_, S, Y>,
    ) {
        let rows = (rows.input, rows.pitch, rows.target);
        match self {
            LossSink::PerRow(_) => {}
            LossSink::Sum(sum, acc) => {
                *acc = sum;
                if sum.is_nan() {
                    let sums = std::slice::from_mut(acc);
                    reference::summed_losses(params, c, (rows.0, rows.1), rows.2, sums);
                }
            }
            LossSink::Interleaved(sums, partials) => {
                partials.sums = sums;
                if sums.iter().any(|s| s.is_nan()) {
                    reference::summed_losses(
                        params,
                        c,
                        (rows.0, rows.1),
                        rows.2,
                        &mut partials.sums,
                    );
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

/// A backend's entries: thin wrappers, one per line, that compile [`forward`] or [`gradient`]
/// with the backend's vectors, `SHORT` and `MEMORY` as named there. Each is a `#[target_feature]`
/// function where the backend needs CPU features (`platform` calls them only after detecting
/// those), or left out of line for the portable backend:
///
/// `entries! { #[attribute] name = forward<f32, Vectors, SHORT, MEMORY>; … }`
macro_rules! entries {
    (#[$attr:meta] $($name:ident = $s:ty, $v:ty, $short:literal, $memory:literal, $grad:literal;)*) => {
        $(
            #[$attr]
            pub(super) fn $name(
                schedule: Schedule,
                params: &Params<<$s as super::element::Element>::Real>,
                c: usize,
                work: Work<'_, $s, i64>,
            ) {
                if $grad {
                    schedule::gradient::<$s, i64, $v, $short, $memory>(schedule, params, c, work)
                } else {
                    schedule::forward::<$s, i64, $v, $short, $memory>(schedule, params, c, work)
                }
            }
        )*
    };
}
pub(crate) use entries;
