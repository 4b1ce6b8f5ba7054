//! Every `formats.json` case, bit for bit, through the safe API: half-precision scores (bf16,
//! f16) widened to float32, with the gradient in float32 or rounded to the scores' type;
//! float64 scores with float64 weights and margins that float32 cannot hold. Each case also
//! runs with int32 targets, in views of every layout (a wider buffer, transposed,
//! column-major), and repeated into a batch large enough for the pool, on 1 and 2 threads.
//! `make test-isa` runs this file once per `MML_ISA` path.

mod common;

use common::{Dtype, FormatCase, assert_golden, format_cases};
use half::{bf16, f16};
use mml::kernel::Real;
use mml::{GradStore, Scores};
use ndarray::{Array2, ArrayView1, ArrayView2, ShapeBuilder, s};

/// Bits of any stored value, for comparisons across layouts (NaN payloads included).
trait Bits {
    fn widen_bits(&self) -> u64;
}
impl Bits for f32 {
    fn widen_bits(&self) -> u64 {
        u64::from(self.to_bits())
    }
}
impl Bits for f64 {
    fn widen_bits(&self) -> u64 {
        self.to_bits()
    }
}
impl Bits for bf16 {
    fn widen_bits(&self) -> u64 {
        u64::from(self.to_bits())
    }
}
impl Bits for f16 {
    fn widen_bits(&self) -> u64 {
        u64::from(self.to_bits())
    }
}

fn same_bits<T: Bits>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.widen_bits(), w.widen_bits(), "{what}[{i}]");
    }
}

/// The outputs of one call: loss, gradient in the computing type, gradient as stored.
struct Outputs<S: Scores, G> {
    loss: Vec<S::Float>,
    grad: Vec<S::Float>,
    stored: Vec<G>,
}

/// Forward, backward (both gradient types) and fused through the slice API.
fn run_slices<S: Scores + Bits, G: GradStore<S::Float> + Bits>(
    case: &FormatCase,
    input: &[S],
    target: &[impl mml::Target],
    up: &[S::Float],
) -> Outputs<S, G>
where
    S::Float: Bits,
{
    let loss = case.loss();
    let (n, c) = (case.n, case.c);
    let mut out = vec![S::Float::ZERO; loss.output_len(n)];
    loss.forward_slice(input, target, n, c, &mut out).unwrap();
    let mut grad = vec![S::Float::ZERO; n * c];
    loss.backward_slice(input, target, n, c, up, &mut grad)
        .unwrap();
    let mut stored = vec![G::default(); n * c];
    loss.backward_slice(input, target, n, c, up, &mut stored)
        .unwrap();
    // Fused calls give the same bits as the separate ones, in either gradient type.
    let (mut fused_out, mut fused_grad) =
        (vec![S::Float::ZERO; out.len()], vec![S::Float::ZERO; n * c]);
    loss.forward_backward_slice(input, target, n, c, up, &mut fused_out, &mut fused_grad)
        .unwrap();
    same_bits(&format!("{} fused loss", case.name), &fused_out, &out);
    same_bits(&format!("{} fused grad", case.name), &fused_grad, &grad);
    let mut fused_stored = vec![G::default(); n * c];
    loss.forward_backward_slice(input, target, n, c, up, &mut fused_out, &mut fused_stored)
        .unwrap();
    same_bits(
        &format!("{} fused loss (stored grad)", case.name),
        &fused_out,
        &out,
    );
    same_bits(
        &format!("{} fused stored grad", case.name),
        &fused_stored,
        &stored,
    );
    Outputs {
        loss: out,
        grad,
        stored,
    }
}

/// The same case through views of other layouts and with int32 targets: the same bits.
fn check_layouts<S: Scores + Bits, G: GradStore<S::Float> + Bits>(
    case: &FormatCase,
    input: &[S],
    up: &[S::Float],
    want: &Outputs<S, G>,
) where
    S::Float: Bits,
{
    let loss = case.loss();
    let (n, c) = (case.n, case.c);
    let target = ArrayView1::from(&case.target);
    let narrow: Vec<i32> = case.target.iter().map(|&t| t as i32).collect();
    let up = ArrayView1::from(up);
    let rows = ArrayView2::from_shape((n, c), input).unwrap();
    // A wider buffer (pitch 2c + 3), column-major and a transposed copy.
    let mut wide = Array2::from_elem((n, 2 * c + 3), S::default());
    wide.slice_mut(s![.., ..c]).assign(&rows);
    let mut column_major = Array2::from_elem((n, c).f(), S::default());
    column_major.assign(&rows);
    let transposed = rows.t().to_owned();
    let layouts: [(&str, ArrayView2<S>); 4] = [
        ("contiguous", rows),
        ("pitched", wide.slice(s![.., ..c])),
        ("column-major", column_major.view()),
        ("transposed", transposed.t()),
    ];
    for (name, view) in layouts {
        let what = format!("{} {name}", case.name);
        let mut out = vec![S::Float::ZERO; loss.output_len(n)];
        let mut grad = Array2::from_elem((n, c).f(), G::default());
        loss.forward_backward_into(view, target, up, out.as_mut_slice().into(), grad.view_mut())
            .unwrap();
        same_bits(&format!("{what} loss"), &out, &want.loss);
        let grad: Vec<G> = grad.iter().copied().collect();
        same_bits(&format!("{what} stored grad"), &grad, &want.stored);
        let (l, g) = loss
            .forward_backward(view, ArrayView1::from(&narrow), up)
            .unwrap();
        same_bits(
            &format!("{what} int32 loss"),
            l.as_slice().unwrap(),
            &want.loss,
        );
        same_bits(
            &format!("{what} int32 grad"),
            g.as_slice().unwrap(),
            &want.grad,
        );
    }
}

/// A `none` case repeated into a batch past the parallel threshold: on 1 and 2 threads, each
/// repeat's losses and gradient are the case's.
fn check_repeated<S: Scores + Bits, G: GradStore<S::Float> + Bits>(
    case: &FormatCase,
    input: &[S],
    up: &[S::Float],
    want: &Outputs<S, G>,
) where
    S::Float: Bits,
{
    if case.reduction != mml::Reduction::None {
        return;
    }
    let (n, c) = (case.n, case.c);
    let copies = (mml::engine::PARALLEL_MIN_ELEMENTS / (n * c)).max(1) + 1;
    let big_n = n * copies;
    let input: Vec<S> = input.iter().copied().cycle().take(big_n * c).collect();
    let target: Vec<i32> = case
        .target
        .iter()
        .map(|&t| t as i32)
        .cycle()
        .take(big_n)
        .collect();
    let up: Vec<S::Float> = up.iter().copied().cycle().take(big_n).collect();
    let loss = case.loss();
    for threads in [1, 2] {
        mml::parallel::set_num_threads(threads).unwrap();
        let mut out = vec![S::Float::ZERO; big_n];
        let mut stored = vec![G::default(); big_n * c];
        loss.forward_backward_slice(&input, &target, big_n, c, &up, &mut out, &mut stored)
            .unwrap();
        for k in 0..copies {
            let what = format!("{} repeat {k} on {threads} threads", case.name);
            same_bits(
                &format!("{what} loss"),
                &out[k * n..(k + 1) * n],
                &want.loss,
            );
            same_bits(
                &format!("{what} grad"),
                &stored[k * n * c..(k + 1) * n * c],
                &want.stored,
            );
        }
    }
    mml::parallel::set_num_threads(0).unwrap();
}

fn check_half<S: Scores<Float = f32> + GradStore<f32> + mml::kernel::Element<Real = f32> + Bits>(
    case: &FormatCase,
    from_bits: fn(u16) -> S,
) {
    let input: Vec<S> = case.input_bits.iter().map(|&b| from_bits(b)).collect();
    assert_eq!(input.len(), case.n * case.c, "{}", case.name);
    // The file's widened scores are the bits widened, exactly.
    let widened: Vec<u32> = input.iter().map(|x| x.widen().to_bits()).collect();
    let want: Vec<u32> = case.input.iter().map(|&v| (v as f32).to_bits()).collect();
    for (i, (w, f)) in widened.iter().zip(&want).enumerate() {
        let nan = f32::from_bits(*w).is_nan() && f32::from_bits(*f).is_nan();
        assert!(
            nan || w == f,
            "{} input[{i}] widens to {w:#x}, file {f:#x}",
            case.name
        );
    }
    let up: Vec<f32> = case.grad_output.iter().map(|&v| v as f32).collect();
    let got = run_slices::<S, S>(case, &input, &case.target, &up);
    let want_loss: Vec<f32> = case.forward.iter().map(|&v| v as f32).collect();
    assert_golden(&format!("{} loss", case.name), &got.loss, &want_loss);
    assert_golden(
        &format!("{} f32 grad", case.name),
        &got.grad,
        &case.grad_input_f32,
    );
    let stored: Vec<u16> = got.stored.iter().map(|g| g.widen_bits() as u16).collect();
    assert_eq!(
        stored, case.grad_input_bits,
        "{} rounded grad bits",
        case.name
    );
    check_layouts(case, &input, &up, &got);
    check_repeated(case, &input, &up, &got);
}

#[test]
fn half_precision_cases_match_pytorch_autocast() {
    let cases = format_cases();
    let mut counts = (0, 0);
    for case in &cases {
        match case.dtype {
            Dtype::Bf16 => {
                counts.0 += 1;
                check_half::<bf16>(case, bf16::from_bits);
            }
            Dtype::F16 => {
                counts.1 += 1;
                check_half::<f16>(case, f16::from_bits);
            }
            Dtype::F64 => {}
        }
    }
    assert_eq!(
        counts,
        (51, 51),
        "formats.json holds 51 bf16 and 51 f16 cases"
    );
}

#[test]
fn float64_cases_with_float64_weights_match_pytorch() {
    let cases = format_cases();
    let cases: Vec<_> = cases.iter().filter(|c| c.dtype == Dtype::F64).collect();
    assert_eq!(cases.len(), 36, "formats.json holds 36 float64 cases");
    for case in cases {
        let got = run_slices::<f64, f64>(case, &case.input, &case.target, &case.grad_output);
        assert_golden(&format!("{} loss", case.name), &got.loss, &case.forward);
        assert_golden(
            &format!("{} grad", case.name),
            &got.grad,
            &case.grad_input_f64,
        );
        check_layouts(case, &case.input, &case.grad_output, &got);
        check_repeated(case, &case.input, &case.grad_output, &got);
        // The float32 entry points see the weights rounded, as `.to(torch.float32)` rounds.
        if let Some(w) = &case.weight {
            let rounded: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            assert_eq!(
                case.loss().options().weight.as_deref(),
                Some(&rounded[..]),
                "{}",
                case.name
            );
        }
    }
}

/// An empty batch with a gradient rounded to a half type, pitched or not: `sum` gives 0,
/// `mean` NaN, nothing else is written.
#[test]
fn empty_batches_with_rounded_gradients() {
    for reduction in [
        mml::Reduction::Sum,
        mml::Reduction::Mean,
        mml::Reduction::None,
    ] {
        let loss = mml::MultiMarginLoss::builder()
            .reduction(reduction)
            .build()
            .unwrap();
        let mut out = vec![5.0f32; loss.output_len(0)];
        let up = vec![1.0f32; loss.output_len(0)];
        let mut grad: Vec<f16> = Vec::new();
        let no_rows: [f16; 0] = [];
        loss.forward_backward_slice(&no_rows, &[0i32; 0], 0, 4, &up, &mut out, &mut grad)
            .unwrap();
        let no_grad: Option<(&mut [f16], usize)> = Some((&mut grad, 7));
        loss.compute_rows(
            (&no_rows, 7),
            (&[0i64; 0][..]).into(),
            0,
            4,
            Some(&up),
            Some(&mut out),
            no_grad,
        )
        .unwrap();
        match reduction {
            mml::Reduction::Sum => assert_eq!(out[0].to_bits(), 0),
            mml::Reduction::Mean => assert!(out[0].is_nan()),
            mml::Reduction::None => assert!(out.is_empty()),
        }
    }
}
