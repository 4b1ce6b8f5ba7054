//! One node's kernel: its attributes read once at creation, then each call's tensors checked
//! and handed to mml's safe API. The scores' element type reaches mml through [`Element`], one
//! impl per type; [`runner`] is the one table of what is computed, a row per scores type.

use std::borrow::Cow;

use mml::{Builder, MultiMarginLoss, Reduction, Target};
use ort_sys::ONNXTensorElementDataType::{self, *};

use crate::ort::{Attribute, Failure, KernelContext, KernelInfo, Result, Tensor};
use crate::signature::{Kind, Role, Scores, Signature, Targets};

/// A node's kernel. Immutable once created: ONNX Runtime may run it from several threads at once.
pub(crate) struct Kernel {
    /// `mml::MultiMarginLoss (node "name")`, the prefix of every message.
    label: String,
    run: Run,
    p: u32,
    margin: f64,
    reduction: Reduction,
    /// The loss without weights, built once; a call with weights builds its own.
    unweighted: MultiMarginLoss,
}

type Run = fn(&Kernel, KernelContext) -> Result<()>;

/// The computation for a signature: one row per scores type; [`by_targets`] covers the
/// operator and both target types.
fn runner(signature: Signature) -> Run {
    match signature.scores {
        Scores::Float => by_targets::<f32>(signature),
        Scores::Double => by_targets::<f64>(signature),
        Scores::Float16 => by_targets::<half::f16>(signature),
        Scores::BFloat16 => by_targets::<half::bf16>(signature),
    }
}

fn by_targets<S: Element>(signature: Signature) -> Run {
    match (signature.kind, signature.targets) {
        (Kind::Loss, Targets::Int64) => Kernel::forward::<S, i64>,
        (Kind::Loss, Targets::Int32) => Kernel::forward::<S, i32>,
        (Kind::Grad, Targets::Int64) => Kernel::backward::<S, i64>,
        (Kind::Grad, Targets::Int32) => Kernel::backward::<S, i32>,
    }
}

/// A scores element type that mml computes. `Loss` is the type of the loss, the upstream
/// gradient and the weights (mml's `Scores::Float`: the scores' own for float and double,
/// float for the halves, as under PyTorch's CPU autocast); the gradient of the scores has the
/// scores' type (for the halves, the float gradient rounded to nearest even by mml).
trait Element: Copy + 'static {
    const ONNX: ONNXTensorElementDataType;
    type Loss: Weight;
    fn forward(
        loss: &MultiMarginLoss,
        scores: &[Self],
        target: &[impl Target],
        n: usize,
        c: usize,
        output: &mut [Self::Loss],
    ) -> std::result::Result<(), mml::Error>;
    #[allow(clippy::too_many_arguments)]
    fn backward(
        loss: &MultiMarginLoss,
        scores: &[Self],
        target: &[impl Target],
        n: usize,
        c: usize,
        grad_output: &[Self::Loss],
        grad_scores: &mut [Self],
    ) -> std::result::Result<(), mml::Error>;
}

macro_rules! element {
    ($t:ty, $onnx:ident, $loss:ty) => {
        impl Element for $t {
            const ONNX: ONNXTensorElementDataType = $onnx;
            type Loss = $loss;
            fn forward(
                loss: &MultiMarginLoss,
                scores: &[$t],
                target: &[impl Target],
                n: usize,
                c: usize,
                output: &mut [$loss],
            ) -> std::result::Result<(), mml::Error> {
                loss.forward_slice(scores, target, n, c, output)
            }
            fn backward(
                loss: &MultiMarginLoss,
                scores: &[$t],
                target: &[impl Target],
                n: usize,
                c: usize,
                grad_output: &[$loss],
                grad_scores: &mut [$t],
            ) -> std::result::Result<(), mml::Error> {
                loss.backward_slice(scores, target, n, c, grad_output, grad_scores)
            }
        }
    };
}

element!(f32, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, f32);
element!(f64, ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE, f64);
element!(half::f16, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16, f32);
element!(half::bf16, ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16, f32);

/// A target element type: ONNX's name for mml's [`Target`] types.
trait Index: Target {
    const ONNX: ONNXTensorElementDataType;
}

impl Index for i64 {
    const ONNX: ONNXTensorElementDataType = ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
}

impl Index for i32 {
    const ONNX: ONNXTensorElementDataType = ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
}

/// A weight element type, as mml's builder takes weights.
trait Weight: Copy + 'static {
    const ONNX: ONNXTensorElementDataType;
    fn set(builder: Builder, weight: &[Self]) -> Builder;
}

impl Weight for f32 {
    const ONNX: ONNXTensorElementDataType = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    fn set(builder: Builder, weight: &[f32]) -> Builder {
        builder.weight(weight)
    }
}

impl Weight for f64 {
    const ONNX: ONNXTensorElementDataType = ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE;
    /// Used as given: PyTorch's float64 computation with float64 weights.
    fn set(builder: Builder, weight: &[f64]) -> Builder {
        builder.weight_f64(weight)
    }
}

impl Kernel {
    /// Reads the node's attributes (`p`, `margin`, `reduction`).
    pub fn new(signature: Signature, info: KernelInfo) -> Result<Kernel> {
        let name = info.node_name()?;
        let op = signature.kind.name().to_string_lossy();
        let label = if name.is_empty() {
            format!("mml::{op}")
        } else {
            format!("mml::{op} (node {name:?})")
        };
        Self::configure(signature, info, &label).map_err(|failure| failure.within(&label))
    }

    fn configure(signature: Signature, info: KernelInfo, label: &str) -> Result<Kernel> {
        let run = runner(signature);
        let p = match info.attribute(c"p")? {
            Attribute::Absent => 1,
            Attribute::Int(p) => u32::try_from(p)
                .map_err(|_| Failure::invalid(format!("p must be 1 or 2, got {p}")))?,
            other => return Err(wrong_type("p", "an int", &other)),
        };
        let margin = match info.attribute(c"margin")? {
            Attribute::Absent => 1.0,
            Attribute::Float(m) => f64::from(m),
            Attribute::Scalar(m) => m,
            Attribute::Int(m) if (m as f64) as i64 == m && m.unsigned_abs() <= 1 << 53 => m as f64,
            other => {
                return Err(wrong_type(
                    "margin",
                    "a float (or a one-element double tensor)",
                    &other,
                ));
            }
        };
        let reduction = match info.attribute(c"reduction")? {
            Attribute::Absent => Reduction::Mean,
            Attribute::String(r) => match r.as_str() {
                "none" => Reduction::None,
                "mean" => Reduction::Mean,
                "sum" => Reduction::Sum,
                _ => {
                    return Err(Failure::invalid(format!(
                        "reduction must be \"none\", \"mean\" or \"sum\", got {r:?}"
                    )));
                }
            },
            other => return Err(wrong_type("reduction", "a string", &other)),
        };
        let unweighted = MultiMarginLoss::builder()
            .p(p)
            .margin(margin)
            .reduction(reduction)
            .build()
            .map_err(mml_failure)?;
        Ok(Kernel {
            label: label.to_owned(),
            run,
            p,
            margin,
            reduction,
            unweighted,
        })
    }

    /// One call: every message carries the node's label.
    pub fn compute(&self, context: KernelContext) -> Result<()> {
        (self.run)(self, context).map_err(|failure| failure.within(&self.label))
    }

    /// The loss for this call's weights (none: the one built at creation).
    fn loss<W: Weight>(&self, weight: Option<&[W]>) -> Result<Cow<'_, MultiMarginLoss>> {
        let Some(weight) = weight else {
            return Ok(Cow::Borrowed(&self.unweighted));
        };
        let builder = MultiMarginLoss::builder()
            .p(self.p)
            .margin(self.margin)
            .reduction(self.reduction);
        W::set(builder, weight)
            .build()
            .map(Cow::Owned)
            .map_err(mml_failure)
    }

    /// `MultiMarginLoss(scores, target, [weight]) -> loss`.
    fn forward<S: Element, I: Index>(&self, context: KernelContext) -> Result<()> {
        let scores = required(context.input(0)?, Role::Scores, S::ONNX)?;
        let target = required(context.input(1)?, Role::Target, I::ONNX)?;
        let weight = optional(context.input(2)?, Role::Weight, <S::Loss as Weight>::ONNX)?;
        let (n, c) = batch(&scores)?;
        check_target_rank(&target)?;
        // PyTorch: `none` gives one loss per target (a 0-dim target gives a 0-dim loss).
        let dims: &[usize] = match self.reduction {
            Reduction::None => target.shape(),
            Reduction::Mean | Reduction::Sum => &[],
        };
        let output = context.output(0, dims, <S::Loss as Weight>::ONNX)?;
        disjoint(
            (&output, size_of::<S::Loss>()),
            &[
                Some((&scores, size_of::<S>())),
                Some((&target, size_of::<I>())),
                weight.as_ref().map(|w| (w, size_of::<S::Loss>())),
            ],
        )?;
        // SAFETY: each tensor holds `len` elements of the type checked above (ONNX Runtime
        // keeps them alive during the call), the inputs are not written, and the output, just
        // allocated, overlaps none of them.
        let (x, t, w, out) = unsafe {
            (
                scores.slice::<S>("scores")?,
                target.slice::<I>("target")?,
                weight
                    .as_ref()
                    .map(|w| w.slice::<S::Loss>("weight"))
                    .transpose()?,
                output.slice_mut::<S::Loss>("loss")?,
            )
        };
        S::forward(&*self.loss(w)?, x, t, n, c, out).map_err(mml_failure)
    }

    /// `MultiMarginLossGrad(grad_output, scores, target, [weight]) -> grad_scores`.
    fn backward<S: Element, I: Index>(&self, context: KernelContext) -> Result<()> {
        let upstream = required(
            context.input(0)?,
            Role::GradOutput,
            <S::Loss as Weight>::ONNX,
        )?;
        let scores = required(context.input(1)?, Role::Scores, S::ONNX)?;
        let target = required(context.input(2)?, Role::Target, I::ONNX)?;
        let weight = optional(context.input(3)?, Role::Weight, <S::Loss as Weight>::ONNX)?;
        let (n, c) = batch(&scores)?;
        check_target_rank(&target)?;
        if upstream.rank > 1 {
            return Err(Failure::invalid(format!(
                "grad_output must have shape [N] (reduction \"none\") or [] or [1], got rank {}",
                upstream.rank
            )));
        }
        let output = context.output(0, scores.shape(), S::ONNX)?;
        disjoint(
            (&output, size_of::<S>()),
            &[
                Some((&upstream, size_of::<S::Loss>())),
                Some((&scores, size_of::<S>())),
                Some((&target, size_of::<I>())),
                weight.as_ref().map(|w| (w, size_of::<S::Loss>())),
            ],
        )?;
        // SAFETY: as in `forward`.
        let (up, x, t, w, grad) = unsafe {
            (
                upstream.slice::<S::Loss>("grad_output")?,
                scores.slice::<S>("scores")?,
                target.slice::<I>("target")?,
                weight
                    .as_ref()
                    .map(|w| w.slice::<S::Loss>("weight"))
                    .transpose()?,
                output.slice_mut::<S>("grad_scores")?,
            )
        };
        S::backward(&*self.loss(w)?, x, t, n, c, up, grad).map_err(mml_failure)
    }
}

fn wrong_type(name: &str, expected: &str, got: &Attribute) -> Failure {
    Failure::invalid(format!("attribute {name} must be {expected}, got {got:?}"))
}

fn mml_failure(error: mml::Error) -> Failure {
    match error {
        mml::Error::OutOfMemory => Failure::internal(error.to_string()),
        _ => Failure::invalid(error.to_string()),
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::GradOutput => "grad_output",
        Role::Scores => "scores",
        Role::Target => "target",
        Role::Weight => "weight",
    }
}

/// A required input of the expected type.
fn required(
    tensor: Option<Tensor>,
    role: Role,
    dtype: ONNXTensorElementDataType,
) -> Result<Tensor> {
    let tensor =
        tensor.ok_or_else(|| Failure::invalid(format!("input {} is missing", role_name(role))))?;
    expect_type(&tensor, role, dtype)?;
    Ok(tensor)
}

/// The optional weight: rank 1 and of the expected type when present.
fn optional(
    tensor: Option<Tensor>,
    role: Role,
    dtype: ONNXTensorElementDataType,
) -> Result<Option<Tensor>> {
    let Some(tensor) = tensor else {
        return Ok(None);
    };
    expect_type(&tensor, role, dtype)?;
    if tensor.rank != 1 {
        return Err(Failure::invalid(format!(
            "{} must have shape [C], got rank {}",
            role_name(role),
            tensor.rank
        )));
    }
    Ok(Some(tensor))
}

/// ONNX Runtime picks the kernel by type, so a mismatch here is the runtime's bug; checked
/// anyway, since the slices below rely on it.
fn expect_type(tensor: &Tensor, role: Role, dtype: ONNXTensorElementDataType) -> Result<()> {
    if tensor.dtype == dtype {
        Ok(())
    } else {
        Err(Failure::internal(format!(
            "{} has element type {:?}, expected {dtype:?}",
            role_name(role),
            tensor.dtype
        )))
    }
}

/// `(n, c)` of scores shaped `[N, C]` or `[C]` (one sample).
fn batch(scores: &Tensor) -> Result<(usize, usize)> {
    match *scores.shape() {
        [n, c] if scores.rank == 2 => Ok((n, c)),
        [c] if scores.rank == 1 => Ok((1, c)),
        _ => Err(Failure::invalid(format!(
            "scores must have shape [N, C] or [C], got rank {}",
            scores.rank
        ))),
    }
}

/// Targets are `[N]`, or `[]` for one sample (their count is mml's check).
fn check_target_rank(target: &Tensor) -> Result<()> {
    if target.rank <= 1 {
        Ok(())
    } else {
        Err(Failure::invalid(format!(
            "target must have shape [N] or [], got rank {}",
            target.rank
        )))
    }
}

/// The output overlaps no input (each given with its element size): a caller binding one
/// buffer to both would otherwise hand mml a slice that it writes while reading another.
fn disjoint(output: (&Tensor, usize), inputs: &[Option<(&Tensor, usize)>]) -> Result<()> {
    let out = output.0.bytes(output.1);
    let overlaps = |(tensor, size): (&Tensor, usize)| {
        let range = tensor.bytes(size);
        !out.is_empty() && !range.is_empty() && out.start < range.end && range.start < out.end
    };
    if inputs.iter().flatten().any(|&input| overlaps(input)) {
        return Err(Failure::invalid("the output overlaps an input"));
    }
    Ok(())
}
