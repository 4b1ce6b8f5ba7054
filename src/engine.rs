//! Splits a checked task into fixed row blocks and runs them, serially or on the pool.

use crate::error::{Error, check_targets};
use crate::kernel::{
    self, GradOut, INTERLEAVE, Isa, LineAligned, LossOut, Params, Partials, Real, Task, Upstream,
    sum,
};
use crate::parallel;
use std::sync::atomic::{AtomicBool, Ordering};

/// Below this many scores (`n·c`) a call runs on the calling thread alone, as one block: handing
/// work to other threads costs microseconds, more than such a call takes. It also keeps every
/// such call bit-identical to PyTorch's serial sum over rows.
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 17;

/// Scores per block (rounded up to whole rows) above the threshold: 256 KiB of f32, large
/// enough to amortise the hand-out and the per-block work around the kernel, small enough to
/// balance the threads (16 blocks at a million scores) and stay in a 1 MiB L2 with its
/// gradient. Measured on Zen 4 against 64 KiB blocks (in-process A/B): on 2 threads forward
/// 1.08–1.14× faster at 4194304x10 and 262144x10, 1.05× at 65536x100 and 32768x1000, backward
/// and fused 1.04–1.11× at all four; on 1 thread within ±2% but 4194304x10 backward and fused
/// 1.03–1.05× faster, 262144x10 backward 1.06×. 128 KiB gained less on 2 threads (forward 1.09×
/// at 4194304x10).
pub const BLOCK_ELEMENTS: usize = 1 << 16;

/// Rows per block for `c` classes, rounded up to a multiple of 16. Depends
/// on `c` alone, so the blocks, and with them every bit of the result, are the same whatever the
/// thread count.
pub fn rows_per_block(c: usize) -> usize {
    BLOCK_ELEMENTS
        .div_ceil(c.max(1))
        .next_multiple_of(BLOCK_ROW_MULTIPLE)
}

/// Blocks hold whole groups of the widest vector's rows (16 `f32` lanes): a block of, say, 17
/// rows would make the vector kernels run a second, overlapping group of 16 for one row.
const BLOCK_ROW_MULTIPLE: usize = 16;

/// Runs `task` (targets already checked). With [`LossOut::Sum`], large inputs sum each block's
/// rows into [`INTERLEAVE`] float64 partials (row `i` of the block into partial `i % 16`, in
/// row order), then each block's partials in index order, then the blocks in block order: see
/// [`reduce_block`]. A single chain of dependent adds per block would cap the small-`c`
/// kernels well below memory speed; this sum is as fixed, and as independent of the thread
/// count and kernel path, as the serial one. Smaller calls give PyTorch's serial sum itself,
/// computed without its chain wherever that provably changes no bit (see [`sum_by_blocks`]).
#[inline]
pub fn execute<T: Real>(params: &Params<T>, c: usize, task: Task<'_, T>) {
    execute_with(Isa::selected(), params, c, task)
}

/// [`execute`] on a chosen kernel path (clamped to what the CPU has); benchmarks compare paths.
///
/// Always inlined, with the parallel part kept out of line: at 32×10 a call takes about 100 ns,
/// and each layer between the C entry point and the kernel that is a call of its own (arguments
/// and the task spilled and reloaded, registers saved) cost several percent of it.
#[inline(always)]
pub fn execute_with<T: Real>(isa: Isa, params: &Params<T>, c: usize, task: Task<'_, T>) {
    let n = task.target.len();
    if n.saturating_mul(c) >= PARALLEL_MIN_ELEMENTS {
        execute_in_blocks(isa, params, c, task, false);
        return;
    }
    // The scalar path stays PyTorch's loops transcribed, chain and all. The task goes on whole:
    // it is in memory already (the parallel path takes it by reference), and moving a part of
    // it out copied that part with loads wider than the stores that had just written it, which
    // the CPU cannot forward (a stall of 5% of a 32x10 forward call).
    if T::SUMS_IN_ANY_ORDER
        && n >= SUM_MIN_ROWS
        && matches!(task.loss, LossOut::Sum(_))
        && isa.clamped() != Isa::Scalar
    {
        // The smallest buffer that holds the call, up to the longest block.
        if n <= SUM_BLOCK_ROWS[0] {
            sum_by_blocks::<T, { SUM_BLOCK_ROWS[0] }>(isa, params, c, task)
        } else if n <= SUM_BLOCK_ROWS[1] {
            sum_by_blocks::<T, { SUM_BLOCK_ROWS[1] }>(isa, params, c, task)
        } else {
            sum_by_blocks::<T, { SUM_BLOCK_ROWS[2] }>(isa, params, c, task)
        }
    } else {
        kernel::run_with(isa, params, c, task)
    }
}

/// [`execute`] for a task whose targets are not checked yet: checks them, and runs the task only
/// if every one lies in `[0, c)`; nothing is written otherwise. Most tasks check all targets in
/// one pass first. A large task whose only output is the summed loss writes nothing until its
/// end (the caller writes the sum), so there each block checks its own targets, on every
/// thread of the pool, where the pass runs on the calling thread alone: just before its kernel
/// reads them (from cache then), or, where the kernel checks them itself, as it loads each
/// vector of them (see [`kernel::Partials::bad_target`]). Measured on Zen 4 (in-process A/B,
/// `f32`): against the pass, forward 4194304x10 2–3% faster on 1 thread and 6% on 2, 262144x10
/// 1–6% and 7%, 32768x1000 3% on 1 with the check before each block's kernel; the check inside
/// the kernel made 4194304x10 another 1.05–1.07× faster on 1 thread and 1.13× on 2.
#[inline(always)]
pub fn execute_checked<T: Real>(
    params: &Params<T>,
    c: usize,
    task: Task<'_, T>,
) -> Result<(), Error> {
    let target = task.target;
    if target.len().saturating_mul(c) >= PARALLEL_MIN_ELEMENTS
        && task.grad.is_none()
        && matches!(task.loss, LossOut::Sum(_))
    {
        if execute_in_blocks(Isa::selected(), params, c, task, true) {
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

/// A large call: fixed row blocks, on the pool. With `check_targets`, each block checks its
/// targets, before its kernel or inside it (see [`kernel::Partials::bad_target`]), and runs
/// only while all are in range; returns whether every block ran to its end.
///
/// Allocation-free but for one thing: a summed call that the pool's workers share keeps each
/// block's partial sums on the heap until the end, to add them in block order. Where that
/// allocation fails, or the calling thread runs alone anyway, the blocks run one after another
/// with their partials on the stack, added in the same order: the same bits (see
/// [`sum_serially`]).
#[inline(never)]
fn execute_in_blocks<T: Real>(
    isa: Isa,
    params: &Params<T>,
    c: usize,
    task: Task<'_, T>,
    check_targets: bool,
) -> bool {
    let n = task.target.len();
    let rows = rows_per_block(c);
    let blocks = n.div_ceil(rows);
    let Task {
        input,
        target,
        loss,
        grad,
    } = task;
    let paired = pairs_blocks::<T>(isa, c, n, grad.is_some());
    let runner = BlockRunner {
        isa,
        params,
        c,
        streamed: streams_blocks::<T>(isa, c, n, grad.is_some()),
        checks_before_kernel: check_targets && !kernel::checks_own_targets::<T>(isa, c),
    };
    let team = parallel::Team::for_items(blocks.div_ceil(1 + usize::from(paired)));
    let block_parts = split(input, target, grad, rows, c);

    let (mut per_row, mut total) = match loss {
        LossOut::Skip => (None, None),
        LossOut::PerRow(out) => (Some(out.chunks_mut(rows)), None),
        LossOut::Sum(total) => (None, Some(total)),
        // The engine produces these for its blocks; a caller's own would need the whole task
        // as one block, which is what the kernel alone does.
        LossOut::Interleaved(_) => panic!("engine tasks take Skip, PerRow or Sum"),
    };
    let mut partials = Vec::new();
    if let Some(total) = total.as_deref_mut() {
        if team.is_alone() || partials.try_reserve_exact(blocks).is_err() {
            return match sum_serially(&runner, paired, block_parts) {
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
            target,
            loss,
            grad,
        }
    });
    let all_targets_valid = AtomicBool::new(true);
    team.for_each(work_items(paired, tasks), |(first, second)| {
        // After a bad target anywhere, the rest is wasted work.
        if check_targets && !all_targets_valid.load(Ordering::Relaxed) {
            return;
        }
        if !runner.run(first, second) {
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

/// What runs a large call's work items: the call's kernel path, parameters and choices.
struct BlockRunner<'p, T> {
    isa: Isa,
    params: &'p Params<'p, T>,
    c: usize,
    /// Whether the blocks run [`kernel::run_streamed_with`] (see [`streams_blocks`]).
    streamed: bool,
    /// Whether each block's targets are checked just before its kernel runs (a summed forward
    /// call whose kernel does not check them itself).
    checks_before_kernel: bool,
}

impl<T: Real> BlockRunner<'_, T> {
    /// Runs a work item: a block task, or a pair of them. Returns whether their targets were in
    /// range, as far as they are checked (see [`kernel::Partials::bad_target`]); nothing runs
    /// once one is found out of range before the kernel.
    #[inline(always)]
    fn run(&self, first: Task<'_, T>, second: Option<Task<'_, T>>) -> bool {
        let bad_targets = |task: &Task<'_, T>| {
            self.checks_before_kernel
                && kernel::first_bad_target_chunk_with(self.isa, task.target, self.c).is_some()
        };
        if bad_targets(&first) || second.as_ref().is_some_and(bad_targets) {
            return false;
        }
        run_reporting_targets(self.isa, self.params, self.c, self.streamed, first, second)
    }
}

/// A large summed call on the calling thread alone: its work items one after another, each
/// block's interleaved partials on the stack, and each block's sum added to the total as soon as
/// it is known. Those are the adds, in the order, of the reduction after a run on the pool
/// (`((0 + block 0) + block 1) + …`), so the bits are the same. Allocates nothing. Returns
/// `None` when a block met a target out of range.
fn sum_serially<'a, T: Real>(
    runner: &BlockRunner<'_, T>,
    paired: bool,
    mut blocks: impl Iterator<Item = (&'a [T], &'a [i64], Option<GradOut<'a, T>>)>,
) -> Option<f64> {
    let mut total = 0.0f64;
    while let Some((input, target, grad)) = blocks.next() {
        let second = if paired { blocks.next() } else { None };
        let pair = second.is_some();
        let mut partials = [Partials::ZERO; 2];
        let [first_sums, second_sums] = &mut partials;
        let first = Task {
            input,
            target,
            loss: LossOut::Interleaved(first_sums),
            grad,
        };
        let second = second.map(|(input, target, grad)| Task {
            input,
            target,
            loss: LossOut::Interleaved(second_sums),
            grad,
        });
        if !runner.run(first, second) {
            return None;
        }
        total = sum::add(total, reduce_block(&partials[0].sums));
        if pair {
            total = sum::add(total, reduce_block(&partials[1].sums));
        }
    }
    Some(total)
}

/// From this many bytes of scores on, calls whose kernels run tasks in pairs
/// ([`kernel::runs_pairs`]) hand out pairs of neighbouring blocks, so that each thread reads
/// two streams from memory. Smaller inputs stay in cache between calls, where pairs gain
/// nothing. Measured on Zen 4 (32 MiB L3, in-process A/B, 1 thread, forward): 262144x10
/// (10 MiB) 1.01x slower in pairs, 524288x10 (20 MiB) 1.1x faster.
pub const PAIRED_MIN_BYTES: usize = 16 << 20;

/// From this many bytes of scores on, a call's blocks run [`kernel::run_streamed_with`]: its
/// long rows are read in streams, each prefetched ahead, which pays from memory but costs in
/// cache. Measured on Zen 4 (32 MiB L3, in-process A/B, 1 thread, forward, `f32`, AVX-512):
/// 32768x1000 (131 MB) 1.2x faster streamed, 4096x1000 (16 MB, in L3 between calls) 1.07x
/// slower, 1024x1000 1.08x slower.
pub const STREAMED_MIN_BYTES: usize = PAIRED_MIN_BYTES;

/// Pairs also need this many blocks per thread of the pool: they halve the work items, which
/// would upset the balance of a call of few blocks on many threads.
pub const PAIRED_MIN_BLOCKS_PER_THREAD: usize = 8;

/// Whether a large call of `n` rows of `c` classes, with or without a gradient, runs its blocks
/// in pairs on `isa` with the pool's current thread count (see [`PAIRED_MIN_BYTES`]). Either
/// way every block computes the same bits.
pub fn pairs_blocks<T: Real>(isa: Isa, c: usize, n: usize, with_gradient: bool) -> bool {
    score_bytes::<T>(c, n) >= PAIRED_MIN_BYTES
        && n.div_ceil(rows_per_block(c)) >= PAIRED_MIN_BLOCKS_PER_THREAD * parallel::num_threads()
        && kernel::runs_pairs::<T>(isa, c, with_gradient)
}

/// Whether a large call of `n` rows of `c` classes, with or without a gradient, runs its blocks
/// through [`kernel::run_streamed_with`] on `isa`, and they stream there (see
/// [`STREAMED_MIN_BYTES`]). Either way every block computes the same bits.
pub fn streams_blocks<T: Real>(isa: Isa, c: usize, n: usize, with_gradient: bool) -> bool {
    score_bytes::<T>(c, n) >= STREAMED_MIN_BYTES
        && kernel::runs_streamed::<T>(isa, c, rows_per_block(c).min(n), with_gradient)
}

/// The bytes of the scores of `n` rows of `c` classes (saturating).
fn score_bytes<T>(c: usize, n: usize) -> usize {
    n.saturating_mul(c).saturating_mul(size_of::<T>())
}

/// The work items of a call's block tasks: the tasks one by one, or in pairs of neighbours (a
/// last odd one alone).
fn work_items<'a, T: Real>(
    paired: bool,
    mut tasks: impl Iterator<Item = Task<'a, T>>,
) -> impl Iterator<Item = (Task<'a, T>, Option<Task<'a, T>>)> {
    std::iter::from_fn(move || {
        let first = tasks.next()?;
        let second = if paired { tasks.next() } else { None };
        Some((first, second))
    })
}

/// Runs a work item's block task, or pair of them (`streamed` for the blocks of a call of
/// [`STREAMED_MIN_BYTES`] or more); returns whether their targets were in range (as far as the
/// tasks check them: see [`kernel::Partials::bad_target`]).
#[inline(always)]
fn run_reporting_targets<T: Real>(
    isa: Isa,
    params: &Params<T>,
    c: usize,
    streamed: bool,
    mut first: Task<'_, T>,
    second: Option<Task<'_, T>>,
) -> bool {
    // The losses reborrowed, so that they can be read again after the run.
    let first_run = Task {
        loss: first.loss.reborrow(),
        ..first
    };
    let Some(mut second) = second else {
        if streamed {
            kernel::run_streamed_with(isa, params, c, first_run);
        } else {
            kernel::run_with(isa, params, c, first_run);
        }
        return !found_bad_target(&first.loss);
    };
    let second_run = Task {
        loss: second.loss.reborrow(),
        ..second
    };
    kernel::run_pair_with(isa, params, c, first_run, second_run);
    !found_bad_target(&first.loss) && !found_bad_target(&second.loss)
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

/// Fewer rows than one vector of the widest kernel ([`BLOCK_ROW_MULTIPLE`]): the kernels hand
/// such calls to the scalar reference, whose chain of so few adds costs less than the buffer
/// and the pass over it (7x3 forward measured 6% slower that way).
const SUM_MIN_ROWS: usize = BLOCK_ROW_MULTIPLE;

/// Rows per block of a serial summed call, whose losses wait in a buffer on the stack to be
/// summed: the first size that holds the whole call, else the last. Zeroing a buffer larger
/// than the call costs more than its sum saves at 32 or 64 rows (10–20%); each call to the
/// kernel costs a few tens of nanoseconds, so long batches take long blocks (4 KiB of `f32`).
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
/// calling thread. Each block of `ROWS` rows writes its losses to a buffer, which is added to
/// the running total in any order when that provably gives the chain's bits (almost always),
/// else one add after another ([`Real::sum_in_any_order`]). At 10 classes the chain alone would
/// set the pace of the whole call.
fn sum_by_blocks<T: Real, const ROWS: usize>(
    isa: Isa,
    params: &Params<T>,
    c: usize,
    task: Task<'_, T>,
) {
    let Task {
        input,
        target,
        loss: LossOut::Sum(out),
        grad,
    } = task
    else {
        unreachable!("sum_by_blocks runs summing tasks only");
    };
    // Zeros past a block's losses pad it to whole vectors of the sum and change nothing.
    let mut buffer = LineAligned([T::ZERO; ROWS]);
    let buffer = &mut buffer.0;
    let n = target.len();
    if n <= ROWS {
        // One block: the parts go to the kernel as they are, without the splitting below, whose
        // moves of them cost a tenth of a 32x10 call.
        *out = add_block(isa, params, c, input, target, grad, buffer, 0.0);
        return;
    }
    let mut total = 0.0f64;
    for (b, (input, target, grad)) in split(input, target, grad, ROWS, c).enumerate() {
        if b > 0 {
            // A short last block: the previous block's losses are still there.
            let rows = target.len();
            buffer[rows..rows.next_multiple_of(sum::SUM_LANES)].fill(T::ZERO);
        }
        total = add_block(isa, params, c, input, target, grad, buffer, total);
    }
    *out = total;
}

/// `total` plus the losses of one block of at most `buffer.len()` rows, which the kernel writes
/// to `buffer`; the zeros past them pad the sum's last vector.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn add_block<T: Real>(
    isa: Isa,
    params: &Params<T>,
    c: usize,
    input: &[T],
    target: &[i64],
    grad: Option<GradOut<'_, T>>,
    buffer: &mut [T],
    total: f64,
) -> f64 {
    let rows = target.len();
    let loss = LossOut::PerRow(&mut buffer[..rows]);
    kernel::run_with(
        isa,
        params,
        c,
        Task {
            input,
            target,
            loss,
            grad,
        },
    );
    let padded = rows.next_multiple_of(sum::SUM_LANES);
    T::sum_in_any_order(isa, total, &buffer[..padded])
        .unwrap_or_else(|| sum::chain(total, &buffer[..rows]))
}

/// A task's scores, targets and gradient part cut into consecutive blocks of `rows` rows (the
/// last one shorter).
fn split<'a, T: Real>(
    input: &'a [T],
    target: &'a [i64],
    grad: Option<GradOut<'a, T>>,
    rows: usize,
    c: usize,
) -> impl Iterator<Item = (&'a [T], &'a [i64], Option<GradOut<'a, T>>)> {
    // Row ranges by addition rather than `chunks` zipped together, whose lengths cost integer
    // divisions (tens of cycles each) at the start of every short call.
    let n = target.len();
    let mut start = 0;
    let mut rest = grad;
    std::iter::from_fn(move || {
        if start >= n {
            return None;
        }
        let end = n.min(start + rows);
        let grad = rest.as_mut().map(|GradOut { g, upstream, grad }| {
            let (block, tail) = std::mem::take(grad).split_at_mut((end - start) * c);
            *grad = tail;
            GradOut {
                g: *g,
                upstream: match *upstream {
                    Upstream::Scalar(v) => Upstream::Scalar(v),
                    Upstream::PerRow(u) => Upstream::PerRow(&u[start..end]),
                },
                grad: block,
            }
        });
        let block = (&input[start * c..end * c], &target[start..end], grad);
        start = end;
        Some(block)
    })
}

/// A block's sum from its interleaved partials: `((0 + p[0]) + p[1]) + … + p[15]` in float64,
/// the first NaN kept ([`sum::add`]).
pub fn reduce_block(partials: &[f64; INTERLEAVE]) -> f64 {
    partials.iter().fold(0.0, |acc, &p| sum::add(acc, p))
}
