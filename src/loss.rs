//! The safe Rust API: [`MultiMarginLoss`] over slices and `ndarray` views.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Dimension};

use crate::engine;
use crate::error::{Buffer, Error};
use crate::kernel::{
    Element, GradOut, GradStore, INTERLEAVE, Kernels, LossOut, Params, Power, Real, Target,
    Targets, Task, Upstream, sum,
};

/// How per-sample losses are combined, as in PyTorch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// One loss per sample.
    None,
    /// The sum of the per-sample losses divided by `n` (never by the weights).
    #[default]
    Mean,
    /// The sum of the per-sample losses.
    Sum,
}

impl TryFrom<u32> for Power {
    type Error = Error;
    fn try_from(p: u32) -> Result<Self, Error> {
        match p {
            1 => Ok(Power::One),
            2 => Ok(Power::Two),
            _ => Err(Error::InvalidPower(p)),
        }
    }
}

/// Loss options, with PyTorch's defaults: `p = 1`, `margin = 1.0`, no weight, `mean`.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub power: Power,
    pub margin: f64,
    /// One weight per class; it must have `c` entries when the loss is used.
    pub weight: Option<Vec<f32>>,
    pub reduction: Reduction,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            power: Power::One,
            margin: 1.0,
            weight: None,
            reduction: Reduction::Mean,
        }
    }
}

/// PyTorch's `torch.nn.MultiMarginLoss`: immutable once built, `Send + Sync`, so one value may
/// serve any number of threads at once.
#[derive(Clone, Debug)]
pub struct MultiMarginLoss {
    options: Options,
    /// The weights promoted to float64, for the float64 entry points.
    weight_f64: Option<Vec<f64>>,
}

/// The element types the loss computes in: `f32` (PyTorch's float) and `f64` (double).
pub trait Float:
    Real + Kernels + Element<Real = Self> + GradStore<Self> + Scores<Float = Self>
{
    #[doc(hidden)]
    fn weight(loss: &MultiMarginLoss) -> Option<&[Self]>;
}

impl Float for f32 {
    fn weight(loss: &MultiMarginLoss) -> Option<&[f32]> {
        loss.options.weight.as_deref()
    }
}

impl Float for f64 {
    fn weight(loss: &MultiMarginLoss) -> Option<&[f64]> {
        loss.weight_f64.as_deref()
    }
}

/// The types scores may be stored in: `f32` and `f64`, and `half::bf16` and `half::f16`, which
/// widen to `f32` in registers (PyTorch's CPU autocast: the loss and its gradient are computed
/// and returned in float32). Sealed.
pub trait Scores: Kernels + Element<Real = <Self as Scores>::Float> {
    /// What the loss is computed and returned in.
    type Float: Float;
}

impl Scores for f32 {
    type Float = f32;
}

impl Scores for f64 {
    type Float = f64;
}

impl Scores for half::bf16 {
    type Float = f32;
}

impl Scores for half::f16 {
    type Float = f32;
}

/// Builds a [`MultiMarginLoss`], checking `p` at the end.
#[derive(Clone, Debug)]
pub struct Builder {
    p: u32,
    options: Options,
    weight_f64: Option<Vec<f64>>,
}

impl Builder {
    /// The exponent, 1 or 2; anything else fails in [`Builder::build`].
    pub fn p(mut self, p: u32) -> Self {
        self.p = p;
        self
    }
    pub fn margin(mut self, margin: f64) -> Self {
        self.options.margin = margin;
        self
    }
    /// Per-class weights in float32 (the float64 entry points widen them, exactly).
    pub fn weight(mut self, weight: impl Into<Vec<f32>>) -> Self {
        self.options.weight = Some(weight.into());
        self.weight_f64 = None;
        self
    }
    /// Per-class weights in float64: the float64 entry points use them as given (PyTorch's
    /// float64 computation), the float32 ones rounded to float (`.to(torch.float32)`).
    pub fn weight_f64(mut self, weight: impl Into<Vec<f64>>) -> Self {
        self.weight_f64 = Some(weight.into());
        self.options.weight = None;
        self
    }
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.options.reduction = reduction;
        self
    }
    /// The loss; [`Error::InvalidPower`] for a `p` other than 1 or 2, [`Error::OutOfMemory`]
    /// if the float64 copy of the weights cannot be allocated.
    pub fn build(self) -> Result<MultiMarginLoss, Error> {
        let options = Options {
            power: Power::try_from(self.p)?,
            ..self.options
        };
        match self.weight_f64 {
            Some(weight) => MultiMarginLoss::try_with_f64_weight(options, weight),
            None => MultiMarginLoss::try_new(options),
        }
    }
}

impl MultiMarginLoss {
    /// A loss with these options. Panics if the float64 copy of the weights cannot be allocated;
    /// [`try_new`](Self::try_new) (and [`Builder::build`]) report that as an error instead.
    pub fn new(options: Options) -> Self {
        Self::try_new(options).expect("out of memory for the float64 copy of the weights")
    }

    /// A loss with these options, or [`Error::OutOfMemory`] if the float64 copy of the weights
    /// (the only memory it allocates) cannot be allocated.
    pub fn try_new(options: Options) -> Result<Self, Error> {
        let weight_f64 = match &options.weight {
            None => None,
            Some(w) => {
                let mut promoted = Vec::new();
                promoted
                    .try_reserve_exact(w.len())
                    .map_err(|_| Error::OutOfMemory)?;
                promoted.extend(w.iter().map(|&v| f64::from(v)));
                Some(promoted)
            }
        };
        Ok(MultiMarginLoss {
            options,
            weight_f64,
        })
    }

    /// A loss with float64 weights (`options.weight` is replaced by their float32 rounding):
    /// the float64 entry points use `weight` as given, the others the rounded copy, as PyTorch's
    /// `.to(torch.float32)` rounds. [`Error::OutOfMemory`] if that copy cannot be allocated.
    pub fn try_with_f64_weight(options: Options, weight: Vec<f64>) -> Result<Self, Error> {
        let mut rounded = Vec::new();
        rounded
            .try_reserve_exact(weight.len())
            .map_err(|_| Error::OutOfMemory)?;
        rounded.extend(weight.iter().map(|&v| v as f32));
        Ok(MultiMarginLoss {
            options: Options {
                weight: Some(rounded),
                ..options
            },
            weight_f64: Some(weight),
        })
    }

    pub fn builder() -> Builder {
        Builder {
            p: 1,
            options: Options::default(),
            weight_f64: None,
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Length of the loss output for a batch of `n`: `n` for `none`, else 1. The same length
    /// applies to `grad_output`.
    pub fn output_len(&self, n: usize) -> usize {
        match self.options.reduction {
            Reduction::None => n,
            Reduction::Mean | Reduction::Sum => 1,
        }
    }

    /// Computes the loss of `n` rows of `c` scores into `output` (`output_len(n)` values).
    pub fn forward_slice<S: Scores>(
        &self,
        input: &[S],
        target: &[impl Target],
        n: usize,
        c: usize,
        output: &mut [S::Float],
    ) -> Result<(), Error> {
        let no_grad: Option<Rows<'_, S::Float>> = None;
        self.compute_rows(
            (input, c),
            Target::targets(target),
            n,
            c,
            None,
            Some(output),
            no_grad,
        )
    }

    /// Computes the gradient with respect to `input` (`n·c` values) given the upstream gradient
    /// `grad_output` (`output_len(n)` values). The gradient is computed in `S::Float` and
    /// written as `G`: `S::Float`, or, for half-precision scores, the scores' own type (rounded
    /// to nearest even, as PyTorch's autocast returns it).
    pub fn backward_slice<S: Scores, G: GradStore<S::Float>>(
        &self,
        input: &[S],
        target: &[impl Target],
        n: usize,
        c: usize,
        grad_output: &[S::Float],
        grad_input: &mut [G],
    ) -> Result<(), Error> {
        self.compute_rows(
            (input, c),
            Target::targets(target),
            n,
            c,
            Some(grad_output),
            None,
            Some((grad_input, c)),
        )
    }

    /// The loss and its gradient in one pass over `input`, bit-identical to
    /// [`forward_slice`](Self::forward_slice) then [`backward_slice`](Self::backward_slice).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_backward_slice<S: Scores, G: GradStore<S::Float>>(
        &self,
        input: &[S],
        target: &[impl Target],
        n: usize,
        c: usize,
        grad_output: &[S::Float],
        output: &mut [S::Float],
        grad_input: &mut [G],
    ) -> Result<(), Error> {
        self.compute_rows(
            (input, c),
            Target::targets(target),
            n,
            c,
            Some(grad_output),
            Some(output),
            Some((grad_input, c)),
        )
    }

    /// The computation behind every entry point, on rows `pitch` values apart (`pitch >= c`;
    /// `input` holds at least `(n-1)·pitch + c` values, and so does a gradient given with its
    /// own pitch). Checks every length and target, then computes; nothing is written on error.
    /// A large summed forward checks its targets block by block as it computes (see
    /// [`engine::execute_checked`]), writing its output only once all were in range.
    /// Inlined into each caller: see [`crate::engine::execute_with`].
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn compute_rows<S: Scores, G: GradStore<S::Float>>(
        &self,
        (input, pitch): (&[S], usize),
        target: Targets<'_>,
        n: usize,
        c: usize,
        grad_output: Option<&[S::Float]>,
        output: Option<&mut [S::Float]>,
        grad_input: Option<Rows<'_, G>>,
    ) -> Result<(), Error> {
        let len = checked_elements::<S>(n, c)?;
        let out_len = self.output_len(n);
        expect_len(Buffer::Input, input.len(), rows_extent(n, c, pitch)?)?;
        expect_len(Buffer::Target, target.len(), n)?;
        let weight = S::Float::weight(self);
        if let Some(w) = weight {
            expect_len(Buffer::Weight, w.len(), c)?;
        }
        if let Some(o) = &output {
            expect_len(Buffer::Output, o.len(), out_len)?;
        }
        if let Some(go) = grad_output {
            expect_len(Buffer::GradOutput, go.len(), out_len)?;
        }
        if let Some((gi, grad_pitch)) = &grad_input {
            expect_len(Buffer::GradInput, gi.len(), rows_extent(n, c, *grad_pitch)?)?;
        }
        let params = Params {
            power: self.options.power,
            margin: S::Float::from_f64(self.options.margin),
            weight,
        };
        let reduction = self.options.reduction;
        let grad_output = grad_output.filter(|_| grad_input.is_some());
        // The gradient's factor and the upstream gradient, as PyTorch computes them:
        // static_cast<scalar_t>(1. / (nframe * dim)) for mean, 1. / dim otherwise.
        let upstream = grad_output.map(|grad_output| {
            let g = S::Float::from_f64(match reduction {
                Reduction::Mean => 1.0 / (len as f64),
                Reduction::None | Reduction::Sum => 1.0 / (c as f64),
            });
            let upstream = match reduction {
                Reduction::None => Upstream::PerRow(grad_output),
                Reduction::Mean | Reduction::Sum => Upstream::Scalar(grad_output[0]),
            };
            (g, upstream)
        });
        match grad_input.map(|(grad, grad_pitch)| (G::as_real(grad), grad_pitch)) {
            Some((Err(narrow), grad_pitch)) => {
                // A gradient rounded to the scores' half type: the loss as a forward call would
                // give it, then the gradient a block at a time through a float32 buffer.
                let (g, upstream) = upstream.expect("a gradient comes with grad_output");
                let mut buffer = GradBuffer::<S::Float>::new(c)?;
                crate::error::check_targets(target, c)?;
                if let Some(output) = output {
                    self.run_forward((input, pitch), target, n, c, &params, output)?;
                }
                let mut start = 0;
                while start < n {
                    let rows = buffer.rows(c).min(n - start);
                    let end = start + rows;
                    let scratch = &mut buffer.values[..rows * c];
                    let task = Task {
                        input: &input[start * pitch..(end - 1) * pitch + c],
                        pitch,
                        target: target.range(start, end),
                        loss: LossOut::Skip,
                        grad: Some(GradOut {
                            g,
                            upstream: upstream.range(start, end),
                            grad: scratch,
                            pitch: c,
                        }),
                    };
                    engine::execute(&params, c, task);
                    for (i, row) in buffer.values[..rows * c].chunks_exact(c).enumerate() {
                        let out = &mut narrow[(start + i) * grad_pitch..][..c];
                        for (o, &v) in out.iter_mut().zip(row) {
                            *o = G::store(v);
                        }
                    }
                    start = end;
                }
                Ok(())
            }
            Some((Ok(grad), grad_pitch)) => {
                let (g, upstream) = upstream.expect("a gradient comes with grad_output");
                let grad = Some(GradOut {
                    g,
                    upstream,
                    grad,
                    pitch: grad_pitch,
                });
                self.run((input, pitch), target, n, c, &params, output, grad)
            }
            None => self.run((input, pitch), target, n, c, &params, output, None),
        }
    }

    /// The loss alone.
    #[inline(always)]
    fn run_forward<S: Scores>(
        &self,
        input: (&[S], usize),
        target: Targets<'_>,
        n: usize,
        c: usize,
        params: &Params<'_, S::Float>,
        output: &mut [S::Float],
    ) -> Result<(), Error> {
        self.run(input, target, n, c, params, Some(output), None)
    }

    /// Runs a checked call on the engine and writes a reduced loss at the end.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn run<S: Scores>(
        &self,
        (input, pitch): (&[S], usize),
        target: Targets<'_>,
        n: usize,
        c: usize,
        params: &Params<'_, S::Float>,
        output: Option<&mut [S::Float]>,
        grad: Option<GradOut<'_, S::Float>>,
    ) -> Result<(), Error> {
        let reduction = self.options.reduction;
        let mut total = 0.0f64;
        let (loss, reduced_out) = match (output, reduction) {
            (None, _) => (LossOut::Skip, None),
            (Some(out), Reduction::None) => (LossOut::PerRow(out), None),
            (Some(out), Reduction::Mean | Reduction::Sum) => (LossOut::Sum(&mut total), Some(out)),
        };
        let task = Task {
            input,
            pitch,
            target,
            loss,
            grad,
        };
        engine::execute_checked(params, c, task)?;
        if let Some(out) = reduced_out {
            // The float64 accumulator is divided in float64 and only then cast, as in PyTorch.
            // An empty batch gives 0 for `sum` and 0/0 = NaN for `mean`.
            out[0] = S::Float::from_f64(match reduction {
                Reduction::Mean => mean(total, n),
                Reduction::None | Reduction::Sum => total,
            });
        }
        Ok(())
    }

    /// The loss of a batch `(n, c)`: `n` values for `none`, one value otherwise. Any view
    /// (sliced, transposed, column-major, broadcast): see [`forward_into`](Self::forward_into).
    pub fn forward<S: Scores, Y: Target>(
        &self,
        input: ArrayView2<S>,
        target: ArrayView1<Y>,
    ) -> Result<Array1<S::Float>, Error> {
        let mut output = Array1::from_elem(self.output_len(input.nrows()), S::Float::ZERO);
        self.forward_into(input, target, output.view_mut())?;
        Ok(output)
    }

    /// [`forward`](Self::forward) into a caller's array of `output_len(n)` values. Views whose
    /// memory is in standard layout run directly; any other layout is gathered a block of rows
    /// at a time into a small buffer (never the whole input), with the same bits.
    pub fn forward_into<S: Scores, Y: Target>(
        &self,
        input: ArrayView2<S>,
        target: ArrayView1<Y>,
        output: ArrayViewMut1<S::Float>,
    ) -> Result<(), Error> {
        let no_grad: Option<ArrayViewMut2<'_, S::Float>> = None;
        self.compute_view(input, target, None, Some(output), no_grad)
    }

    /// The gradient of a batch `(n, c)` given `grad_output` (`output_len(n)` values), in
    /// `S::Float`.
    pub fn backward<S: Scores, Y: Target>(
        &self,
        input: ArrayView2<S>,
        target: ArrayView1<Y>,
        grad_output: ArrayView1<S::Float>,
    ) -> Result<Array2<S::Float>, Error> {
        let mut grad = Array2::from_elem(input.dim(), S::Float::ZERO);
        self.backward_into(input, target, grad_output, grad.view_mut())?;
        Ok(grad)
    }

    /// [`backward`](Self::backward) into a caller's `(n, c)` array of any layout, in
    /// `S::Float` or (half-precision scores) the scores' own type, rounded to nearest even.
    pub fn backward_into<S: Scores, Y: Target, G: GradStore<S::Float>>(
        &self,
        input: ArrayView2<S>,
        target: ArrayView1<Y>,
        grad_output: ArrayView1<S::Float>,
        grad_input: ArrayViewMut2<G>,
    ) -> Result<(), Error> {
        self.compute_view(input, target, Some(grad_output), None, Some(grad_input))
    }

    /// Loss and gradient of a batch in one pass.
    pub fn forward_backward<S: Scores, Y: Target>(
        &self,
        input: ArrayView2<S>,
        target: ArrayView1<Y>,
        grad_output: ArrayView1<S::Float>,
    ) -> Result<LossAndGrad<S::Float>, Error> {
        let mut output = Array1::from_elem(self.output_len(input.nrows()), S::Float::ZERO);
        let mut grad = Array2::from_elem(input.dim(), S::Float::ZERO);
        self.forward_backward_into(
            input,
            target,
            grad_output,
            output.view_mut(),
            grad.view_mut(),
        )?;
        Ok((output, grad))
    }

    /// [`forward_backward`](Self::forward_backward) into a caller's arrays: `output_len(n)`
    /// losses and an `(n, c)` gradient (as in [`backward_into`](Self::backward_into)).
    pub fn forward_backward_into<S: Scores, Y: Target, G: GradStore<S::Float>>(
        &self,
        input: ArrayView2<S>,
        target: ArrayView1<Y>,
        grad_output: ArrayView1<S::Float>,
        output: ArrayViewMut1<S::Float>,
        grad_input: ArrayViewMut2<G>,
    ) -> Result<(), Error> {
        self.compute_view(
            input,
            target,
            Some(grad_output),
            Some(output),
            Some(grad_input),
        )
    }

    /// The computation behind the `ndarray` entry points: views in standard layout go to
    /// [`compute_rows`](Self::compute_rows) as they are; others are staged a block at a time
    /// (see [`stage`]). Nothing is written on error.
    #[doc(hidden)]
    pub fn compute_view<S: Scores, Y: Target, G: GradStore<S::Float>>(
        &self,
        input: ArrayView2<S>,
        target: ArrayView1<Y>,
        grad_output: Option<ArrayView1<S::Float>>,
        mut output: Option<ArrayViewMut1<S::Float>>,
        mut grad_input: Option<ArrayViewMut2<G>>,
    ) -> Result<(), Error> {
        let (n, c) = input.dim();
        checked_elements::<S>(n, c)?;
        let out_len = self.output_len(n);
        expect_len(Buffer::Target, target.len(), n)?;
        if let Some(o) = &output {
            expect_len(Buffer::Output, o.len(), out_len)?;
        }
        if let Some(go) = &grad_output {
            expect_len(Buffer::GradOutput, go.len(), out_len)?;
        }
        if let Some(gi) = &grad_input
            && gi.dim() != (n, c)
        {
            return Err(Error::ShapeMismatch {
                buffer: Buffer::GradInput,
                expected: n.saturating_mul(c),
                actual: gi.len(),
            });
        }
        // The small vectors (targets, upstream gradient: one value a row) are read contiguous,
        // copied where they are not.
        let target = target.as_standard_layout();
        let target = Target::targets(contiguous(&target));
        let grad_output = grad_output.as_ref().map(|g| g.as_standard_layout());
        let grad_output = grad_output.as_ref().map(contiguous);
        let direct_output = output.as_mut().is_none_or(|o| o.as_slice_mut().is_some());
        let direct_grad = grad_input
            .as_mut()
            .is_none_or(|g| g.as_slice_mut().is_some());
        if let (Some(scores), true, true) = (input.as_slice(), direct_output, direct_grad) {
            let output = output.as_mut().map(|o| o.as_slice_mut().expect("checked"));
            let grad = grad_input
                .as_mut()
                .map(|g| (g.as_slice_mut().expect("checked"), c));
            return self.compute_rows((scores, c), target, n, c, grad_output, output, grad);
        }
        self.stage(input, target, grad_output, output, grad_input)
    }

    /// A call on views in any layout, a block of rows at a time: each block's scores are
    /// gathered into a buffer of one block, computed there as contiguous rows, and its losses
    /// and gradient written to their views. Reduced losses are summed as the engine sums the
    /// same call on contiguous rows (PyTorch's serial chain below the parallel threshold, the
    /// fixed blocks' interleaved partials above), so every layout gives the same bits.
    fn stage<S: Scores, G: GradStore<S::Float>>(
        &self,
        input: ArrayView2<S>,
        target: Targets<'_>,
        grad_output: Option<&[S::Float]>,
        mut output: Option<ArrayViewMut1<S::Float>>,
        mut grad_input: Option<ArrayViewMut2<G>>,
    ) -> Result<(), Error> {
        let (n, c) = input.dim();
        let weight = S::Float::weight(self);
        if let Some(w) = weight {
            expect_len(Buffer::Weight, w.len(), c)?;
        }
        let block = engine::rows_per_block(c).min(n.max(1));
        let mut scores = try_vec(block * c, S::default())?;
        let mut losses = try_vec(block, S::Float::ZERO)?;
        let mut grads = try_vec(
            if grad_input.is_some() { block * c } else { 0 },
            S::Float::ZERO,
        )?;
        crate::error::check_targets(target, c)?;
        let params = Params {
            power: self.options.power,
            margin: S::Float::from_f64(self.options.margin),
            weight,
        };
        let reduction = self.options.reduction;
        let g = S::Float::from_f64(match reduction {
            Reduction::Mean => 1.0 / ((n * c) as f64),
            Reduction::None | Reduction::Sum => 1.0 / (c as f64),
        });
        let upstream = grad_output.map(|go| match reduction {
            Reduction::None => Upstream::PerRow(go),
            Reduction::Mean | Reduction::Sum => Upstream::Scalar(go[0]),
        });
        let summed = reduction != Reduction::None;
        let large = n.saturating_mul(c) >= engine::PARALLEL_MIN_ELEMENTS;
        let mut total = 0.0f64;
        let mut start = 0;
        while start < n {
            let end = n.min(start + block);
            let rows = end - start;
            let mut staged = ArrayViewMut2::from_shape((rows, c), &mut scores[..rows * c])
                .expect("the buffer holds a block");
            staged.assign(&input.slice(ndarray::s![start..end, ..]));
            let grad = grad_input.as_ref().map(|_| GradOut {
                g,
                upstream: upstream
                    .expect("a gradient comes with grad_output")
                    .range(start, end),
                grad: &mut grads[..rows * c],
                pitch: c,
            });
            let loss = match output {
                Some(_) => LossOut::PerRow(&mut losses[..rows]),
                None => LossOut::Skip,
            };
            let task = Task {
                input: &scores[..rows * c],
                pitch: c,
                target: target.range(start, end),
                loss,
                grad,
            };
            engine::execute(&params, c, task);
            if let Some(out) = output.as_mut() {
                let losses = &losses[..rows];
                if !summed {
                    out.slice_mut(ndarray::s![start..end])
                        .iter_mut()
                        .zip(losses)
                        .for_each(|(o, &l)| *o = l);
                } else if large {
                    let mut partials = [0.0f64; INTERLEAVE];
                    for (i, l) in losses.iter().enumerate() {
                        partials[i % INTERLEAVE] = sum::add(partials[i % INTERLEAVE], l.to_f64());
                    }
                    total = sum::add(total, engine::reduce_block(&partials));
                } else {
                    total = sum::chain(total, losses);
                }
            }
            if let Some(grad) = grad_input.as_mut() {
                let staged = ArrayView2::from_shape((rows, c), &grads[..rows * c])
                    .expect("the buffer holds a block");
                grad.slice_mut(ndarray::s![start..end, ..])
                    .zip_mut_with(&staged, |o, &v| *o = G::store(v));
            }
            start = end;
        }
        if let (Some(out), true) = (output.as_mut(), summed) {
            out[0] = S::Float::from_f64(match reduction {
                Reduction::Mean => mean(total, n),
                Reduction::None | Reduction::Sum => total,
            });
        }
        Ok(())
    }

    /// The loss of one sample: `c` scores and a class index (PyTorch's 1-D input with a 0-dim
    /// target). Every reduction gives the same single value.
    pub fn forward_1d<T: Float>(&self, input: ArrayView1<T>, target: i64) -> Result<T, Error> {
        let input = input.as_standard_layout();
        let mut out = [T::ZERO];
        self.forward_slice(contiguous(&input), &[target], 1, input.len(), &mut out)?;
        Ok(out[0])
    }

    /// The gradient for one sample given a scalar upstream gradient.
    pub fn backward_1d<T: Float>(
        &self,
        input: ArrayView1<T>,
        target: i64,
        grad_output: T,
    ) -> Result<Array1<T>, Error> {
        let input = input.as_standard_layout();
        let mut grad = Array1::from_elem(input.len(), T::ZERO);
        self.backward_slice(
            contiguous(&input),
            &[target],
            1,
            input.len(),
            &[grad_output],
            grad.as_slice_mut().expect("fresh arrays are contiguous"),
        )?;
        Ok(grad)
    }
}

/// `n·c`, refused when it (or its size in bytes) would not fit a Rust slice.
pub(crate) fn checked_elements<T>(n: usize, c: usize) -> Result<usize, Error> {
    if c == 0 {
        return Err(Error::NoClasses);
    }
    n.checked_mul(c)
        .filter(|len| {
            len.checked_mul(size_of::<T>())
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or(Error::SizeOverflow { n, c })
}

fn expect_len(buffer: Buffer, actual: usize, expected: usize) -> Result<(), Error> {
    if actual == expected {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            buffer,
            expected,
            actual,
        })
    }
}

fn contiguous<'a, A, D: Dimension>(array: &'a ndarray::CowArray<'_, A, D>) -> &'a [A] {
    array.as_slice().expect("standard layout is contiguous")
}

/// `total / n` in float64, as PyTorch divides. For a power-of-two `n` (most batch sizes) the
/// product with `1/n`, which is then exact, has the same bits (both are the exact quotient
/// rounded once) and costs a third of a division's latency, which ends every call.
#[inline(always)]
fn mean(total: f64, n: usize) -> f64 {
    if n.is_power_of_two() && n.trailing_zeros() < 1022 {
        total * f64::from_bits(u64::from(1023 - n.trailing_zeros()) << 52)
    } else {
        total / n as f64
    }
}

/// A batch's losses and gradient.
pub type LossAndGrad<T> = (Array1<T>, Array2<T>);

/// A gradient destination: its values and the distance between its rows.
pub type Rows<'a, G> = (&'a mut [G], usize);

/// The values `n` rows of `c`, `pitch` apart, span: `(n-1)·pitch + c`, 0 for no rows.
fn rows_extent(n: usize, c: usize, pitch: usize) -> Result<usize, Error> {
    if pitch < c {
        return Err(Error::InvalidPitch { pitch, classes: c });
    }
    if n == 0 {
        return Ok(0);
    }
    (n - 1)
        .checked_mul(pitch)
        .and_then(|v| v.checked_add(c))
        .ok_or(Error::SizeOverflow { n, c })
}

/// The float32 buffer a gradient rounded to a half type goes through: at least
/// [`GRAD_BUFFER_VALUES`] values, or one row where rows are longer.
struct GradBuffer<T> {
    values: Vec<T>,
}

/// Values of a [`GradBuffer`]: 64 KiB, a block's worth of rows that stays in L2.
const GRAD_BUFFER_VALUES: usize = 1 << 14;

impl<T: Real> GradBuffer<T> {
    fn new(c: usize) -> Result<GradBuffer<T>, Error> {
        let len = GRAD_BUFFER_VALUES.max(c);
        let mut values = Vec::new();
        values
            .try_reserve_exact(len)
            .map_err(|_| Error::OutOfMemory)?;
        values.resize(len, T::ZERO);
        Ok(GradBuffer { values })
    }

    /// Rows per pass: whole vectors of rows where they fit.
    fn rows(&self, c: usize) -> usize {
        let rows = self.values.len() / c;
        if rows >= 16 {
            rows / 16 * 16
        } else {
            rows.max(1)
        }
    }
}

/// A vector of `len` copies of `value`, or [`Error::OutOfMemory`].
fn try_vec<T: Clone>(len: usize, value: T) -> Result<Vec<T>, Error> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Error::OutOfMemory)?;
    v.resize(len, value);
    Ok(v)
}
