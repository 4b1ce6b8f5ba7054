//! Splits a checked task into fixed row blocks and runs them, serially or on the pool, each as
//! its call's [`Plan`] says.

use crate::error::{Error, check_targets};
use crate::kernel::{
    GradOut, INTERLEAVE, Isa, Kernels, LineAligned, LossOut, Op, Params, Partials, Plan, Targets,
    Task, sum,
};
use crate::parallel;
use std::sync::atomic::{AtomicBool, Ordering};

/// Below this many scores (`n·c`) a call runs on the calling thread alone: handing work out costs
/// microseconds, more than such a call takes. Such calls give PyTorch's serial sum bit for bit.
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 17;

/// Scores per block (rounded up to whole rows) above the threshold: 256 KiB of f32, enough to
/// amortise the per-block work, small enough to balance threads and fit a 1 MiB L2 with gradient.
pub const BLOCK_ELEMENTS: usize = 1 << 16;

/// Rows per block for `c` classes, rounded up to a multiple of 16. Depends on `c` alone, so the
/// blocks, and with them every bit of the result, are the same whatever the thread count.
pub fn rows_per_block(c: usize) -> usize {
    BLOCK_ELEMENTS
        .div_ceil(c.max(1))
        .next_multiple_of(BLOCK_ROW_MULTIPLE)
}

/// Blocks hold whole groups of the widest vector's rows (16 `f32` lanes): a block of, say, 17
/// rows would make the vector kernels run a second, overlapping group of 16 for one row.
const BLOCK_ROW_MULTIPLE: usize = 16;

/// Runs `task` (targets already checked). A large [`LossOut::Sum`] adds each block's
/// [`INTERLEAVE`] partials, then the blocks, in a fixed order, whatever the threads and path;
/// smaller calls give PyTorch's serial sum ([`sum_by_blocks`]; docs/DESIGN.md, "Summation orders").
#[inline]
pub fn execute<S: Kernels>(params: &Params<S::Real>, c: usize, task: &mut Task<'_, S>) {
    execute_with(Isa::selected(), params, c, task)
}

/// [`execute`] on a chosen kernel path (clamped to what the CPU has), for tests and benchmarks.
/// Always inlined, the parallel part out of line: every extra layer of call slows small calls.
#[inline(always)]
pub fn execute_with<S: Kernels>(
    isa: Isa,
    params: &Params<S::Real>,
    c: usize,
    task: &mut Task<'_, S>,
) {
    let n = task.rows();
    if n.saturating_mul(c) >= PARALLEL_MIN_ELEMENTS {
        execute_in_blocks(isa, params, c, task.reborrow(), false);
        return;
    }
    let plan = Plan::<S>::new(isa, c, Op::of(task));
    if matches!(task.loss, LossOut::Sum(_)) && plan.sums_in_any_order(n) {
        // The smallest buffer that holds the call, up to the longest block.
        if n <= SUM_BLOCK_ROWS[0] {
            sum_by_blocks::<S, { SUM_BLOCK_ROWS[0] }>(&plan, params, c, task)
        } else if n <= SUM_BLOCK_ROWS[1] {
            sum_by_blocks::<S, { SUM_BLOCK_ROWS[1] }>(&plan, params, c, task)
        } else {
            sum_by_blocks::<S, { SUM_BLOCK_ROWS[2] }>(&plan, params, c, task)
        }
    } else {
        // By reference from the caller's task, where its fields were written: a task moved
        // whole was copied wider than its fields were written (loads that cannot forward).
        plan.run(params, c, task)
    }
}

/// [`execute`] for unchecked targets: runs the task only if every target lies in `[0, c)`, else
/// writes nothing. Most tasks check all targets in one pass first; a large summed forward task
/// writes nothing until its end, so its blocks check their own on the pool (docs/DESIGN.md).
#[inline(always)]
pub fn execute_checked<S: Kernels>(
    params: &Params<S::Real>,
    c: usize,
    task: &mut Task<'_, S>,
) -> Result<(), Error> {
    let target = task.target;
    if target.len().saturating_mul(c) >= PARALLEL_MIN_ELEMENTS
        && task.grad.is_none()
        && matches!(task.loss, LossOut::Sum(_))
    {
        if execute_in_blocks(Isa::selected(), params, c, task.reborrow(), true) {
            return Ok(());
        }
        // A block found a bad target: the whole scan names the first one.
        check_targets(target, c)?;
        unreachable!("a block found a bad target that the whole scan did not");
    }
    check_targets(target, c)?;
    execute(params, c, task);
    Ok(())
}

/// A large call: fixed row blocks, on the pool. With `unchecked_targets` (summed forward only),
/// each block checks its targets before reading them, and blocks stop after a bad one; returns
/// whether every block ran to its end. A summed call on the pool keeps each block's partials on
/// the heap (its one allocation); where that fails, or the caller runs alone, [`sum_serially`]
/// keeps them on the stack, added in the same order: the same bits.
#[inline(never)]
fn execute_in_blocks<S: Kernels>(
    isa: Isa,
    params: &Params<S::Real>,
    c: usize,
    task: Task<'_, S>,
    unchecked_targets: bool,
) -> bool {
    let n = task.rows();
    let rows = rows_per_block(c);
    let blocks = n.div_ceil(rows);
    let plan = Plan::<S>::for_blocks(isa, c, Op::of(&task), (n, rows));
    assert!(!unchecked_targets || plan.schedule().checks_targets);
    let Task {
        input,
        pitch,
        target,
        loss,
        grad,
    } = task;
    let team = parallel::Team::for_items(blocks);
    let block_parts = split((input, pitch), target, grad, rows, c);
    let (mut per_row, mut total) = match loss {
        LossOut::Skip => (None, None),
        LossOut::PerRow(out) => (Some(out.chunks_mut(rows)), None),
        LossOut::Sum(total) => (None, Some(total)),
        // Only the engine's own blocks take these; a caller wanting one runs the kernel directly.
        LossOut::Interleaved(_) => panic!("engine tasks take Skip, PerRow or Sum"),
    };
    let mut partials = Vec::new();
    if let Some(total) = total.as_deref_mut() {
        if team.is_alone() || partials.try_reserve_exact(blocks).is_err() {
            return match sum_serially(&plan, params, c, pitch, block_parts) {
                Some(sum) => {
                    *total = sum;
                    true
                }
                None => false,
            };
        }
        partials.resize(blocks, Partials::ZERO);
    }
    let mut partial_slots = partials.iter_mut();
    let tasks = block_parts.map(|(input, target, grad)| {
        let loss = match (per_row.as_mut(), partial_slots.next()) {
            (Some(out), _) => LossOut::PerRow(out.next().expect("one loss chunk per block")),
            (None, Some(partial)) => LossOut::Interleaved(partial),
            (None, None) => LossOut::Skip,
        };
        Task {
            input,
            pitch,
            target,
            loss,
            grad,
        }
    });
    let all_targets_valid = AtomicBool::new(true);
    team.for_each(tasks, |task| {
        // After a bad target anywhere, the rest is wasted work.
        if unchecked_targets && !all_targets_valid.load(Ordering::Relaxed) {
            return;
        }
        if !run_reporting_targets(&plan, params, c, task) {
            all_targets_valid.store(false, Ordering::Relaxed);
        }
    });
    if let Some(total) = total {
        *total = partials
            .iter()
            .fold(0.0, |acc, block| sum::add(acc, reduce_block(&block.sums)));
    }
    all_targets_valid.into_inner()
}

/// A large summed call on the calling thread alone, allocating nothing: each block's partials on
/// the stack and its sum added to the total at once, `((0 + b0) + b1) + …`: the adds and order
/// of the reduction after a run on the pool, so the same bits. `None` on a target out of range.
fn sum_serially<'a, S: Kernels>(
    plan: &Plan<S>,
    params: &Params<S::Real>,
    c: usize,
    pitch: usize,
    blocks: impl Iterator<Item = Block<'a, S>>,
) -> Option<f64> {
    let mut total = 0.0f64;
    for (input, target, grad) in blocks {
        let mut partials = Partials::ZERO;
        let task = Task {
            input,
            pitch,
            target,
            loss: LossOut::Interleaved(&mut partials),
            grad,
        };
        if !run_reporting_targets(plan, params, c, task) {
            return None;
        }
        total = sum::add(total, reduce_block(&partials.sums));
    }
    Some(total)
}

/// A block's scores, targets and gradient part.
type Block<'a, S> = (
    &'a [S],
    Targets<'a>,
    Option<GradOut<'a, <S as crate::kernel::Element>::Real>>,
);

/// Runs a block task; returns whether its targets were in range (as far as the task checks
/// them: see [`Partials::bad_target`]).
#[inline(always)]
fn run_reporting_targets<S: Kernels>(
    plan: &Plan<S>,
    params: &Params<S::Real>,
    c: usize,
    mut task: Task<'_, S>,
) -> bool {
    plan.run(params, c, &mut task);
    !found_bad_target(&task.loss)
}

/// Whether a task that checked its own targets met a bad one.
#[inline(always)]
fn found_bad_target<T>(loss: &LossOut<'_, T>) -> bool {
    matches!(
        loss,
        LossOut::Interleaved(Partials {
            bad_target: true,
            ..
        })
    )
}

/// Rows per block of a serial summed call (losses in a stack buffer): the first size holding the
/// call (zeroing a larger one costs more than the sum saves), else the last; each kernel call
/// has a fixed cost, so long batches take long blocks (4 KiB of `f32`).
const SUM_BLOCK_ROWS: [usize; 3] = [32, 256, 1024];

// Whole vectors of the sum, so that only the last block needs padding; whole groups of the
// widest kernel vector's rows, so that only the last block has a tail.
const _: () = {
    let mut i = 0;
    while i < SUM_BLOCK_ROWS.len() {
        assert!(
            SUM_BLOCK_ROWS[i].is_multiple_of(sum::SUM_LANES)
                && SUM_BLOCK_ROWS[i].is_multiple_of(BLOCK_ROW_MULTIPLE)
        );
        i += 1;
    }
};

/// PyTorch's serial float64 sum of the row losses, `((0 + l0) + l1) + …`, for a call on the
/// calling thread: each block of `ROWS` rows writes its losses to a buffer, added to the total in
/// any order where that provably gives the chain's bits ([`crate::kernel::sum_in_any_order`]),
/// else as the chain.
fn sum_by_blocks<S: Kernels, const ROWS: usize>(
    plan: &Plan<S>,
    params: &Params<S::Real>,
    c: usize,
    task: &mut Task<'_, S>,
) {
    let (input, pitch, target) = (task.input, task.pitch, task.target);
    let grad = task.grad.as_mut().map(GradOut::reborrow);
    let LossOut::Sum(out) = &mut task.loss else {
        unreachable!("sum_by_blocks runs summing tasks only");
    };
    // Zeros past a block's losses pad it to whole vectors of the sum and change nothing.
    let mut buffer = LineAligned([<S::Real as crate::kernel::Real>::ZERO; ROWS]);
    let buffer = &mut buffer.0;
    let n = target.len();
    let block = |input, target, grad, buffer: &mut [S::Real], total| {
        add_block(plan, params, c, (input, pitch, target), grad, buffer, total)
    };
    if n <= ROWS {
        // One block: the parts go to the kernel as they are, without the splitting below.
        **out = block(input, target, grad, buffer, 0.0);
        return;
    }
    let mut total = 0.0f64;
    for (b, (input, target, grad)) in split((input, pitch), target, grad, ROWS, c).enumerate() {
        if b > 0 {
            // A short last block: the previous block's losses are still there.
            let rows = target.len();
            buffer[rows..rows.next_multiple_of(sum::SUM_LANES)]
                .fill(<S::Real as crate::kernel::Real>::ZERO);
        }
        total = block(input, target, grad, buffer, total);
    }
    **out = total;
}

/// `total` plus the losses of one block of at most `buffer.len()` rows, which the kernel writes
/// to `buffer`; the zeros past them pad the sum's last vector.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
#[inline(always)]
fn add_block<S: Kernels>(
    plan: &Plan<S>,
    params: &Params<S::Real>,
    c: usize,
    (input, pitch, target): (&[S], usize, Targets<'_>),
    grad: Option<GradOut<'_, S::Real>>,
    buffer: &mut [S::Real],
    total: f64,
) -> f64 {
    let rows = target.len();
    let loss = LossOut::PerRow(&mut buffer[..rows]);
    plan.run(
        params,
        c,
        &mut Task {
            input,
            pitch,
            target,
            loss,
            grad,
        },
    );
    let padded = rows.next_multiple_of(sum::SUM_LANES);
    crate::kernel::sum_in_any_order(plan.isa(), total, &buffer[..padded])
        .unwrap_or_else(|| sum::chain(total, &buffer[..rows]))
}

/// A task's scores (`pitch` values a row), targets and gradient part cut into consecutive
/// blocks of `rows` rows (the last one shorter).
#[allow(clippy::type_complexity)]
fn split<'a, S: Kernels>(
    (input, pitch): (&'a [S], usize),
    target: Targets<'a>,
    grad: Option<GradOut<'a, S::Real>>,
    rows: usize,
    c: usize,
) -> impl Iterator<Item = Block<'a, S>> {
    // Row ranges by addition, not zipped `chunks`, whose lengths cost divisions in short calls.
    let n = target.len();
    let mut start = 0;
    let mut rest = grad;
    std::iter::from_fn(move || {
        if start >= n {
            return None;
        }
        let end = n.min(start + rows);
        let grad = rest.as_mut().map(
            |GradOut {
                 g,
                 upstream,
                 grad,
                 pitch,
             }| {
                let taken = ((end - start) * *pitch).min(grad.len());
                let (block, tail) = std::mem::take(grad).split_at_mut(taken);
                *grad = tail;
                GradOut {
                    g: *g,
                    upstream: upstream.range(start, end),
                    grad: block,
                    pitch: *pitch,
                }
            },
        );
        let scores = &input[start * pitch..((end - 1) * pitch + c).min(input.len())];
        let block = (scores, target.range(start, end), grad);
        start = end;
        Some(block)
    })
}

/// A block's sum from its interleaved partials: `((0 + p[0]) + p[1]) + … + p[15]` in float64,
/// the first NaN kept ([`sum::add`]).
pub fn reduce_block(partials: &[f64; INTERLEAVE]) -> f64 {
    partials.iter().fold(0.0, |acc, &p| sum::add(acc, p))
}
