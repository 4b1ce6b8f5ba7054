//! The order a task's blocks run in, over the one block body of `vector`: neighbouring rows one
//! block after another (in large calls, prefetched far ahead where rows are short), or long
//! forward rows in streams; and where the losses go. Each backend compiles [`run`] inside its
//! entries.

use super::element::{Element, Targets, with_targets};
use super::reference;
#[cfg(not(fuzzing))]
use super::task::Power;
use super::task::Upstream;
use super::task::{GradOut, INTERLEAVE, LineAligned, LossOut, Params, Partials, Task};
#[cfg(not(fuzzing))]
use super::vector::Defaults;
use super::vector::Given;
use super::vector::{
    Block, CACHE_LINE, Hinge, Load, MAX_CLASSES, MAX_LANES, Prefetch, STREAM_AHEAD, TO_L2, Vector,
    block_grad, block_loss, prefetch,
};

/// How a call's blocks run, decided by its plan (see `platform::Plan`).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Forward tasks of long rows read their rows in streams.
    pub streams: bool,
    /// Each block of neighbouring rows first prefetches the rows, targets and gradient
    /// [`AHEAD`] bytes on into L2 (rows too short for the block's own hints, `vector::Prefetch`).
    pub ahead: bool,
    /// Forward tasks summing into [`Partials`] check their targets just before reading them.
    pub checks_targets: bool,
}

/// A backend's entry (see [`entries!`]); callers must have detected the CPU features it enables.
/// The task by reference: an entry reads the caller's task where it is.
#[doc(hidden)]
pub type Entry<S> = unsafe fn(Schedule, &Params<<S as Element>::Real>, usize, &mut Task<'_, S>);

/// The class count whose kernels for PyTorch's defaults (p = 1, no weights, contiguous rows)
/// are also compiled with `c` a constant: 10, the common case (docs/DESIGN.md).
#[cfg_attr(fuzzing, allow(dead_code))]
const CONSTANT_CLASSES: usize = 10;
/// How far ahead [`Schedule::ahead`] prefetches: 4 KiB measured as fast as 8 and 16, faster
/// than 2 (docs/DESIGN.md).
const AHEAD: usize = 4096;
/// The most rows of a streamed chunk (an engine block of 257 classes has at most 256).
const STREAMED_CHUNK_MAX_ROWS: usize = 512;

/// Runs `$body` with `H` ([`Hinge`]) bound for `$params`' p and weights: PyTorch's defaults as
/// constants ([`Defaults`]), with `$c` the constant [`CONSTANT_CLASSES`] too where `$contiguous`
/// and [`run`]'s constants `SHORT` and `V` allow that many classes (`CONTIGUOUS` then says so:
/// the body gives its rows pitch `c`); every other (p, weighted) in one [`Given`] copy, the only
/// one `cfg(fuzzing)` builds (docs/DESIGN.md).
#[cfg(not(fuzzing))]
macro_rules! with_shape {
    ($params:expr, $c:ident, $contiguous:expr, || $body:expr) => {
        match ($params.power, $params.weight.is_some()) {
            (Power::One, false)
                if const { SHORT == (CONSTANT_CLASSES <= V::TILE) }
                    && $contiguous
                    && $c == CONSTANT_CLASSES =>
            {
                type H = Defaults;
                #[allow(dead_code)]
                const CONTIGUOUS: bool = true;
                let $c = CONSTANT_CLASSES;
                $body
            }
            (Power::One, false) => {
                #[allow(dead_code)]
                const CONTIGUOUS: bool = false;
                type H = Defaults;
                $body
            }
            _ => {
                #[allow(dead_code)]
                const CONTIGUOUS: bool = false;
                type H = Given;
                $body
            }
        }
    };
}

#[cfg(fuzzing)]
macro_rules! with_shape {
    ($params:expr, $c:ident, $contiguous:expr, || $body:expr) => {{
        let _ = $contiguous; // The one copy takes any pitch.
        #[allow(dead_code)]
        const CONTIGUOUS: bool = false;
        type H = Given;
        $body
    }};
}

/// What an entry compiles in: a set of these bits (`entries!`), given to [`run`] as constants.
pub(crate) mod body {
    /// Forward work on rows longer than a tile, not in streams.
    pub(crate) const LONG_FORWARD: u8 = 0;
    /// Rows of at most one tile (else longer ones).
    pub(crate) const SHORT: u8 = 1;
    /// Forward blocks of long rows read in streams (large calls).
    pub(crate) const STREAMS: u8 = 2;
    /// Backward and fused work (else forward).
    pub(crate) const GRAD: u8 = 4;
}

/// Runs work with vectors `V`, giving every task [`reference::run`]'s bits: the work an entry's
/// [`body`] bits name, as constants (so that the compiler never emits the rest).
#[inline(always)]
pub(crate) fn run<S, V, const SHORT: bool, const STREAMS: bool, const GRAD: bool>(
    schedule: Schedule,
    params: &Params<S::Real>,
    c: usize,
    task: &mut Task<'_, S>,
) where
    S: Load<V>,
    V: Vector<S::Real>,
{
    // What the entry takes: a block of rows at least, rows as long as `SHORT` says. Plans keep
    // to this; anything else runs the reference.
    let takes = task.target.len() >= V::LANES && task.grad.is_some() == GRAD;
    if !takes || (c <= V::TILE) != SHORT || c > MAX_CLASSES {
        return by_reference(params, c, task);
    }
    // A no-op that tells the compiler which half of the block body runs.
    let c = if SHORT {
        c.min(V::TILE)
    } else {
        c.max(V::TILE + 1)
    };
    if GRAD {
        let Task {
            input,
            pitch,
            target,
            loss,
            grad: Some(grad),
        } = &mut *task
        else {
            return;
        };
        let (pitch, target) = (*pitch, *target);
        let rows = Rows {
            input,
            pitch,
            target,
        };
        let sink = LossSink::new(loss.reborrow(), target.len());
        let grad = grad.reborrow();
        let contiguous = pitch == c && grad.pitch == c;
        let again = match sink {
            None => with_shape!(params, c, contiguous, || {
                let (rows, grad) = (
                    rows.pitched::<CONTIGUOUS>(c),
                    pitched::<CONTIGUOUS, _>(grad, c),
                );
                gradient::<S, V, H, false>(params, c, rows, grad, None, schedule.ahead)
            }),
            Some(sink) => with_shape!(params, c, contiguous, || {
                let (rows, grad) = (
                    rows.pitched::<CONTIGUOUS>(c),
                    pitched::<CONTIGUOUS, _>(grad, c),
                );
                gradient::<S, V, H, true>(params, c, rows, grad, Some(sink), schedule.ahead)
            }),
        };
        return sum_again(params, c, task, again);
    }
    let (rows, sink) = Rows::forward(task);
    let again = if STREAMS && !SHORT && schedule.streams {
        with_shape!(params, c, false, || {
            streamed::<S, V, H>(params, c, rows, sink, schedule.checks_targets)
        })
    } else {
        with_shape!(params, c, rows.pitch == c, || {
            let rows = rows.pitched::<CONTIGUOUS>(c);
            forward::<S, V, H>(
                params,
                c,
                rows,
                sink,
                schedule.checks_targets,
                schedule.ahead,
            )
        })
    };
    sum_again(params, c, task, again)
}

/// Where `again` (a sum came out NaN), the reference sums the task's losses again, keeping the
/// first NaN as PyTorch does (a vector add's NaN-ness is exact, which NaN it keeps is not); the
/// gradient is written already. Reads the caller's task, so the kernel's copies stay in registers.
#[inline(always)]
fn sum_again<S: Element>(params: &Params<S::Real>, c: usize, task: &mut Task<'_, S>, again: bool) {
    if again {
        let losses = &mut Task {
            grad: None,
            ..task.reborrow()
        };
        by_reference(params, c, losses);
    }
}

/// Work the entry does not take (or a plan without an entry), on the reference; out of line, as
/// it is rare.
#[cold]
#[inline(never)]
pub(crate) fn by_reference<S: Element>(params: &Params<S::Real>, c: usize, task: &mut Task<'_, S>) {
    reference::run(params, c, task.reborrow());
}

/// A task's scores and targets.
#[derive(Clone, Copy)]
struct Rows<'a, S> {
    input: &'a [S],
    pitch: usize,
    target: Targets<'a>,
}

impl<'a, S: Element> Rows<'a, S> {
    #[inline(always)]
    fn forward<'b>(task: &'b mut Task<'a, S>) -> (Self, Option<LossSink<'b, S::Real>>) {
        let rows = Rows {
            input: task.input,
            pitch: task.pitch,
            target: task.target,
        };
        (rows, LossSink::new(task.loss.reborrow(), rows.target.len()))
    }

    /// The same rows with the pitch `c` where `CONTIGUOUS`: a no-op for rows `c` values apart,
    /// which gives the constant-`c` kernels a constant pitch too.
    #[inline(always)]
    fn pitched<const CONTIGUOUS: bool>(self, c: usize) -> Self {
        Rows {
            pitch: if CONTIGUOUS { c } else { self.pitch },
            ..self
        }
    }

    /// [`prefetch_ahead`] for rows `start..start + rows` and their targets.
    #[inline(always)]
    fn prefetch_ahead(&self, start: usize, rows: usize) {
        prefetch_ahead(self.input, start * self.pitch, rows * self.pitch);
        with_targets!(self.target, |t| prefetch_ahead(t, start, rows));
    }

    /// The block of neighbouring rows from row `start`.
    #[inline(always)]
    fn block(&self, start: usize) -> Block<'a, S> {
        let (pitch, rows) = (self.pitch, &self.input[start * self.pitch..]);
        Block {
            rows,
            pitch,
            lane_pitch: pitch,
            targets: self.target.from(start),
        }
    }
}

/// [`Rows::pitched`] for a gradient.
#[inline(always)]
fn pitched<const CONTIGUOUS: bool, T>(grad: GradOut<'_, T>, c: usize) -> GradOut<'_, T> {
    GradOut {
        pitch: if CONTIGUOUS { c } else { grad.pitch },
        ..grad
    }
}

/// Every block of neighbouring rows of a forward task (a bad target `checks` finds fails the call),
/// prefetched far ahead with `ahead` ([`Schedule::ahead`]).
#[inline(always)]
fn forward<S, V, H: Hinge>(
    params: &Params<S::Real>,
    c: usize,
    rows: Rows<'_, S>,
    sink: Option<LossSink<'_, S::Real>>,
    checks: bool,
    ahead: bool,
) -> bool
where
    S: Load<V>,
    V: Vector<S::Real>,
{
    let Some(mut sink) = sink else { return false };
    let checks = checks && sink.is_interleaved();
    let prefetch = Prefetch::new::<S, V>(c, false, false);
    let mut sums = [0.0; INTERLEAVE];
    for (start, first) in blocks(rows.target.len(), V::LANES) {
        // Both only in large calls: one test a block in the others.
        if checks || ahead {
            if ahead {
                rows.prefetch_ahead(start, V::LANES);
            }
            // Before anything reads the block's targets or indexes by them.
            if checks && rows.target.from(start).any_out_of_range(V::LANES, c) {
                return sink.reject_targets();
            }
        }
        let losses = block_loss::<S, V, H>(params, c, rows.block(start), prefetch);
        sink.add(&mut sums, losses, start, first);
    }
    sink.finish(&sums)
}

/// Every block of a backward (`!LOSS`) or fused task (`ahead` as for [`forward`]).
#[inline(always)]
fn gradient<S, V, H: Hinge, const LOSS: bool>(
    params: &Params<S::Real>,
    c: usize,
    rows: Rows<'_, S>,
    GradOut {
        g,
        upstream,
        grad,
        pitch,
    }: GradOut<'_, S::Real>,
    mut sink: Option<LossSink<'_, S::Real>>,
    ahead: bool,
) -> bool
where
    S: Load<V>,
    V: Vector<S::Real>,
{
    let prefetch = Prefetch::new::<S, V>(c, true, false);
    let mut sums = [0.0; INTERLEAVE];
    for (start, first) in blocks(rows.target.len(), V::LANES) {
        if ahead {
            rows.prefetch_ahead(start, V::LANES);
            prefetch_ahead(grad, start * pitch, V::LANES * pitch);
        }
        let up = match upstream {
            Upstream::Scalar(v) => V::splat(v),
            Upstream::PerRow(u) => V::load(&u[start..start + V::LANES]),
        };
        let grads = &mut grad[start * pitch..];
        let block = rows.block(start);
        let losses = block_grad::<S, V, H, LOSS>(params, c, block, prefetch, g, up, grads, pitch);
        if let (true, Some(sink)) = (LOSS, sink.as_mut()) {
            sink.add(&mut sums, losses, start, first);
        }
    }
    sink.is_some_and(|sink| sink.finish(&sums))
}

/// A large call's block of long rows, forward, in chunks of up to [`STREAMED_CHUNK_MAX_ROWS`]
/// rows. With `per = len / LANES`, lane `k` of a chunk's `i`-th block is row `k·per + i`: each
/// lane reads one contiguous run, prefetched [`STREAM_AHEAD`] values ahead (docs/DESIGN.md). The
/// losses go to a buffer, then to the sink in row order, with the adds of neighbouring blocks.
#[inline(always)]
fn streamed<S, V, H: Hinge>(
    params: &Params<S::Real>,
    c: usize,
    rows: Rows<'_, S>,
    sink: Option<LossSink<'_, S::Real>>,
    checks: bool,
) -> bool
where
    S: Load<V>,
    V: Vector<S::Real>,
{
    let Some(mut sink) = sink else { return false };
    let checks = checks && sink.is_interleaved();
    let Rows {
        input,
        pitch,
        target,
    } = rows;
    let n = target.len();
    let chunks = n.div_ceil(STREAMED_CHUNK_MAX_ROWS);
    let mut buffer = [S::Real::default(); STREAMED_CHUNK_MAX_ROWS];
    let mut lane_targets = [0i64; MAX_LANES];
    let mut lane_losses = [S::Real::default(); MAX_LANES];
    let hints = Prefetch::new::<S, V>(c, false, true);
    let mut sums = [0.0; INTERLEAVE];
    let mut start = 0;
    for chunk in 0..chunks {
        // Chunks within one row of each other in length, each at least `LANES` rows.
        let len = n / chunks + usize::from(chunk < n % chunks);
        let targets = target.range(start, start + len);
        if checks && targets.any_out_of_range(len, c) {
            return sink.reject_targets();
        }
        let rows = &input[start * pitch..];
        let per = len / V::LANES;
        // `x[y]` of `row`, which its block reads first.
        let target_score = |row: usize| {
            let at = row * pitch + targets.index(row, c);
            prefetch::<TO_L2, _>(rows.as_ptr().wrapping_add(at));
        };
        if per > 0 {
            // Each lane's run up to where its stream prefetch takes over, and its first `x[y]`.
            for k in 0..V::LANES {
                prefetch_span(rows, k * per * pitch, STREAM_AHEAD);
                target_score(k * per);
            }
        }
        for i in 0..per {
            for (k, t) in lane_targets[..V::LANES].iter_mut().enumerate() {
                *t = targets.value(k * per + i);
            }
            if i + 1 < per {
                // The next block's, where the lanes' streams have not arrived yet.
                for k in 0..V::LANES {
                    target_score(k * per + i + 1);
                }
            }
            let block = Block {
                rows: &rows[i * pitch..],
                pitch,
                lane_pitch: per * pitch,
                targets: Targets::I64(&lane_targets),
            };
            block_loss::<S, V, H>(params, c, block, hints).store(&mut lane_losses);
            for (k, &loss) in lane_losses[..V::LANES].iter().enumerate() {
                buffer[k * per + i] = loss;
            }
        }
        if per * V::LANES < len {
            // The last `len mod LANES` rows, in one block of the chunk's last `LANES` rows.
            let last = len - V::LANES;
            let block = Block {
                rows: &rows[last * pitch..],
                pitch,
                lane_pitch: pitch,
                targets: targets.from(last),
            };
            block_loss::<S, V, H>(params, c, block, hints).store(&mut buffer[last..]);
        }
        for (s, first) in blocks(len, V::LANES) {
            sink.add(&mut sums, V::load(&buffer[s..]), start + s, first);
        }
        start += len;
    }
    sink.finish(&sums)
}

/// Prefetches into L2 the lines of `values[start..start + len]`, which may lie past the slice's
/// end (`wrapping_add`: any address will do, none is dereferenced).
#[inline(always)]
fn prefetch_span<E>(values: &[E], start: usize, len: usize) {
    let at = values.as_ptr().wrapping_add(start).cast::<u8>();
    for line in (0..len * size_of::<E>()).step_by(CACHE_LINE) {
        prefetch::<TO_L2, _>(at.wrapping_add(line));
    }
}

/// [`prefetch_span`] of the values [`AHEAD`] bytes past `values[start..start + len]` (a whole
/// number of values of every element and target type): a block's share of the lines far ahead,
/// so that memory reads run ahead of the hardware prefetchers'.
#[inline(always)]
fn prefetch_ahead<E>(values: &[E], start: usize, len: usize) {
    prefetch_span(values, start + AHEAD / size_of::<E>(), len);
}

/// The starts of the blocks of `lanes` rows covering `n >= lanes` rows, each with the first lane
/// that is new: all blocks start at multiples of `lanes` but a last one that ends at row `n` and
/// overlaps its predecessor (its first lanes recompute rows already done, identically).
#[inline(always)]
fn blocks(n: usize, lanes: usize) -> impl Iterator<Item = (usize, usize)> {
    let full = n / lanes * lanes;
    let tail = (full < n).then_some((n - lanes, lanes - (n - full)));
    (0..full).step_by(lanes).map(|start| (start, 0)).chain(tail)
}

/// Where a task's block losses go, and the serial sum's accumulator. Small, so moving it costs a
/// register or two: the interleaved sums are the caller's `sums`, kept in its loops' registers.
enum LossSink<'a, T> {
    PerRow(&'a mut [T]),
    Sum(f64, &'a mut f64),
    Interleaved(&'a mut Partials),
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
            LossOut::Interleaved(partials) => Some(LossSink::Interleaved(partials)),
        }
    }

    #[inline(always)]
    fn is_interleaved(&self) -> bool {
        matches!(self, LossSink::Interleaved(..))
    }

    /// The losses of rows `start..start + LANES`; lanes before `first` repeat rows already added.
    #[inline(always)]
    fn add<V: Vector<T>>(
        &mut self,
        sums: &mut [f64; INTERLEAVE],
        losses: V,
        start: usize,
        first: usize,
    ) {
        match self {
            LossSink::PerRow(out) => losses.store(&mut out[start..start + V::LANES]),
            LossSink::Sum(sum, _) => {
                // One float64 chain in row order, as PyTorch sums.
                let mut lanes = LineAligned([0.0f64; MAX_LANES]);
                losses.widen(&mut lanes.0);
                for &l in &lanes.0[first..V::LANES] {
                    *sum += l;
                }
            }
            LossSink::Interleaved(_) => {
                // Sixteen chains that do not wait for each other.
                let mut lanes = LineAligned([0.0f64; MAX_LANES]);
                losses.widen(&mut lanes.0);
                let offset = start % INTERLEAVE;
                if first == 0 && offset + V::LANES <= INTERLEAVE {
                    // Every block but an overlapping last one: consecutive partials.
                    let sums = &mut sums[offset..offset + V::LANES];
                    for (s, &l) in sums.iter_mut().zip(&lanes.0) {
                        *s += l;
                    }
                } else {
                    for (k, &l) in lanes.0.iter().enumerate().take(V::LANES).skip(first) {
                        sums[(start + k) % INTERLEAVE] += l;
                    }
                }
            }
        }
    }

    /// Writes the task's sums; returns whether one came out NaN (then see [`sum_again`]).
    #[inline(always)]
    fn finish(self, sums: &[f64; INTERLEAVE]) -> bool {
        match self {
            LossSink::PerRow(_) => false,
            LossSink::Sum(sum, acc) => {
                *acc = sum;
                sum.is_nan()
            }
            LossSink::Interleaved(partials) => {
                partials.sums = *sums;
                sums.iter().any(|s| s.is_nan())
            }
        }
    }

    /// Ends a task that found a target out of range ([`Partials::bad_target`]); no sum again.
    #[inline(always)]
    fn reject_targets(self) -> bool {
        if let LossSink::Interleaved(partials) = self {
            partials.bad_target = true;
        }
        false
    }
}

/// One element type's entries on one backend: forward short, forward long, gradient short,
/// gradient long ("short": rows of at most one tile of its vectors); `None` where it has none.
#[doc(hidden)]
pub struct Entries<S: Element> {
    pub(crate) tile: usize,
    pub(crate) entries: [Option<Entry<S>>; 4],
}

impl<S: Element> Entries<S> {
    /// No entries: the x86 backends' slots on other architectures.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    pub(crate) const NONE: Self = Entries {
        tile: 0,
        entries: [None; 4],
    };

    /// The entry for operation `forward` (else a gradient) on rows of `c` classes.
    #[inline(always)]
    pub(crate) fn get(&self, forward: bool, c: usize) -> Option<Entry<S>> {
        self.entries[2 * usize::from(!forward) + usize::from(c > self.tile)]
    }
}

/// A backend's entries, one element type a line: wrappers compiling [`run`] with the backend's
/// vectors and the [`body`] bits named (`_`: no such entry), `#[target_feature]` where it needs
/// CPU features (`platform` calls them only after detecting those), else out of line, in one
/// [`Entries`] constant: `entries! { #[attribute] NAME = Element, Vectors, [fs, fl, gs, gl]; … }`.
macro_rules! entries {
    (#[$attr:meta] $($name:ident = $s:ty, $v:ty, [$($body:tt),*];)*) => {
        $(
            pub(super) const $name: schedule::Entries<$s> = schedule::Entries {
                tile: <$v as super::vector::Vector<<$s as super::element::Element>::Real>>::TILE,
                entries: [$(schedule::entries!(@one #[$attr] $s, $v, $body)),*],
            };
        )*
    };
    (@one #[$attr:meta] $s:ty, $v:ty, _) => { None };
    (@one #[$attr:meta] $s:ty, $v:ty, ($body:expr)) => {{
        #[$attr]
        fn entry(
            schedule: Schedule,
            params: &Params<<$s as super::element::Element>::Real>,
            c: usize,
            task: &mut Task<'_, $s>,
        ) {
            #[allow(unused_imports)]
            use schedule::body::*;
            schedule::run::<
                $s,
                $v,
                { $body & SHORT != 0 },
                { $body & STREAMS != 0 },
                { $body & GRAD != 0 },
            >(schedule, params, c, task)
        }
        Some(entry as schedule::Entry<$s>)
    }};
}
pub(crate) use entries;
