//! The safe Rust API: [`MultiMarginLoss`] over slices and `ndarray` views.

use ndarray::{
    Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut, ArrayViewMut1, ArrayViewMut2, Dimension,
};

use crate::engine;
use crate::error::{Buffer, Error};
use crate::kernel::{
    Element, GradOut, Kernels, LossOut, Params, Power, Real, Target, Targets, Task, Upstream,
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
pub trait Float: Real + Kernels + Element<Real = Self> {
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
    pub fn forward_slice<T: Float>(
        &self,
        input: &[T],
        target: &[impl Target],
        n: usize,
        c: usize,
        output: &mut [T],
    ) -> Result<(), Error> {
        self.compute(
            input,
            Target::targets(target),
            n,
            c,
            None,
            Some(output),
            None,
        )
    }

    /// Computes the gradient with respect to `input` (`n·c` values) given the upstream gradient
    /// `grad_output` (`output_len(n)` values).
    pub fn backward_slice<T: Float>(
        &self,
        input: &[T],
        target: &[impl Target],
        n: usize,
        c: usize,
        grad_output: &[T],
        grad_input: &mut [T],
    ) -> Result<(), Error> {
        self.compute(
            input,
            Target::targets(target),
            n,
            c,
            Some(grad_output),
            None,
            Some(grad_input),
        )
    }

    /// The loss and its gradient in one pass over `input`, bit-identical to
    /// [`forward_slice`](Self::forward_slice) then [`backward_slice`](Self::backward_slice).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_backward_slice<T: Float>(
        &self,
        input: &[T],
        target: &[impl Target],
        n: usize,
        c: usize,
        grad_output: &[T],
        output: &mut [T],
        grad_input: &mut [T],
    ) -> Result<(), Error> {
        self.compute(
            input,
            Target::targets(target),
            n,
            c,
            Some(grad_output),
            Some(output),
            Some(grad_input),
        )
    }

    /// Checks every length and target, then computes; nothing is written on error. A large
    /// summed forward checks its targets block by block as it computes (see
    /// [`engine::execute_checked`]), writing its output only once all were in range.
    /// Inlined into each caller: see [`crate::engine::execute_with`].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn compute<T: Float>(
        &self,
        input: &[T],
        target: Targets<'_>,
        n: usize,
        c: usize,
        grad_output: Option<&[T]>,
        output: Option<&mut [T]>,
        grad_input: Option<&mut [T]>,
    ) -> Result<(), Error> {
        let len = checked_elements::<T>(n, c)?;
        let out_len = self.output_len(n);
        expect_len(Buffer::Input, input.len(), len)?;
        expect_len(Buffer::Target, target.len(), n)?;
        let weight = T::weight(self);
        if let Some(w) = weight {
            expect_len(Buffer::Weight, w.len(), c)?;
        }
        if let Some(o) = &output {
            expect_len(Buffer::Output, o.len(), out_len)?;
        }
        if let Some(go) = grad_output {
            expect_len(Buffer::GradOutput, go.len(), out_len)?;
        }
        if let Some(gi) = &grad_input {
            expect_len(Buffer::GradInput, gi.len(), len)?;
        }
        let params = Params {
            power: self.options.power,
            margin: T::from_f64(self.options.margin),
            weight,
        };
        let reduction = self.options.reduction;
        let mut total = 0.0f64;
        let (loss, reduced_out) = match (output, reduction) {
            (None, _) => (LossOut::Skip, None),
            (Some(out), Reduction::None) => (LossOut::PerRow(out), None),
            (Some(out), Reduction::Mean | Reduction::Sum) => (LossOut::Sum(&mut total), Some(out)),
        };
        let grad = match (grad_output, grad_input) {
            (Some(grad_output), Some(grad)) => Some(GradOut {
                // PyTorch: static_cast<scalar_t>(1. / (nframe * dim)) for mean, 1. / dim otherwise.
                g: T::from_f64(match reduction {
                    Reduction::Mean => 1.0 / (len as f64),
                    Reduction::None | Reduction::Sum => 1.0 / (c as f64),
                }),
                upstream: match reduction {
                    Reduction::None => Upstream::PerRow(grad_output),
                    Reduction::Mean | Reduction::Sum => Upstream::Scalar(grad_output[0]),
                },
                grad,
                pitch: c,
            }),
            _ => None,
        };
        engine::execute_checked(&params, c, Task::contiguous(input, c, target, loss, grad))?;
        if let Some(out) = reduced_out {
            // The float64 accumulator is divided in float64 and only then cast, as in PyTorch.
            // An empty batch gives 0 for `sum` and 0/0 = NaN for `mean`.
            out[0] = T::from_f64(match reduction {
                Reduction::Mean => mean(total, n),
                Reduction::None | Reduction::Sum => total,
            });
        }
        Ok(())
    }

    /// The loss of a batch `(n, c)`: `n` values for `none`, one value otherwise.
    pub fn forward<T: Float, Y: Target>(
        &self,
        input: ArrayView2<T>,
        target: ArrayView1<Y>,
    ) -> Result<Array1<T>, Error> {
        let mut output = Array1::from_elem(self.output_len(input.nrows()), T::ZERO);
        self.forward_into(input, target, output.view_mut())?;
        Ok(output)
    }

    /// [`forward`](Self::forward) into a caller's array of `output_len(n)` values.
    pub fn forward_into<T: Float, Y: Target>(
        &self,
        input: ArrayView2<T>,
        target: ArrayView1<Y>,
        output: ArrayViewMut1<T>,
    ) -> Result<(), Error> {
        let (n, c) = input.dim();
        let input = input.as_standard_layout();
        let target = target.as_standard_layout();
        with_slice_mut(output, |out| {
            self.forward_slice(contiguous(&input), contiguous(&target), n, c, out)
        })
    }

    /// The gradient of a batch `(n, c)` given `grad_output` (`output_len(n)` values).
    pub fn backward<T: Float, Y: Target>(
        &self,
        input: ArrayView2<T>,
        target: ArrayView1<Y>,
        grad_output: ArrayView1<T>,
    ) -> Result<Array2<T>, Error> {
        let mut grad = Array2::from_elem(input.dim(), T::ZERO);
        self.backward_into(input, target, grad_output, grad.view_mut())?;
        Ok(grad)
    }

    /// [`backward`](Self::backward) into a caller's `(n, c)` array.
    pub fn backward_into<T: Float, Y: Target>(
        &self,
        input: ArrayView2<T>,
        target: ArrayView1<Y>,
        grad_output: ArrayView1<T>,
        grad_input: ArrayViewMut2<T>,
    ) -> Result<(), Error> {
        let (n, c) = input.dim();
        if grad_input.dim() != (n, c) {
            return Err(Error::ShapeMismatch {
                buffer: Buffer::GradInput,
                expected: n.saturating_mul(c),
                actual: grad_input.len(),
            });
        }
        let input = input.as_standard_layout();
        let target = target.as_standard_layout();
        let grad_output = grad_output.as_standard_layout();
        with_slice_mut(grad_input, |grad| {
            self.backward_slice(
                contiguous(&input),
                contiguous(&target),
                n,
                c,
                contiguous(&grad_output),
                grad,
            )
        })
    }

    /// Loss and gradient of a batch in one pass.
    pub fn forward_backward<T: Float, Y: Target>(
        &self,
        input: ArrayView2<T>,
        target: ArrayView1<Y>,
        grad_output: ArrayView1<T>,
    ) -> Result<(Array1<T>, Array2<T>), Error> {
        let (n, c) = input.dim();
        let mut output = Array1::from_elem(self.output_len(n), T::ZERO);
        let mut grad = Array2::from_elem((n, c), T::ZERO);
        let input = input.as_standard_layout();
        let target = target.as_standard_layout();
        let grad_output = grad_output.as_standard_layout();
        self.forward_backward_slice(
            contiguous(&input),
            contiguous(&target),
            n,
            c,
            contiguous(&grad_output),
            output.as_slice_mut().expect("fresh arrays are contiguous"),
            grad.as_slice_mut().expect("fresh arrays are contiguous"),
        )?;
        Ok((output, grad))
    }

    /// [`forward_backward`](Self::forward_backward) into a caller's arrays: `output_len(n)`
    /// losses and an `(n, c)` gradient.
    pub fn forward_backward_into<T: Float, Y: Target>(
        &self,
        input: ArrayView2<T>,
        target: ArrayView1<Y>,
        grad_output: ArrayView1<T>,
        output: ArrayViewMut1<T>,
        grad_input: ArrayViewMut2<T>,
    ) -> Result<(), Error> {
        let (n, c) = input.dim();
        if grad_input.dim() != (n, c) {
            return Err(Error::ShapeMismatch {
                buffer: Buffer::GradInput,
                expected: n.saturating_mul(c),
                actual: grad_input.len(),
            });
        }
        let input = input.as_standard_layout();
        let target = target.as_standard_layout();
        let grad_output = grad_output.as_standard_layout();
        with_slice_mut(output, |out| {
            with_slice_mut(grad_input, |grad| {
                self.forward_backward_slice(
                    contiguous(&input),
                    contiguous(&target),
                    n,
                    c,
                    contiguous(&grad_output),
                    out,
                    grad,
                )
            })
        })
    }

    /// The float64 weights the float64 entry points use (given, or the float32 ones widened).
    pub fn weight_f64(&self) -> Option<&[f64]> {
        self.weight_f64.as_deref()
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

/// Runs `f` on the view's memory, or on a contiguous copy written back only on success.
fn with_slice_mut<T: Copy, D: Dimension>(
    mut view: ArrayViewMut<T, D>,
    f: impl FnOnce(&mut [T]) -> Result<(), Error>,
) -> Result<(), Error> {
    if let Some(slice) = view.as_slice_mut() {
        return f(slice);
    }
    let mut copy = view.as_standard_layout().into_owned();
    f(copy.as_slice_mut().expect("standard layout is contiguous"))?;
    view.assign(&copy);
    Ok(())
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
