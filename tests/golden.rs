//! Every golden case, bit for bit: float32 against PyTorch's own float32 results, float64
//! against the float64 results, through the safe API (slices and ndarray) and the C ABI.

mod common;

use common::{Case, assert_golden, golden_cases, widen};
use mml::ffi::*;
use ndarray::{ArrayView1, ArrayView2};

fn expected_out_len(case: &Case) -> usize {
    match case.reduction {
        mml::Reduction::None => case.n,
        _ => 1,
    }
}

/// Forward, backward and fused through the slice API, against the expected values.
fn check_slices<T: mml::Float>(
    case: &Case,
    input: &[T],
    up: &[T],
    want_loss: &[T],
    want_grad: &[T],
    label: &str,
) {
    let loss = case.loss();
    let (n, c) = (case.n, case.c);
    let mut out = vec![T::ZERO; expected_out_len(case)];
    let mut grad = vec![T::ZERO; n * c];
    loss.forward_slice(input, &case.target, n, c, &mut out)
        .unwrap();
    assert_golden(&format!("{} {label} forward", case.name), &out, want_loss);
    loss.backward_slice(input, &case.target, n, c, up, &mut grad)
        .unwrap();
    assert_golden(&format!("{} {label} backward", case.name), &grad, want_grad);
    let (mut out, mut grad) = (vec![T::TWO; out.len()], vec![T::TWO; grad.len()]);
    loss.forward_backward_slice(input, &case.target, n, c, up, &mut out, &mut grad)
        .unwrap();
    assert_golden(
        &format!("{} {label} fused loss", case.name),
        &out,
        want_loss,
    );
    assert_golden(
        &format!("{} {label} fused grad", case.name),
        &grad,
        want_grad,
    );
    // The same call with 32-bit targets gives the same bits.
    let narrow: Vec<i32> = case
        .target
        .iter()
        .map(|&t| i32::try_from(t).expect("golden targets fit in i32"))
        .collect();
    let (mut out, mut grad) = (vec![T::TWO; out.len()], vec![T::TWO; grad.len()]);
    loss.forward_backward_slice(input, &narrow, n, c, up, &mut out, &mut grad)
        .unwrap();
    assert_golden(
        &format!("{} {label} int32 fused loss", case.name),
        &out,
        want_loss,
    );
    assert_golden(
        &format!("{} {label} int32 fused grad", case.name),
        &grad,
        want_grad,
    );
    let mut out = vec![T::TWO; out.len()];
    loss.forward_slice(input, &narrow, n, c, &mut out).unwrap();
    assert_golden(
        &format!("{} {label} int32 forward", case.name),
        &out,
        want_loss,
    );
}

#[test]
fn safe_api_f32_matches_pytorch_float32() {
    let cases = golden_cases();
    for case in &cases {
        check_slices(
            case,
            &case.input,
            &case.grad_output,
            &case.forward_f32,
            &case.grad_f32,
            "f32",
        );
        let loss = case.loss();
        if case.one_d {
            let input = ArrayView1::from(&case.input);
            let value = loss.forward_1d(input, case.target[0]).unwrap();
            assert_golden(
                &format!("{} forward_1d", case.name),
                &[value],
                &case.forward_f32,
            );
            let g = loss
                .backward_1d(input, case.target[0], case.grad_output[0])
                .unwrap();
            assert_golden(
                &format!("{} backward_1d", case.name),
                g.as_slice().unwrap(),
                &case.grad_f32,
            );
        } else {
            let input = ArrayView2::from_shape((case.n, case.c), &case.input).unwrap();
            let target = ArrayView1::from(&case.target);
            let up = ArrayView1::from(&case.grad_output);
            let out = loss.forward(input, target).unwrap();
            assert_golden(
                &format!("{} ndarray forward", case.name),
                out.as_slice().unwrap(),
                &case.forward_f32,
            );
            let g = loss.backward(input, target, up).unwrap();
            assert_golden(
                &format!("{} ndarray backward", case.name),
                g.as_slice().unwrap(),
                &case.grad_f32,
            );
            // A transposed (non-contiguous) view of the same data gives the same numbers.
            let transposed = input.t().to_owned();
            let (l, g) = loss.forward_backward(transposed.t(), target, up).unwrap();
            assert_golden(
                &format!("{} strided fused loss", case.name),
                l.as_slice().unwrap(),
                &case.forward_f32,
            );
            assert_golden(
                &format!("{} strided fused grad", case.name),
                g.as_slice().unwrap(),
                &case.grad_f32,
            );
        }
    }
}

#[test]
fn safe_api_f64_matches_float64_reference() {
    let cases = golden_cases();
    for case in &cases {
        let (input, up) = (widen(&case.input), widen(&case.grad_output));
        check_slices(case, &input, &up, &case.forward_f64, &case.grad_f64, "f64");
    }
}

struct Handle(*mut MmlLoss);

impl Handle {
    fn new(case: &Case) -> Handle {
        let weight = case.weight.as_deref().unwrap_or(&[]);
        let mut raw = std::ptr::null_mut();
        // SAFETY: `weight` is valid for its length; `raw` is a valid out-pointer.
        let status = unsafe {
            mml_create(
                case.p,
                case.margin,
                weight.as_ptr(),
                weight.len(),
                case.reduction_code(),
                &mut raw,
            )
        };
        assert_eq!(status, MML_STATUS_OK, "{}: create", case.name);
        Handle(raw)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by mml_create, destroyed once.
        unsafe { mml_destroy(self.0) }
    }
}

/// The C entry points of one precision.
struct Abi<T> {
    forward: unsafe extern "C" fn(
        *const MmlLoss,
        *const T,
        *const i64,
        usize,
        usize,
        *mut T,
        usize,
    ) -> u32,
    backward: unsafe extern "C" fn(
        *const MmlLoss,
        *const T,
        *const i64,
        usize,
        usize,
        *const T,
        usize,
        *mut T,
        usize,
    ) -> u32,
    #[allow(clippy::type_complexity)]
    fused: unsafe extern "C" fn(
        *const MmlLoss,
        *const T,
        *const i64,
        usize,
        usize,
        *const T,
        usize,
        *mut T,
        usize,
        *mut T,
        usize,
    ) -> u32,
}

const ABI_F32: Abi<f32> = Abi {
    forward: mml_forward,
    backward: mml_backward,
    fused: mml_forward_backward,
};
const ABI_F64: Abi<f64> = Abi {
    forward: mml_forward_f64,
    backward: mml_backward_f64,
    fused: mml_forward_backward_f64,
};

/// Forward, backward and fused through the C ABI, against the expected values.
fn check_abi<T: mml::Float>(
    abi: &Abi<T>,
    case: &Case,
    input: &[T],
    up: &[T],
    want_loss: &[T],
    want_grad: &[T],
) {
    let h = Handle::new(case);
    let (n, c) = (case.n, case.c);
    let mut out = vec![T::ZERO; expected_out_len(case)];
    let mut grad = vec![T::ZERO; n * c];
    let (x, t) = (input.as_ptr(), case.target.as_ptr());
    let (ol, gl) = (out.len(), grad.len());
    // SAFETY: every pointer is valid for the length passed with it.
    unsafe {
        assert_eq!(
            (abi.forward)(h.0, x, t, n, c, out.as_mut_ptr(), ol),
            MML_STATUS_OK
        );
        assert_golden(&format!("{} C forward", case.name), &out, want_loss);
        assert_eq!(
            (abi.backward)(
                h.0,
                x,
                t,
                n,
                c,
                up.as_ptr(),
                up.len(),
                grad.as_mut_ptr(),
                gl
            ),
            MML_STATUS_OK
        );
        assert_golden(&format!("{} C backward", case.name), &grad, want_grad);
        out.fill(T::TWO);
        grad.fill(T::TWO);
        let s = (abi.fused)(
            h.0,
            x,
            t,
            n,
            c,
            up.as_ptr(),
            up.len(),
            out.as_mut_ptr(),
            ol,
            grad.as_mut_ptr(),
            gl,
        );
        assert_eq!(s, MML_STATUS_OK);
    }
    assert_golden(&format!("{} C fused loss", case.name), &out, want_loss);
    assert_golden(&format!("{} C fused grad", case.name), &grad, want_grad);
}

#[test]
fn c_abi_f32_matches_pytorch_float32() {
    let cases = golden_cases();
    for case in &cases {
        check_abi(
            &ABI_F32,
            case,
            &case.input,
            &case.grad_output,
            &case.forward_f32,
            &case.grad_f32,
        );
    }
}

#[test]
fn c_abi_f64_matches_float64_reference() {
    let cases = golden_cases();
    for case in &cases {
        let (input, up) = (widen(&case.input), widen(&case.grad_output));
        check_abi(
            &ABI_F64,
            case,
            &input,
            &up,
            &case.forward_f64,
            &case.grad_f64,
        );
    }
}

#[test]
fn golden_file_has_every_documented_case() {
    let cases = golden_cases();
    assert_eq!(cases.len(), 184);
    for name in [
        "boundary_p1",
        "nonfinite_p2",
        "equal_scores_m1_p2",
        "one_d_p2_sum",
        "large_p1",
    ] {
        assert!(cases.iter().any(|c| c.name == name), "missing {name}");
    }
}

#[test]
fn empty_batch_is_defined() {
    for p in [1, 2] {
        let sum = mml::MultiMarginLoss::builder()
            .p(p)
            .reduction(mml::Reduction::Sum)
            .build()
            .unwrap();
        let mean = mml::MultiMarginLoss::builder().p(p).build().unwrap();
        let none = mml::MultiMarginLoss::builder()
            .p(p)
            .reduction(mml::Reduction::None)
            .build()
            .unwrap();
        let mut out = [5.0f32];
        sum.forward_slice::<f32>(&[], &[0i64; 0], 0, 4, &mut out)
            .unwrap();
        assert_eq!(out[0].to_bits(), 0.0f32.to_bits());
        mean.forward_slice::<f32>(&[], &[0i64; 0], 0, 4, &mut out)
            .unwrap();
        assert!(out[0].is_nan());
        none.forward_slice::<f32>(&[], &[0i64; 0], 0, 4, &mut [])
            .unwrap();
        none.backward_slice::<f32, f32>(&[], &[0i64; 0], 0, 4, &[], &mut [])
            .unwrap();
        let mut out = [5.0f64];
        mean.forward_slice::<f64>(&[], &[0i64; 0], 0, 4, &mut out)
            .unwrap();
        assert!(out[0].is_nan());
    }
}
