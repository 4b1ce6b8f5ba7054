//! The scalar reference: PyTorch 2.x CPU's `multi_margin_loss` loops
//! (`aten/src/ATen/native/LossMultiMargin.cpp`) transcribed operation for operation.
//!
//! Every faster kernel must give the same bits as this one; tests compare them.

use super::sum::add;
use super::{GradOut, INTERLEAVE, LossOut, Params, Power, Real, Task, Upstream};

/// The loss of one row: `(Σ_{j≠y, z>0} w[y]·z^p) / c`, summed in `T` in increasing `j`.
#[inline(always)]
pub fn row_loss<T: Real>(params: &Params<T>, row: &[T], y: usize) -> T {
    // PyTorch evaluates `margin - input_target + input_data[d]` left to right.
    let base = params.margin - row[y];
    let weight = params.weight.map(|w| w[y]);
    let mut sum = T::ZERO;
    for (j, &x) in row.iter().enumerate() {
        if j == y {
            continue;
        }
        let z = base + x;
        // Strict, and false for NaN: a NaN term contributes nothing.
        if z > T::ZERO {
            let mut h = match params.power {
                Power::One => z,
                Power::Two => z * z,
            };
            if let Some(w) = weight {
                h = h * w;
            }
            sum = sum + h;
        }
    }
    sum / T::from_usize(row.len())
}

/// The gradient of one row, `upstream` applied last: `grad[j] = (h·w[y])·up` for active terms,
/// `0·up` for inactive ones (which keeps PyTorch's `-0` and NaN), `grad[y] = (−Σ h·w[y])·up`.
#[inline(always)]
pub fn row_grad<T: Real>(params: &Params<T>, row: &[T], y: usize, g: T, up: T, grad: &mut [T]) {
    let base = params.margin - row[y];
    let weight = params.weight.map(|w| w[y]);
    // PyTorch writes `2 * g * z`, i.e. `(2·g)·z`.
    let g2 = T::TWO * g;
    let mut target_grad = T::ZERO;
    for (j, (&x, out)) in row.iter().zip(grad.iter_mut()).enumerate() {
        if j == y {
            continue;
        }
        let z = base + x;
        *out = if z > T::ZERO {
            let mut h = match params.power {
                Power::One => g,
                Power::Two => g2 * z,
            };
            if let Some(w) = weight {
                h = h * w;
            }
            target_grad = target_grad - h;
            times_upstream(h, up)
        } else {
            T::ZERO * up
        };
    }
    grad[y] = times_upstream(target_grad, up);
}

/// Loss and gradient of one row in a single pass; each is bit-identical to the separate calls.
#[inline(always)]
pub fn row_loss_grad<T: Real>(
    params: &Params<T>,
    row: &[T],
    y: usize,
    g: T,
    up: T,
    grad: &mut [T],
) -> T {
    let base = params.margin - row[y];
    let weight = params.weight.map(|w| w[y]);
    let g2 = T::TWO * g;
    let mut sum = T::ZERO;
    let mut target_grad = T::ZERO;
    for (j, (&x, out)) in row.iter().zip(grad.iter_mut()).enumerate() {
        if j == y {
            continue;
        }
        let z = base + x;
        *out = if z > T::ZERO {
            let (mut term, mut h) = match params.power {
                Power::One => (z, g),
                Power::Two => (z * z, g2 * z),
            };
            if let Some(w) = weight {
                term = term * w;
                h = h * w;
            }
            sum = sum + term;
            target_grad = target_grad - h;
            times_upstream(h, up)
        } else {
            T::ZERO * up
        };
    }
    grad[y] = times_upstream(target_grad, up);
    sum / T::from_usize(row.len())
}

/// `v · up`, PyTorch's `grad_input *= grad_output`: where both are NaN (a NaN weight and a NaN
/// upstream gradient), `v`'s NaN, as x86's `mulss` keeps its first operand's. Written out, since
/// a compiler may swap a product's operands.
#[inline(always)]
pub fn times_upstream<T: Real>(v: T, up: T) -> T {
    if v.is_nan() { v } else { v * up }
}

/// The row losses of a task (targets checked) summed in float64 in row order, the first NaN
/// kept ([`add`]): into one chain where `sums` holds one value, else row `i` into
/// `sums[i % sums.len()]` (the interleaved partials of a large call's block).
pub fn summed_losses<T: Real>(
    params: &Params<T>,
    c: usize,
    input: &[T],
    target: &[i64],
    sums: &mut [f64],
) {
    sums.fill(0.0);
    let k = sums.len();
    for (i, (row, &y)) in input.chunks_exact(c).zip(target).enumerate() {
        sums[i % k] = add(sums[i % k], row_loss(params, row, class(y)).to_f64());
    }
}

#[inline(always)]
fn class(target: i64) -> usize {
    // Targets were checked to lie in [0, c) before any kernel runs (or, for a forward task
    // with `LossOut::Interleaved`, by `run` itself); row indexing stays bounds-checked.
    target as usize
}

/// Runs a task row by row.
pub fn run<T: Real>(params: &Params<T>, c: usize, task: Task<'_, T>) {
    let Task {
        input,
        target,
        loss,
        grad,
    } = task;
    assert_eq!(
        input.len(),
        target.len() * c,
        "task input/target lengths disagree"
    );
    let rows = input.chunks_exact(c).zip(target.iter().map(|&t| class(t)));
    match (loss, grad) {
        (LossOut::Skip, None) => {}
        (LossOut::PerRow(out), None) => {
            assert_eq!(out.len(), target.len());
            for ((row, y), o) in rows.zip(out.iter_mut()) {
                *o = row_loss(params, row, y);
            }
        }
        (LossOut::Sum(acc), None) => {
            let mut sum = 0.0f64;
            for (row, y) in rows {
                sum = add(sum, row_loss(params, row, y).to_f64());
            }
            *acc = sum;
        }
        (LossOut::Interleaved(partials), None) => {
            // The reference checks this task's targets itself (see `Partials::bad_target`).
            if super::first_bad_target_chunk(target, c).is_some() {
                partials.bad_target = true;
                return;
            }
            let mut sums = [0.0f64; INTERLEAVE];
            for (i, (row, y)) in rows.enumerate() {
                sums[i % INTERLEAVE] = add(sums[i % INTERLEAVE], row_loss(params, row, y).to_f64());
            }
            partials.sums = sums;
        }
        (loss, Some(GradOut { g, upstream, grad })) => {
            assert_eq!(grad.len(), input.len());
            if let Upstream::PerRow(u) = upstream {
                assert_eq!(u.len(), target.len());
            }
            let rows = rows.zip(grad.chunks_exact_mut(c)).enumerate();
            match loss {
                LossOut::Skip => {
                    for (i, ((row, y), gr)) in rows {
                        row_grad(params, row, y, g, upstream.at(i), gr);
                    }
                }
                LossOut::PerRow(out) => {
                    assert_eq!(out.len(), target.len());
                    for ((i, ((row, y), gr)), o) in rows.zip(out.iter_mut()) {
                        *o = row_loss_grad(params, row, y, g, upstream.at(i), gr);
                    }
                }
                LossOut::Sum(acc) => {
                    let mut sum = 0.0f64;
                    for (i, ((row, y), gr)) in rows {
                        let l = row_loss_grad(params, row, y, g, upstream.at(i), gr);
                        sum = add(sum, l.to_f64());
                    }
                    *acc = sum;
                }
                LossOut::Interleaved(partials) => {
                    let mut sums = [0.0f64; INTERLEAVE];
                    for (i, ((row, y), gr)) in rows {
                        let l = row_loss_grad(params, row, y, g, upstream.at(i), gr);
                        sums[i % INTERLEAVE] = add(sums[i % INTERLEAVE], l.to_f64());
                    }
                    partials.sums = sums;
                }
            }
        }
    }
}
