//! Property tests: random shapes, options and values (NaN, ±inf, ±0, subnormals, extremes, exact
//! ties `z == 0`) through forward, backward and the fused call, via the safe API and via the C
//! ABI, in f32 and f64, against the independent scalar oracle in `tests/oracle`, bit for bit
//! (NaN sign and payload included).
//!
//! The library picks its kernel per process; run with `MML_ISA=scalar|wide|avx2|avx512` set to
//! check that path (the Makefile runs this file once per ISA).

mod oracle;

use mml::ffi::{MML_STATUS_OK, MML_STATUS_TARGET_OUT_OF_RANGE, mml_check_targets};
use mml::{Power, Reduction};
use oracle::{Elem, Spec, assert_same};
use proptest::prelude::*;

/// A value drawn from `(kind, bits)`: small halves (ties with integer margins), special values,
/// moderate values, or any bit pattern.
fn val<T: Elem>((kind, bits): (u8, u64)) -> T {
    match kind % 9 {
        0..=2 => T::from_f64((bits % 24) as f64 / 2.0 - 6.0),
        3 | 4 => T::SPECIAL[bits as usize % T::SPECIAL.len()],
        5 => T::from_f64((bits as i16) as f64 / 512.0),
        // Full mantissas in [-4, 4): sums whose rounding depends on their order.
        6 | 7 => T::from_f64((bits >> 11) as f64 / (1u64 << 53) as f64 * 8.0 - 4.0),
        _ => T::from_raw(bits),
    }
}

fn raw_values(len: usize) -> impl Strategy<Value = Vec<(u8, u64)>> {
    prop::collection::vec((any::<u8>(), any::<u64>()), len)
}

fn margin() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => Just(1.0),
        2 => (-4i32..=4).prop_map(|m| f64::from(m) / 2.0),
        1 => prop::sample::select(vec![0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-40, 1e300]),
        1 => any::<f64>(),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    spec: Spec,
    n: usize,
    c: usize,
    input: Vec<(u8, u64)>,
    target: Vec<i64>,
    grad_output: Vec<(u8, u64)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        0usize..24,
        1usize..24,
        any::<bool>(),
        margin(),
        prop::sample::select(vec![Reduction::None, Reduction::Mean, Reduction::Sum]),
        any::<bool>(),
    )
        .prop_flat_map(|(n, c, p2, margin, reduction, weighted)| {
            let out_len = if reduction == Reduction::None { n } else { 1 };
            (
                raw_values(n * c),
                prop::collection::vec(0..c as i64, n),
                raw_values(out_len),
                raw_values(if weighted { c } else { 0 }),
            )
                .prop_map(move |(input, target, grad_output, weight)| Case {
                    spec: Spec {
                        power: if p2 { Power::Two } else { Power::One },
                        margin,
                        weight: weighted.then(|| weight.into_iter().map(val::<f32>).collect()),
                        reduction,
                    },
                    n,
                    c,
                    input,
                    target,
                    grad_output,
                })
        })
}

/// Every entry point, both APIs, against the oracle.
fn check_all<T: Elem>(case: &Case) {
    let Case {
        spec, n, c, target, ..
    } = case;
    let (n, c) = (*n, *c);
    let input: Vec<T> = case.input.iter().copied().map(val::<T>).collect();
    let up: Vec<T> = case.grad_output.iter().copied().map(val::<T>).collect();
    let want_out = oracle::forward(spec, &input, target, n, c);
    let want_grad = oracle::backward(spec, &input, target, n, c, &up);
    let out_len = spec.output_len(n);
    let canary = T::from_f64(-12345.0);

    // Safe API.
    let loss = spec.safe();
    let mut out = vec![canary; out_len];
    let mut grad = vec![canary; n * c];
    loss.forward_slice(&input, target, n, c, &mut out)
        .expect("forward_slice");
    assert_same(&out, &want_out, "safe forward");
    loss.backward_slice(&input, target, n, c, &up, &mut grad)
        .expect("backward_slice");
    assert_same(&grad, &want_grad, "safe backward");
    out.fill(canary);
    grad.fill(canary);
    loss.forward_backward_slice(&input, target, n, c, &up, &mut out, &mut grad)
        .expect("fused");
    assert_same(&out, &want_out, "safe fused loss");
    assert_same(&grad, &want_grad, "safe fused grad");

    // C ABI.
    let handle = spec.create();
    out.fill(canary);
    grad.fill(canary);
    // SAFETY: every buffer is valid for the length passed; outputs are disjoint from inputs.
    unsafe {
        let s = T::FORWARD(
            handle.0,
            input.as_ptr(),
            target.as_ptr(),
            n,
            c,
            out.as_mut_ptr(),
            out.len(),
        );
        assert_eq!(s, MML_STATUS_OK);
        assert_same(&out, &want_out, "C forward");
        let s = T::BACKWARD(
            handle.0,
            input.as_ptr(),
            target.as_ptr(),
            n,
            c,
            up.as_ptr(),
            up.len(),
            grad.as_mut_ptr(),
            grad.len(),
        );
        assert_eq!(s, MML_STATUS_OK);
        assert_same(&grad, &want_grad, "C backward");
        out.fill(canary);
        grad.fill(canary);
        let s = T::FUSED(
            handle.0,
            input.as_ptr(),
            target.as_ptr(),
            n,
            c,
            up.as_ptr(),
            up.len(),
            out.as_mut_ptr(),
            out.len(),
            grad.as_mut_ptr(),
            grad.len(),
        );
        assert_eq!(s, MML_STATUS_OK);
        assert_same(&out, &want_out, "C fused loss");
        assert_same(&grad, &want_grad, "C fused grad");
    }
}

/// One bad target anywhere: refused, nothing written, and `mml_check_targets` names the first.
fn check_bad_target<T: Elem>(case: &Case, row: usize, bad: i64) {
    let Case { spec, n, c, .. } = case;
    let (n, c) = (*n, *c);
    let mut target = case.target.clone();
    target[row] = bad;
    let input: Vec<T> = case.input.iter().copied().map(val::<T>).collect();
    let up: Vec<T> = case.grad_output.iter().copied().map(val::<T>).collect();
    let canary = T::from_f64(-12345.0);
    let mut out = vec![canary; spec.output_len(n)];
    let mut grad = vec![canary; n * c];
    let handle = spec.create();
    // SAFETY: as in `check_all`.
    let s = unsafe {
        T::FUSED(
            handle.0,
            input.as_ptr(),
            target.as_ptr(),
            n,
            c,
            up.as_ptr(),
            up.len(),
            out.as_mut_ptr(),
            out.len(),
            grad.as_mut_ptr(),
            grad.len(),
        )
    };
    assert_eq!(s, MML_STATUS_TARGET_OUT_OF_RANGE);
    assert!(
        out.iter()
            .chain(&grad)
            .all(|v| v.to_bits_u64() == canary.to_bits_u64()),
        "written on error"
    );
    let (mut bad_row, mut bad_value) = (usize::MAX, 0i64);
    // SAFETY: valid pointers.
    let s = unsafe { mml_check_targets(target.as_ptr(), n, c, &mut bad_row, &mut bad_value) };
    assert_eq!(s, MML_STATUS_TARGET_OUT_OF_RANGE);
    assert_eq!((bad_row, bad_value), (row, bad));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn f32_matches_oracle(case in case()) {
        check_all::<f32>(&case);
    }

    #[test]
    fn f64_matches_oracle(case in case()) {
        check_all::<f64>(&case);
    }

    #[test]
    fn out_of_range_target_is_refused_untouched(
        case in case().prop_filter("needs a row", |c| c.n > 0),
        row in any::<prop::sample::Index>(),
        bad in prop_oneof![Just(-1i64), Just(i64::MIN), Just(i64::MAX), 0i64..1000],
    ) {
        let row = row.index(case.n);
        let bad = if (0..1000).contains(&bad) { case.c as i64 + bad } else { bad };
        check_bad_target::<f32>(&case, row, bad);
        check_bad_target::<f64>(&case, row, bad);
    }
}

/// Shapes at and above `PARALLEL_MIN_ELEMENTS` (blocked sums, the pool), with block counts
/// that do not divide the rows; fewer cases, since each is large.
#[test]
fn large_blocked_inputs_match_oracle() {
    use mml::engine::{PARALLEL_MIN_ELEMENTS, rows_per_block};
    blocked_inputs_match_oracle(&[1, 3, 10, 257, 1000], |i, c| {
        PARALLEL_MIN_ELEMENTS.div_ceil(c) + rows_per_block(c) / 2 + i
    });
}

/// Serial calls long enough that the engine sums their losses in several blocks (of 32, 256 or
/// 1024 rows), each in any order where that is exact.
#[test]
fn serial_multi_block_sums_match_oracle() {
    blocked_inputs_match_oracle(&[3, 10, 17], |i, _| [33, 700, 2500][i]);
}

/// Full-mantissa inputs at each class count `cs[i]` with `rows(i, c)` rows, every reduction,
/// f32 and f64, against the oracle.
fn blocked_inputs_match_oracle(cs: &[usize], rows: impl Fn(usize, usize) -> usize) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // xorshift64*: deterministic, good enough to scatter values.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for (i, &c) in cs.iter().enumerate() {
        let n = rows(i, c);
        for (k, &reduction) in [Reduction::None, Reduction::Mean, Reduction::Sum]
            .iter()
            .enumerate()
        {
            // Mostly full-mantissa values, so that the float64 sums depend on their order
            // (blocks, then partials); a rare special value in `none` (a NaN in a sum would
            // hide everything else).
            let mut raw = |len: usize| -> Vec<(u8, u64)> {
                (0..len)
                    .map(|_| {
                        let r = next();
                        let kind = if reduction == Reduction::None && r % 64 == 0 {
                            3
                        } else {
                            6
                        };
                        (kind, next())
                    })
                    .collect()
            };
            let case = Case {
                spec: Spec {
                    power: if (i + k) % 2 == 0 {
                        Power::One
                    } else {
                        Power::Two
                    },
                    margin: 1.0,
                    weight: (k == 1).then(|| (0..c).map(|j| 0.5 + j as f32 / c as f32).collect()),
                    reduction,
                },
                n,
                c,
                input: raw(n * c),
                target: (0..n).map(|r| ((r * 7 + i) % c) as i64).collect(),
                grad_output: raw(if reduction == Reduction::None { n } else { 1 }),
            };
            check_all::<f32>(&case);
            check_all::<f64>(&case);
        }
    }
}

/// `mean` divides the float64 sum by `n` (PyTorch's `sum / n`), also where the quotient is
/// subnormal and rounds: 6·2^-1074 / 4 = 1.5·2^-1074 rounds to even, 2·2^-1074. For powers of
/// two the library multiplies by the exact `1/n`, which must round the same way.
#[test]
fn mean_rounds_as_the_division_of_the_sum() {
    // c = 2, target 0, margin 0: each row's loss is x[1] / 2.
    fn run(reduction: Reduction, row_losses: impl Iterator<Item = f64>) -> (f64, usize) {
        let input: Vec<f64> = row_losses.flat_map(|l| [0.0, l * 2.0]).collect();
        let n = input.len() / 2;
        let loss = mml::MultiMarginLoss::builder()
            .margin(0.0)
            .reduction(reduction)
            .build()
            .unwrap();
        let mut out = [f64::NAN];
        loss.forward_slice(&input, &vec![0i64; n], n, 2, &mut out)
            .unwrap();
        (out[0], n)
    }
    let tiny = f64::from_bits(1);
    let subnormal: [&[f64]; 4] = [
        &[3.0, 1.0, 1.0, 1.0],
        &[1.0, 1.0, 1.0],
        &[5.0; 8],
        &[
            7.0, 1.0, 3.0, 1.0, 1.0, 1.0, 1.0, 9.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        ],
    ];
    for row_losses in subnormal {
        let rows = || row_losses.iter().map(|&l| l * tiny);
        let ((sum, n), (mean, _)) = (run(Reduction::Sum, rows()), run(Reduction::Mean, rows()));
        assert_eq!(sum, row_losses.iter().sum::<f64>() * tiny, "{row_losses:?}");
        assert_eq!(mean.to_bits(), (sum / n as f64).to_bits(), "{row_losses:?}");
    }
    // Ordinary values over many powers of two.
    for k in 0..12 {
        let rows = || (0..1usize << k).map(|r| 0.1 + r as f64 * 0.37);
        let ((sum, n), (mean, _)) = (run(Reduction::Sum, rows()), run(Reduction::Mean, rows()));
        assert_eq!(mean.to_bits(), (sum / n as f64).to_bits(), "n={n}");
    }
}

/// The path this process runs is the one `MML_ISA` asks for, lowered to the best this CPU has
/// (the best, when unset), and `mml_kernel_path` names it. The test says which path ran and
/// which the CPU lacks, in the output of every run (not only on failure): `make test-isa` runs
/// this file once per path, and a path the CPU lacks must not pass unnoticed as tested.
#[test]
fn kernel_path_is_reported() {
    use mml::kernel::Isa;
    use std::io::Write;
    let requested = std::env::var(mml::kernel::ISA_ENV).ok();
    let best = *Isa::available().last().expect("at least one path");
    let expected = requested
        .as_deref()
        .and_then(Isa::from_name)
        .map_or(best, |isa| isa.min(best));
    // SAFETY: a static NUL-terminated string.
    let reported = unsafe { std::ffi::CStr::from_ptr(mml::ffi::mml_kernel_path()) };
    assert_eq!(reported.to_str().unwrap(), Isa::selected().name());
    assert_eq!(Isa::selected(), expected, "MML_ISA={requested:?}");
    let lacking = match requested.as_deref().and_then(Isa::from_name) {
        Some(Isa::Avx512) if !Isa::Avx512.is_available() => ": this CPU has no AVX-512",
        Some(Isa::Avx2) if !Isa::Avx2.is_available() => ": this CPU has no AVX2 and FMA",
        _ => "",
    };
    // Straight to the process's stderr: the harness shows a passing test's printed output only
    // with --nocapture.
    let _ = writeln!(
        std::io::stderr().lock(),
        "MML_ISA={}: ran {}{lacking}",
        requested.as_deref().unwrap_or("(unset)"),
        expected.name()
    );
}
