//! One node's kernel: its attributes read once at creation, then each call's tensors checked
//! and handed to mml's C ABI (`crate::mml`), typed by the kernel's [`Signature`].

use ort_sys::ONNXTensorElementDataType::{self, *};

use crate::mml::{
    Buffer, Handle, MML_DTYPE_BFLOAT16, MML_DTYPE_FLOAT16, MML_DTYPE_FLOAT32, MML_DTYPE_FLOAT64,
    MML_DTYPE_INT32, MML_DTYPE_INT64, MML_REDUCTION_MEAN, MML_REDUCTION_NONE, MML_REDUCTION_SUM,
    Weights,
};
use crate::ort::{Attribute, Failure, KernelContext, KernelInfo, Result, Tensor};
use crate::signature::{Kind, Role, Scores, Signature};

/// A node's kernel. Immutable once created: ONNX Runtime may run it from several threads at once.
pub(crate) struct Kernel {
    /// `mml::MultiMarginLoss (node "name")`, the prefix of every message.
    label: String,
    signature: Signature,
    p: u32,
    margin: f64,
    reduction: u32,
    /// The loss without weights, made once; a call with weights makes its own.
    unweighted: Handle,
}

/// mml's dtype for an ONNX element type the operators take.
fn dtype(onnx: ONNXTensorElementDataType) -> u32 {
    match onnx {
        ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT => MML_DTYPE_FLOAT32,
        ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE => MML_DTYPE_FLOAT64,
        ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16 => MML_DTYPE_BFLOAT16,
        ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 => MML_DTYPE_FLOAT16,
        ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 => MML_DTYPE_INT64,
        ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32 => MML_DTYPE_INT32,
        other => unreachable!("no operator declares {other:?}"),
    }
}

/// A tensor as mml takes it: its dtype, a pointer (dangling and aligned when it has no
/// elements, where the runtime may give NULL), its element count.
fn buffer(tensor: &Tensor) -> Buffer {
    let data = if tensor.len == 0 {
        std::ptr::NonNull::<u64>::dangling().as_ptr().cast()
    } else {
        tensor.data
    };
    Buffer {
        dtype: dtype(tensor.dtype),
        data,
        len: tensor.len,
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
        let p = match info.attribute(c"p")? {
            Attribute::Absent => 1,
            Attribute::Int(p @ 1..=2) => p as u32,
            Attribute::Int(p) => {
                return Err(Failure::invalid(format!("p must be 1 or 2, got {p}")));
            }
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
            Attribute::Absent => MML_REDUCTION_MEAN,
            Attribute::String(r) => match r.as_str() {
                "none" => MML_REDUCTION_NONE,
                "mean" => MML_REDUCTION_MEAN,
                "sum" => MML_REDUCTION_SUM,
                _ => {
                    return Err(Failure::invalid(format!(
                        "reduction must be \"none\", \"mean\" or \"sum\", got {r:?}"
                    )));
                }
            },
            other => return Err(wrong_type("reduction", "a string", &other)),
        };
        // SAFETY: no weights.
        let unweighted = unsafe { Handle::new(p, margin, None, reduction) }?;
        Ok(Kernel {
            label: label.to_owned(),
            signature,
            p,
            margin,
            reduction,
            unweighted,
        })
    }

    /// One call: every message carries the node's label.
    pub fn compute(&self, context: KernelContext) -> Result<()> {
        match self.signature.kind {
            Kind::Loss => self.forward(context),
            Kind::Grad => self.backward(context),
        }
        .map_err(|failure| failure.within(&self.label))
    }

    /// The loss for this call's weights (none: the one made at creation), one per class: mml
    /// would take an empty weight tensor for "no weights".
    fn with_loss<R>(
        &self,
        weight: Option<&Tensor>,
        c: usize,
        run: impl FnOnce(&Handle) -> Result<R>,
    ) -> Result<R> {
        let Some(weight) = weight else {
            return run(&self.unweighted);
        };
        if weight.len != c {
            return Err(Failure::invalid(format!(
                "weight has {} elements, expected {c}",
                weight.len
            )));
        }
        let weights = match self.signature.scores {
            Scores::Double => Weights::Double(buffer(weight).data.cast(), weight.len),
            Scores::Float | Scores::Float16 | Scores::BFloat16 => {
                Weights::Float(buffer(weight).data.cast(), weight.len)
            }
        };
        // SAFETY: the runtime keeps the weight tensor, of the type checked, alive for the call.
        let loss = unsafe { Handle::new(self.p, self.margin, Some(weights), self.reduction) }?;
        run(&loss)
    }

    /// `MultiMarginLoss(scores, target, [weight]) -> loss`.
    fn forward(&self, context: KernelContext) -> Result<()> {
        let s = self.signature;
        let scores = required(context.input(0)?, Role::Scores, s.input_type(Role::Scores))?;
        let target = required(context.input(1)?, Role::Target, s.input_type(Role::Target))?;
        let weight = optional(context.input(2)?, Role::Weight, s.input_type(Role::Weight))?;
        let (n, c) = batch(&scores)?;
        check_targets(&target, n)?;
        // PyTorch: `none` gives one loss per target (a 0-dim target gives a 0-dim loss).
        let dims: &[usize] = if self.reduction == MML_REDUCTION_NONE {
            target.shape()
        } else {
            &[]
        };
        let output = context.output(0, dims, s.output_type())?;
        self.with_loss(weight.as_ref(), c, |loss| {
            // SAFETY: each tensor holds `len` elements of the type checked (scores `n·c`,
            // targets `n`), alive for the call. mml refuses an output that overlaps an input
            // (`MML_STATUS_ALIASED_BUFFERS`, naming both); it copied the weights into `loss`.
            unsafe { loss.forward(buffer(&scores), buffer(&target), (n, c), buffer(&output)) }
        })
    }

    /// `MultiMarginLossGrad(grad_output, scores, target, [weight]) -> grad_scores`.
    fn backward(&self, context: KernelContext) -> Result<()> {
        let s = self.signature;
        let upstream = required(
            context.input(0)?,
            Role::GradOutput,
            s.input_type(Role::GradOutput),
        )?;
        let scores = required(context.input(1)?, Role::Scores, s.input_type(Role::Scores))?;
        let target = required(context.input(2)?, Role::Target, s.input_type(Role::Target))?;
        let weight = optional(context.input(3)?, Role::Weight, s.input_type(Role::Weight))?;
        let (n, c) = batch(&scores)?;
        check_targets(&target, n)?;
        if upstream.rank > 1 {
            return Err(Failure::invalid(format!(
                "grad_output must have shape [N] (reduction \"none\") or [] or [1], got rank {}",
                upstream.rank
            )));
        }
        let output = context.output(0, scores.shape(), s.output_type())?;
        self.with_loss(weight.as_ref(), c, |loss| {
            // SAFETY: as in `forward`; the gradient has the scores' `n·c` elements.
            unsafe {
                loss.backward(
                    buffer(&scores),
                    buffer(&target),
                    (n, c),
                    buffer(&upstream),
                    buffer(&output),
                )
            }
        })
    }
}

fn wrong_type(name: &str, expected: &str, got: &Attribute) -> Failure {
    Failure::invalid(format!("attribute {name} must be {expected}, got {got:?}"))
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

/// Targets are `[N]`, or `[]` for one sample, one per row of scores (mml reads `n` of them).
fn check_targets(target: &Tensor, n: usize) -> Result<()> {
    if target.rank > 1 {
        return Err(Failure::invalid(format!(
            "target must have shape [N] or [], got rank {}",
            target.rank
        )));
    }
    if target.len != n {
        return Err(Failure::invalid(format!(
            "target has {} elements, expected {n}",
            target.len
        )));
    }
    Ok(())
}
