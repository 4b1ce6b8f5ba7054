//! The scalar reference: PyTorch 2.x CPU's `multi_margin_loss` loops
//! (`aten/src/ATen/native/LossMultiMargin.cpp`) transcribed operation for operation. Every
//! faster kernel must give the same bits as this one; tests compare them.

use super::element::{Element, Targets};
use super::real::Real;
use super::sum::add;
use super::task::{GradOut, INTERLEAVE, LossOut, Params, Power, Task};

/// The loss of one row: `(Σ_{j≠y, z>0} w[y]·z^p) / c`, summed in `T` in increasing `j`.
#[inline(always)]
pub fn row_loss<S: Element>(params: &Params<S::Real>, row: &[S], y: usize) -> S::Real {
    // PyTorch evaluates `margin - input_target + input_data[d]` left to right.
    let base = params.margin - row[y].widen();
    let weight = params.weight.map(|w| w[y]);
    let mut sum = S::Real::ZERO;
    for (j, &x) in row.iter().enumerate() {
        if j == y {
            continue;
        }
        let z = base + x.widen();
        // Strict, and false for NaN: a NaN term contributes nothing.
        if z > S::Real::ZERO {
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
    sum / S::Real::from_usize(row.len())
}

/// The gradient of one row, `upstream` applied last: `grad[j] = (h·w[y])·up` for active terms,
/// `0·up` for inactive ones (which keeps PyTorch's `-0` and NaN), `grad[y] = (−Σ h·w[y])·up`;
/// with `LOSS`, also the row's loss ([`row_loss`]'s bits), else zero.
#[inline(always)]
pub fn row_grad<S: Element, const LOSS: bool>(
    params: &Params<S::Real>,
    row: &[S],
    y: usize,
    g: S::Real,
    up: S::Real,
    grad: &mut [S::Real],
) -> S::Real {
    let zero = S::Real::ZERO;
    let base = params.margin - row[y].widen();
    let weight = params.weight.map(|w| w[y]);
    // PyTorch writes `2 * g * z`, i.e. `(2·g)·z`.
    let g2 = S::Real::TWO * g;
    let mut sum = zero;
    let mut target_grad = zero;
    for (j, (&x, out)) in row.iter().zip(grad.iter_mut()).enumerate() {
        if j == y {
            continue;
        }
        let z = base + x.widen();
        *out = if z > zero {
            let (mut term, mut h) = match params.power {
                Power::One => (z, g),
                Power::Two => (z * z, g2 * z),
            };
            if let Some(w) = weight {
                term = term * w;
                h = h * w;
            }
            if LOSS {
                sum = sum + term;
            }
            target_grad = target_grad - h;
            times_upstream(h, up)
        } else {
            zero * up
        };
    }
    grad[y] = times_upstream(target_grad, up);
    if LOSS {
        sum / S::Real::from_usize(row.len())
    } else {
        zero
    }
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
pub fn summed_losses<S: Element>(
    params: &Params<S::Real>,
    c: usize,
    (input, pitch): (&[S], usize),
    target: Targets<'_>,
    sums: &mut [f64],
) {
    sums.fill(0.0);
    let k = sums.len();
    for i in 0..target.len() {
        let row = &input[i * pitch..i * pitch + c];
        sums[i % k] = add(
            sums[i % k],
            row_loss(params, row, target.index(i, c)).to_f64(),
        );
    }
}

/// Runs a task row by row. Panics (caught at the FFI boundary) only on a task whose lengths
/// disagree, or whose targets are out of range where they must have been checked.
pub fn run<S: Element>(params: &Params<S::Real>, c: usize, task: Task<'_, S>) {
    let Task {
        input,
        pitch,
        target,
        loss,
        grad,
    } = task;
    let row = |i: usize| &input[i * pitch..i * pitch + c];
    let class = |i: usize| target.index(i, c);
    let n = target.len();
    let Some(GradOut {
        g,
        upstream,
        grad,
        pitch: grad_pitch,
    }) = grad
    else {
        match loss {
            LossOut::Skip => {}
            LossOut::PerRow(out) => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = row_loss(params, row(i), class(i));
                }
            }
            LossOut::Sum(acc) => {
                summed_losses(params, c, (input, pitch), target, std::slice::from_mut(acc))
            }
            LossOut::Interleaved(partials) => {
                // This kind of task may come unchecked (see `Partials::bad_target`).
                if target.any_out_of_range(target.len(), c) {
                    partials.bad_target = true;
                    return;
                }
                summed_losses(params, c, (input, pitch), target, &mut partials.sums);
            }
        }
        return;
    };
    let up = |i: usize| upstream.at(i);
    let mut loss = loss;
    let mut sums = [0.0f64; INTERLEAVE];
    for i in 0..n {
        let out = &mut grad[i * grad_pitch..i * grad_pitch + c];
        let (x, y) = (row(i), class(i));
        match &mut loss {
            LossOut::Skip => {
                row_grad::<S, false>(params, x, y, g, up(i), out);
            }
            LossOut::PerRow(o) => o[i] = row_grad::<S, true>(params, x, y, g, up(i), out),
            LossOut::Sum(_) => {
                let l = row_grad::<S, true>(params, x, y, g, up(i), out);
                sums[0] = add(sums[0], l.to_f64());
            }
            LossOut::Interleaved(_) => {
                let l = row_grad::<S, true>(params, x, y, g, up(i), out);
                sums[i % INTERLEAVE] = add(sums[i % INTERLEAVE], l.to_f64());
            }
        }
    }
    match loss {
        LossOut::Sum(acc) => *acc = sums[0],
        LossOut::Interleaved(partials) => partials.sums = sums,
        LossOut::Skip | LossOut::PerRow(_) => {}
    }
}
