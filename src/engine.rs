//! Splits a checked task into fixed row blocks and runs them, serially or on the pool.

use crate::kernel::{self, GradOut, INTERLEAVE, Isa, LossOut, Params, Real, Task, Upstream};
use crate::parallel;

/// Below this many scores (`n·c`) a call runs on the calling thread alone, as one block: handing
/// work to other threads costs microseconds, more than such a call takes. It also keeps every
/// such call bit-identical to PyTorch's serial sum over rows.
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 17;

/// Scores per block (rounded up to whole rows) above the threshold: 64 KiB of f32, large enough
/// to amortise the hand-out, small enough to balance the threads and stay in L2.
pub const BLOCK_ELEMENTS: usize = 1 << 14;

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
/// count and kernel path, as the serial one.
#[inline]
pub fn execute<T: Real>(params: &Params<T>, c: usize, task: Task<'_, T>) {
    execute_with(Isa::selected(), params, c, task)
}

/// [`execute`] on a chosen kernel path (clamped to what the CPU has); benchmarks compare paths.
pub fn execute_with<T: Real>(isa: Isa, params: &Params<T>, c: usize, task: Task<'_, T>) {
    let n = task.target.len();
    if n.saturating_mul(c) < PARALLEL_MIN_ELEMENTS {
        kernel::run_with(isa, params, c, task);
        return;
    }
    let rows = rows_per_block(c);
    let blocks = n.div_ceil(rows);
    let Task {
        input,
        target,
        loss,
        grad,
    } = task;

    let (mut per_row, total) = match loss {
        LossOut::Skip => (None, None),
        LossOut::PerRow(out) => (Some(out.chunks_mut(rows)), None),
        LossOut::Sum(total) => (None, Some(total)),
        // The engine produces these for its blocks; a caller's own would need the whole task
        // as one block, which is what the kernel alone does.
        LossOut::Interleaved(_) => panic!("engine tasks take Skip, PerRow or Sum"),
    };
    let mut partials = vec![[0.0f64; INTERLEAVE]; if total.is_some() { blocks } else { 0 }];
    let mut partial_slots = partials.iter_mut();
    let mut grads =
        grad.map(|GradOut { g, upstream, grad }| (g, upstream, grad.chunks_mut(rows * c)));

    let mut tasks = Vec::with_capacity(blocks);
    for (b, (input, target)) in input.chunks(rows * c).zip(target.chunks(rows)).enumerate() {
        let loss = match (per_row.as_mut(), partial_slots.next()) {
            (Some(out), _) => LossOut::PerRow(out.next().expect("one loss chunk per block")),
            (None, Some(partial)) => LossOut::Interleaved(partial),
            (None, None) => LossOut::Skip,
        };
        let grad = grads.as_mut().map(|(g, upstream, chunks)| GradOut {
            g: *g,
            upstream: match upstream {
                Upstream::Scalar(v) => Upstream::Scalar(*v),
                Upstream::PerRow(u) => Upstream::PerRow(&u[b * rows..b * rows + target.len()]),
            },
            grad: chunks.next().expect("one gradient chunk per block"),
        });
        tasks.push(Task {
            input,
            target,
            loss,
            grad,
        });
    }
    parallel::for_each(tasks, |task| kernel::run_with(isa, params, c, task));

    if let Some(total) = total {
        *total = partials
            .iter()
            .fold(0.0, |acc, block| acc + reduce_block(block));
    }
}

/// A block's sum from its interleaved partials: `((0 + p[0]) + p[1]) + … + p[15]` in float64.
pub fn reduce_block(partials: &[f64; INTERLEAVE]) -> f64 {
    partials.iter().fold(0.0, |acc, &p| acc + p)
}
