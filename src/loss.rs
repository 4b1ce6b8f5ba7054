//! The safe Rust API: [`MultiMarginLoss`] over slices and `ndarray` views.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, ShapeBuilder};

use crate::engine;
use crate::error::{Buffer, Error};
use crate::kernel::{
    Element, GradOut, GradStore, INTERLEAVE, Kernels, LossOut, Op, Params, Plan, Power, Real,
    Target, Targets, Task, Upstream, sum,
};
use crate::parallel;

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
        checked_elements::<S>(n, c)?;
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
        let params = self.params(weight);
        let grad_output = grad_output.filter(|_| grad_input.is_some());
        // The gradient's factor and the upstream gradient, as PyTorch computes them:
        // static_cast<scalar_t>(1. / (nframe * dim)) for mean, 1. / dim otherwise.
        let upstream = self.upstream(n, c, grad_output);
        match grad_input.map(|(grad, grad_pitch)| (G::as_real(grad), grad_pitch)) {
            Some((Err(narrow), grad_pitch)) => {
                // A gradient rounded to the scores' half type: computed a block at a time into
                // a float32 buffer, then rounded into place.
                // (No rows: ndarray refuses custom strides over an empty slice.)
                let grad = if n == 0 {
                    ArrayViewMut2::from_shape((0, c), narrow)
                } else {
                    ArrayViewMut2::from_shape((n, c).strides((grad_pitch, 1)), narrow)
                }
                .expect("the gradient's extent was checked");
                let output = output.map(ArrayViewMut1::from);
                self.stage(
                    Source::Rows(input, pitch),
                    (n, c),
                    target,
                    grad_output,
                    output,
                    Some(grad),
                )
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

    /// The loss parameters in the working precision `T`, with these weights.
    fn params<'a, T: Float>(&self, weight: Option<&'a [T]>) -> Params<'a, T> {
        Params {
            power: self.options.power,
            // Converted to `T`, as PyTorch does with its `Scalar` argument.
            margin: T::from_f64(self.options.margin),
            weight,
        }
    }

    /// The gradient's factor and upstream gradient of an `n×c` call, as PyTorch computes them:
    /// `static_cast<scalar_t>(1. / (nframe * dim))` for mean, `1. / dim` otherwise; `grad_output`
    /// per row for `none`, its one value otherwise.
    #[inline(always)]
    fn upstream<'a, T: Float>(
        &self,
        n: usize,
        c: usize,
        grad_output: Option<&'a [T]>,
    ) -> Option<(T, Upstream<'a, T>)> {
        let reduction = self.options.reduction;
        let grad_output = grad_output?;
        let g = T::from_f64(match reduction {
            Reduction::Mean => 1.0 / ((n * c) as f64),
            Reduction::None | Reduction::Sum => 1.0 / (c as f64),
        });
        let upstream = match reduction {
            Reduction::None => Upstream::PerRow(grad_output),
            Reduction::Mean | Reduction::Sum => Upstream::Scalar(grad_output[0]),
        };
        Some((g, upstream))
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
        let task = &mut Task {
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
        let target_copy = contiguous_copy(&target)?;
        let target = Target::targets(target.as_slice().unwrap_or(&target_copy));
        let grad_output_copy = match &grad_output {
            Some(g) => contiguous_copy(g)?,
            None => Vec::new(),
        };
        let grad_output = grad_output
            .as_ref()
            .map(|g| g.as_slice().unwrap_or(&grad_output_copy));
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
        self.stage(
            Source::View(input),
            (n, c),
            target,
            grad_output,
            output,
            grad_input,
        )
    }

    /// A call on views in any layout, or with a gradient rounded to a half type, a block of
    /// rows at a time: each block's scores (gathered into a buffer where they are not pitched
    /// rows) are computed as contiguous rows with per-row losses, and its losses and gradient
    /// written to their views. Reduced losses are summed as the engine sums the same call on
    /// contiguous rows (PyTorch's serial chain below the parallel threshold, the fixed blocks'
    /// interleaved partials above), so every layout gives the same bits. Above the threshold the
    /// blocks run on the pool, each thread with buffers of its own, all allocated first.
    #[allow(clippy::too_many_arguments)]
    fn stage<'a, S: Scores, G: GradStore<S::Float>>(
        &'a self,
        input: Source<'a, S>,
        (n, c): (usize, usize),
        target: Targets<'a>,
        grad_output: Option<&'a [S::Float]>,
        mut output: Option<ArrayViewMut1<S::Float>>,
        mut grad_input: Option<ArrayViewMut2<G>>,
    ) -> Result<(), Error> {
        let weight = S::Float::weight(self);
        if let Some(w) = weight {
            expect_len(Buffer::Weight, w.len(), c)?;
        }
        let reduction = self.options.reduction;
        let summed = reduction != Reduction::None;
        let block = engine::rows_per_block(c).min(n.max(1));
        let blocks = n.div_ceil(block);
        let large = n.saturating_mul(c) >= engine::PARALLEL_MIN_ELEMENTS;
        let team = parallel::Team::for_items(if large { blocks } else { 1 });
        let gathers = matches!(input, Source::View(_));
        let mut buffers = Vec::new();
        buffers
            .try_reserve_exact(team.threads())
            .map_err(|_| Error::OutOfMemory)?;
        for _ in 0..team.threads() {
            buffers.push(StageBuffers {
                scores: try_vec(if gathers { block * c } else { 0 }, S::default())?,
                losses: try_vec(if output.is_some() { block } else { 0 }, S::Float::ZERO)?,
                grads: try_vec(
                    if grad_input.is_some() { block * c } else { 0 },
                    S::Float::ZERO,
                )?,
            });
        }
        let mut partials = try_vec(if summed && large { blocks } else { 0 }, 0.0f64)?;
        crate::error::check_targets(target, c)?;
        let stage = Stage {
            input,
            c,
            target,
            params: self.params(weight),
            upstream: self.upstream(n, c, grad_output),
            loss: output.is_some(),
        };
        let isa = crate::kernel::Isa::selected();
        let mut total = 0.0f64;
        {
            let axis = ndarray::Axis(0);
            let mut out_chunks = output
                .as_mut()
                .filter(|_| !summed)
                .map(|o| o.axis_chunks_iter_mut(axis, block));
            let mut grad_chunks = grad_input
                .as_mut()
                .map(|g| g.axis_chunks_iter_mut(axis, block));
            let mut partial_slots = partials.iter_mut();
            let items = (0..blocks).map(|b| {
                let out = out_chunks.as_mut().and_then(Iterator::next);
                let grad = grad_chunks.as_mut().and_then(Iterator::next);
                (b * block, out, grad, partial_slots.next())
            });
            if large {
                let buffers = std::sync::Mutex::new(buffers);
                team.for_each(items, |(start, out, grad, partial)| {
                    let mut mine = buffers
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .pop()
                        .expect("a set of buffers per thread");
                    let losses =
                        stage.block(isa, start, n.min(start + block), &mut mine, out, grad);
                    if let Some(partial) = partial {
                        let mut sums = [0.0f64; INTERLEAVE];
                        for (i, l) in losses.iter().enumerate() {
                            sums[i % INTERLEAVE] = sum::add(sums[i % INTERLEAVE], l.to_f64());
                        }
                        *partial = engine::reduce_block(&sums);
                    }
                    buffers
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(mine);
                });
            } else {
                let mine = &mut buffers[0];
                for (start, out, grad, _) in items {
                    let losses = stage.block(isa, start, n.min(start + block), mine, out, grad);
                    if summed {
                        total = sum::chain(total, losses);
                    }
                }
            }
        }
        if large {
            total = partials.iter().fold(0.0, |acc, &p| sum::add(acc, p));
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
    pub fn forward_1d<S: Scores>(
        &self,
        input: ArrayView1<S>,
        target: i64,
    ) -> Result<S::Float, Error> {
        let mut out = [S::Float::ZERO];
        let targets = [target];
        self.forward_into(
            input.insert_axis(ndarray::Axis(0)),
            ArrayView1::from(&targets),
            ArrayViewMut1::from(&mut out[..]),
        )?;
        Ok(out[0])
    }

    /// The gradient for one sample given a scalar upstream gradient.
    pub fn backward_1d<S: Scores>(
        &self,
        input: ArrayView1<S>,
        target: i64,
        grad_output: S::Float,
    ) -> Result<Array1<S::Float>, Error> {
        let mut grad = Array2::from_elem((1, input.len()), S::Float::ZERO);
        let (targets, upstream) = ([target], [grad_output]);
        self.backward_into(
            input.insert_axis(ndarray::Axis(0)),
            ArrayView1::from(&targets),
            ArrayView1::from(&upstream),
            grad.view_mut(),
        )?;
        Ok(grad.remove_axis(ndarray::Axis(0)))
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
#[inline(always)]
fn rows_extent(n: usize, c: usize, pitch: usize) -> Result<usize, Error> {
    if pitch == c {
        // Contiguous rows: `n·c`, the product every call has already checked (one multiply).
        return n.checked_mul(c).ok_or(Error::SizeOverflow { n, c });
    }
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

/// A vector of `len` copies of `value`, or [`Error::OutOfMemory`].
fn try_vec<T: Clone>(len: usize, value: T) -> Result<Vec<T>, Error> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Error::OutOfMemory)?;
    v.resize(len, value);
    Ok(v)
}

/// A copy of a vector that is not contiguous (empty where it is), or [`Error::OutOfMemory`].
fn contiguous_copy<T: Copy + Default>(v: &ArrayView1<'_, T>) -> Result<Vec<T>, Error> {
    if v.as_slice().is_some() {
        return Ok(Vec::new());
    }
    let mut copy = try_vec(v.len(), T::default())?;
    copy.iter_mut().zip(v).for_each(|(c, &x)| *c = x);
    Ok(copy)
}

/// Where a staged call's scores come from: rows `pitch` apart in a slice (read in place), or a
/// view of any layout (gathered a block at a time).
enum Source<'a, S> {
    Rows(&'a [S], usize),
    View(ArrayView2<'a, S>),
}

/// One thread's buffers in a staged call: a block's gathered scores, losses and gradient.
struct StageBuffers<S: Scores> {
    scores: Vec<S>,
    losses: Vec<S::Float>,
    grads: Vec<S::Float>,
}

/// What every block of a staged call shares.
struct Stage<'a, S: Scores> {
    input: Source<'a, S>,
    c: usize,
    target: Targets<'a>,
    params: Params<'a, S::Float>,
    upstream: Option<(S::Float, Upstream<'a, S::Float>)>,
    loss: bool,
}

// SAFETY-free: `Source` holds shared views and slices only, read from every thread.
impl<S: Scores> Stage<'_, S> {
    /// Rows `start..end`: computed into `buffers` (the scores gathered first where they are a
    /// view), the losses written to `out` (when given) and returned, the gradient rounded or
    /// copied into `grad`.
    fn block<'b, G: GradStore<S::Float>>(
        &self,
        isa: crate::kernel::Isa,
        start: usize,
        end: usize,
        buffers: &'b mut StageBuffers<S>,
        out: Option<ArrayViewMut1<'_, S::Float>>,
        grad: Option<ArrayViewMut2<'_, G>>,
    ) -> &'b [S::Float] {
        let (rows, c) = (end - start, self.c);
        let StageBuffers {
            scores,
            losses,
            grads,
        } = buffers;
        let (input, pitch) = match &self.input {
            Source::Rows(slice, pitch) => (&slice[start * pitch..(end - 1) * pitch + c], *pitch),
            Source::View(view) => {
                let mut staged = ArrayViewMut2::from_shape((rows, c), &mut scores[..rows * c])
                    .expect("the buffer holds a block");
                staged.assign(&view.slice(ndarray::s![start..end, ..]));
                (&scores[..rows * c], c)
            }
        };
        let mut task = Task {
            input,
            pitch,
            target: self.target.range(start, end),
            loss: if self.loss {
                LossOut::PerRow(&mut losses[..rows])
            } else {
                LossOut::Skip
            },
            grad: match (&grad, self.upstream) {
                (Some(_), Some((g, upstream))) => Some(GradOut {
                    g,
                    upstream: upstream.range(start, end),
                    grad: &mut grads[..rows * c],
                    pitch: c,
                }),
                _ => None,
            },
        };
        // The kernel alone (never the pool: this may run on one of its workers).
        Plan::<S>::new(isa, c, Op::of(&task)).run(&self.params, c, &mut task);
        if let Some(mut out) = out {
            out.iter_mut()
                .zip(&losses[..rows])
                .for_each(|(o, &l)| *o = l);
        }
        if let Some(mut grad) = grad {
            let computed = ArrayView2::from_shape((rows, c), &grads[..rows * c])
                .expect("the buffer holds a block");
            grad.zip_mut_with(&computed, |o, &v| *o = G::store(v));
        }
        &losses[..rows.min(losses.len())]
    }
}
