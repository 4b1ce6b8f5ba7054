//! What each operator takes and gives: its inputs in order and the element type of each, for
//! every combination of scores and targets types that the operators declare.

use ort_sys::ONNXTensorElementDataType::{self, *};

/// The two operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `MultiMarginLoss(scores, target, [weight]) -> loss`.
    Loss,
    /// `MultiMarginLossGrad(grad_output, scores, target, [weight]) -> grad_scores`.
    Grad,
}

/// The element type of the scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scores {
    Float,
    Double,
    Float16,
    BFloat16,
}

/// The element type of the targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Targets {
    Int64,
    Int32,
}

/// An input of an operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    GradOutput,
    Scores,
    Target,
    Weight,
}

/// One kernel's types: ONNX Runtime picks the one whose types match the node's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Signature {
    pub kind: Kind,
    pub scores: Scores,
    pub targets: Targets,
}

pub(crate) const KINDS: [Kind; 2] = [Kind::Loss, Kind::Grad];
pub(crate) const ALL_SCORES: [Scores; 4] = [
    Scores::Float,
    Scores::Double,
    Scores::Float16,
    Scores::BFloat16,
];
pub(crate) const ALL_TARGETS: [Targets; 2] = [Targets::Int64, Targets::Int32];

impl Kind {
    pub const fn name(self) -> &'static std::ffi::CStr {
        match self {
            Kind::Loss => c"MultiMarginLoss",
            Kind::Grad => c"MultiMarginLossGrad",
        }
    }

    pub const fn inputs(self) -> &'static [Role] {
        match self {
            Kind::Loss => &[Role::Scores, Role::Target, Role::Weight],
            Kind::Grad => &[Role::GradOutput, Role::Scores, Role::Target, Role::Weight],
        }
    }
}

impl Scores {
    pub const fn onnx(self) -> ONNXTensorElementDataType {
        match self {
            Scores::Float => ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
            Scores::Double => ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE,
            Scores::Float16 => ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16,
            Scores::BFloat16 => ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16,
        }
    }

    /// The type of the loss, the upstream gradient and the weights: double for double scores,
    /// float otherwise (half-precision scores are computed in float, as under PyTorch's CPU
    /// autocast).
    pub const fn loss(self) -> ONNXTensorElementDataType {
        match self {
            Scores::Double => ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE,
            Scores::Float | Scores::Float16 | Scores::BFloat16 => {
                ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT
            }
        }
    }
}

impl Targets {
    pub const fn onnx(self) -> ONNXTensorElementDataType {
        match self {
            Targets::Int64 => ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64,
            Targets::Int32 => ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32,
        }
    }
}

impl Signature {
    /// The type of input `role`.
    pub const fn input_type(self, role: Role) -> ONNXTensorElementDataType {
        match role {
            Role::Scores => self.scores.onnx(),
            Role::Target => self.targets.onnx(),
            Role::GradOutput | Role::Weight => self.scores.loss(),
        }
    }

    /// The type of the one output: the loss's, or the scores' for their gradient.
    pub const fn output_type(self) -> ONNXTensorElementDataType {
        match self.kind {
            Kind::Loss => self.scores.loss(),
            Kind::Grad => self.scores.onnx(),
        }
    }
}
