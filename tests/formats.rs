//! Every `formats.json` case, bit for bit: float64 scores with float64 weights and margins that
//! float32 cannot hold (PyTorch's float64 results), through the safe API.

mod common;

use common::{Dtype, assert_golden, format_cases};

#[test]
fn float64_cases_with_float64_weights_match_pytorch() {
    let cases = format_cases();
    let cases: Vec<_> = cases.iter().filter(|c| c.dtype == Dtype::F64).collect();
    assert_eq!(cases.len(), 36, "formats.json holds 36 float64 cases");
    for case in cases {
        let loss = case.loss();
        let (n, c) = (case.n, case.c);
        let mut out = vec![0.0f64; loss.output_len(n)];
        let mut grad = vec![0.0f64; n * c];
        loss.forward_backward_slice(
            &case.input,
            &case.target,
            n,
            c,
            &case.grad_output,
            &mut out,
            &mut grad,
        )
        .unwrap();
        assert_golden(&format!("{} loss", case.name), &out, &case.forward);
        assert_golden(&format!("{} grad", case.name), &grad, &case.grad_input_f64);
        // Rounded to float32, the same weights give what float32 gives with rounded weights.
        if let Some(w) = &case.weight {
            let rounded: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            assert_eq!(
                loss.options().weight.as_deref(),
                Some(&rounded[..]),
                "{}",
                case.name
            );
        }
    }
}
