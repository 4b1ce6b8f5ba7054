//! Every kernel path this CPU supports gives the reference's bits: random inputs full of
//! specials and exact hinge ties, every tail shape, every task kind, and the golden file.

use mml::Float;
use mml::engine;
use mml::kernel::sum::{self, SUM_LANES};
use mml::kernel::{
    self, GradOut, INTERLEAVE, Isa, LossOut, Op, Params, Partials, Plan, Power, Schedule, Task,
    Upstream,
};

/// Runs one task on `isa` as a call below the parallel threshold runs it.
fn run_with<T: Float>(isa: Isa, params: &Params<T>, c: usize, task: Task<'_, T>) {
    Plan::new(isa, c, Op::of(&task)).run(params, c, &mut { task })
}

/// Runs one task on `isa` as a block of a large call: forward tasks of long rows in streams,
/// short rows prefetched far ahead, summed forward tasks checking their own targets.
fn run_streamed_with<T: Float>(isa: Isa, params: &Params<T>, c: usize, task: Task<'_, T>) {
    let op = Op::of(&task);
    let schedule = Schedule {
        streams: true,
        ahead: true,
        checks_targets: op == Op::Forward,
    };
    Plan::with_schedule(isa, c, op, schedule).run(params, c, &mut { task })
}

/// The plan of a call of `n` rows in blocks of `block_rows`.
fn large_plan<T: Float>(isa: Isa, c: usize, op: Op, n: usize, block_rows: usize) -> Plan<T> {
    Plan::for_blocks(isa, c, op, (n, block_rows))
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A score: mostly on a coarse grid (so `z == 0` ties with margins 0, 0.5 and 1 are frequent),
/// sometimes arbitrary, sometimes NaN, ±inf, -0 or subnormal.
fn score<T: Float>(rng: &mut Rng) -> T {
    let v = match rng.below(20) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => -0.0,
        4 => {
            // Subnormal in the working precision.
            let tiny = if size_of::<T>() == 4 { 1e-40 } else { 1e-310 };
            tiny * (rng.below(7) as f64 - 3.0)
        }
        5..=7 => (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 8.0 - 4.0,
        _ => rng.below(17) as f64 * 0.25 - 2.0,
    };
    T::from_f64(v)
}

/// Equal bits, NaN sign and payload included.
fn same<T: Float>(a: T, b: T) -> bool {
    a.to_bits_u64() == b.to_bits_u64()
}

fn assert_same<T: Float>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(same(*g, *w), "{what}: entry {i}: got {g:?}, want {w:?}");
    }
}

/// What a task computes; each variant is run on the reference and on the path under test.
#[derive(Clone, Copy, Debug)]
enum Kind {
    ForwardPerRow,
    ForwardSum,
    BackwardScalar,
    BackwardPerRow,
    FusedPerRow,
    FusedSum,
    ForwardInterleaved,
    FusedInterleaved,
}

const KINDS: [Kind; 8] = [
    Kind::ForwardPerRow,
    Kind::ForwardSum,
    Kind::BackwardScalar,
    Kind::BackwardPerRow,
    Kind::FusedPerRow,
    Kind::FusedSum,
    Kind::ForwardInterleaved,
    Kind::FusedInterleaved,
];

/// Outputs of one task: per-row losses (or the f64 sum as one value) and the gradient.
struct Outputs<T> {
    losses: Vec<T>,
    sum: f64,
    partials: Partials,
    grad: Vec<T>,
}

/// What runs a task: the scalar reference, one kernel path alone (as any task, or as a block of
/// a large call, `kernel::run_streamed_with`), or the engine over a path (which sums serial
/// calls' losses its own way, see `engine::execute_with`).
#[derive(Clone, Copy, Debug)]
enum Runner {
    Reference,
    Kernel(Isa),
    Streamed(Isa),
    Engine(Isa),
}

#[allow(clippy::too_many_arguments)]
fn run_kind<T: Float, Y: mml::Target>(
    runner: Runner,
    kind: Kind,
    params: &Params<T>,
    c: usize,
    input: &[T],
    target: &[Y],
    upstream: &[T],
    g: T,
) -> Outputs<T> {
    let n = target.len();
    // Canary values: every output must be overwritten.
    let mut losses = vec![T::from_f64(12345.0); n];
    let mut sum = -7.0f64;
    let mut partials = Partials {
        sums: [-7.0f64; INTERLEAVE],
        bad_target: false,
    };
    let mut grad = vec![T::from_f64(-999.0); n * c];
    let (loss, with_grad, per_row_up) = match kind {
        Kind::ForwardPerRow => (LossOut::PerRow(&mut losses[..]), false, false),
        Kind::ForwardSum => (LossOut::Sum(&mut sum), false, false),
        Kind::BackwardScalar => (LossOut::Skip, true, false),
        Kind::BackwardPerRow => (LossOut::Skip, true, true),
        Kind::FusedPerRow => (LossOut::PerRow(&mut losses[..]), true, true),
        Kind::FusedSum => (LossOut::Sum(&mut sum), true, false),
        Kind::ForwardInterleaved => (LossOut::Interleaved(&mut partials), false, false),
        Kind::FusedInterleaved => (LossOut::Interleaved(&mut partials), true, true),
    };
    let grad_out = with_grad.then(|| GradOut {
        g,
        upstream: if per_row_up {
            Upstream::PerRow(upstream)
        } else {
            Upstream::Scalar(upstream.first().copied().unwrap_or(T::from_f64(0.75)))
        },
        grad: &mut grad[..],
        pitch: c,
    });
    let task = Task {
        input,
        pitch: c,
        target: Y::targets(target),
        loss,
        grad: grad_out,
    };
    match runner {
        Runner::Reference => kernel::reference::run(params, c, task),
        Runner::Kernel(isa) => run_with(isa, params, c, task),
        Runner::Streamed(isa) => run_streamed_with(isa, params, c, task),
        Runner::Engine(isa) => engine::execute_with(isa, params, c, &mut { task }),
    }
    Outputs {
        losses,
        sum,
        partials,
        grad,
    }
}

/// Every width of a last column tile for the tile sizes in use (4, 8, 16 columns): all `c` up to
/// 17, then `8k ± 1`, `16k ± 1` and exact multiples, then large `c`.
const TAIL_CLASSES: [usize; 27] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 49, 100,
    1001,
];
const TAIL_ROWS: [usize; 12] = [0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 33, 61];

/// Runs `kind` on the reference and on each of `runners`, and asserts that every output (the
/// losses, the sum, the partials and the gradient) carries the reference's bits.
#[allow(clippy::too_many_arguments)]
fn assert_runners_match_reference<T: Float>(
    runners: &[Runner],
    kind: Kind,
    params: &Params<T>,
    c: usize,
    input: &[T],
    target: &[i64],
    upstream: &[T],
    g: T,
    what: &str,
) {
    let want = run_kind(
        Runner::Reference,
        kind,
        params,
        c,
        input,
        target,
        upstream,
        g,
    );
    // 32-bit targets (every test target fits) take each path's int32 target loads.
    let narrow: Vec<i32> = target.iter().map(|&t| t as i32).collect();
    assert!(narrow.iter().zip(target).all(|(&a, &b)| i64::from(a) == b));
    for &runner in runners {
        let got = run_kind(runner, kind, params, c, input, target, upstream, g);
        assert_outputs_same(&format!("{runner:?} {kind:?} {what}"), &got, &want);
        let got = run_kind(runner, kind, params, c, input, &narrow, upstream, g);
        assert_outputs_same(&format!("{runner:?} {kind:?} {what} int32"), &got, &want);
    }
}

/// Asserts that every output of a task (the losses, the sum, the partials, the gradient) carries
/// `want`'s bits, and that no valid target was reported bad.
fn assert_outputs_same<T: Float>(what: &str, got: &Outputs<T>, want: &Outputs<T>) {
    assert_same(&format!("{what} losses"), &got.losses, &want.losses);
    assert!(
        same(got.sum, want.sum),
        "{what} sum: got {}, want {}",
        got.sum,
        want.sum
    );
    for (k, (g, w)) in got
        .partials
        .sums
        .iter()
        .zip(&want.partials.sums)
        .enumerate()
    {
        assert!(same(*g, *w), "{what} partial {k}: got {g}, want {w}");
    }
    assert!(
        !got.partials.bad_target,
        "{what}: a valid target reported bad"
    );
    assert_same(&format!("{what} grad"), &got.grad, &want.grad);
}

/// The combinations a sweep runs: all of them, or under `MML_TEST_SUBSET=k` (the run under
/// AddressSanitizer, `scripts/asan.sh`, where these sweeps took minutes) the first and every
/// `k`-th after it, counted across the sweep's shapes so that the choice rotates through the
/// parameters and every path still runs.
struct Subset {
    every: usize,
    seen: usize,
}

impl Subset {
    fn new() -> Self {
        let every = std::env::var("MML_TEST_SUBSET")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&k| k > 0)
            .unwrap_or(1);
        Subset { every, seen: 0 }
    }

    /// Whether the next combination runs.
    fn take(&mut self) -> bool {
        self.seen += 1;
        (self.seen - 1).is_multiple_of(self.every)
    }
}

fn check_random<T: Float>(seed: u64) {
    let mut rng = Rng(seed);
    let runners: Vec<Runner> = Isa::available()
        .into_iter()
        .flat_map(|isa| [Runner::Kernel(isa), Runner::Engine(isa)])
        .collect();
    let mut subset = Subset::new();
    for &c in &TAIL_CLASSES {
        for &n in &TAIL_ROWS {
            if c * n > 40_000 {
                continue;
            }
            let input: Vec<T> = (0..n * c).map(|_| score(&mut rng)).collect();
            let target: Vec<i64> = (0..n).map(|_| rng.below(c) as i64).collect();
            let upstream: Vec<T> = (0..n).map(|_| score(&mut rng)).collect();
            let weight: Vec<T> = (0..c).map(|_| score(&mut rng)).collect();
            for power in [Power::One, Power::Two] {
                for weighted in [false, true] {
                    for margin in [0.0, 1.0, 0.5] {
                        if !subset.take() {
                            continue;
                        }
                        let params = Params {
                            power,
                            margin: T::from_f64(margin),
                            weight: weighted.then_some(&weight[..]),
                        };
                        let g = T::from_f64(1.0 / (c as f64 * (n.max(1)) as f64));
                        for kind in KINDS {
                            assert_runners_match_reference(
                                &runners,
                                kind,
                                &params,
                                c,
                                &input,
                                &target,
                                &upstream,
                                g,
                                &format!("n={n} c={c} {power:?} w={weighted} m={margin}"),
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn every_path_matches_the_reference_f32() {
    println!("paths on this CPU: {:?}", Isa::available());
    check_random::<f32>(0x9E37_79B9_7F4A_7C15);
}

#[test]
fn every_path_matches_the_reference_f64() {
    check_random::<f64>(0xD1B5_4A32_D192_ED03);
}

#[test]
fn selected_path_is_available() {
    let selected = Isa::selected();
    assert!(selected.is_available());
    println!(
        "selected path: {selected:?} (set {} to force one)",
        kernel::ISA_ENV
    );
}

mod golden {
    use super::*;
    use serde_json::Value;

    fn number(v: &Value) -> f64 {
        match v {
            Value::Number(n) => n.as_f64().expect("a number"),
            Value::String(s) => match s.as_str() {
                "nan" => f64::NAN,
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                other => panic!("unexpected string {other:?}"),
            },
            other => panic!("unexpected value {other:?}"),
        }
    }

    fn numbers<T: Float>(v: &Value) -> Vec<T> {
        match v {
            Value::Array(a) => a.iter().map(|x| T::from_f64(number(x))).collect(),
            scalar => vec![T::from_f64(number(scalar))],
        }
    }

    /// Computes a case the way the safe API does (`loss.rs`), but on a chosen path: forward,
    /// backward and fused. Returns (loss values, gradient) of each, which must agree.
    fn compute<T: Float>(
        isa: Isa,
        case: &Value,
        rows: usize,
        input: &[T],
        target: &[i64],
        grad_output: &[T],
    ) -> (Vec<T>, Vec<T>) {
        let c = case["c"].as_u64().unwrap() as usize;
        let weight: Option<Vec<T>> = (!case["weight"].is_null()).then(|| numbers(&case["weight"]));
        let params = Params {
            power: if case["p"].as_u64() == Some(2) {
                Power::Two
            } else {
                Power::One
            },
            margin: T::from_f64(number(&case["margin"])),
            weight: weight.as_deref(),
        };
        let reduction = case["reduction"].as_str().unwrap();
        let g = T::from_f64(if reduction == "mean" {
            1.0 / ((rows * c) as f64)
        } else {
            1.0 / c as f64
        });
        let upstream = || {
            if reduction == "none" {
                Upstream::PerRow(grad_output)
            } else {
                Upstream::Scalar(grad_output[0])
            }
        };
        let finish = |total: f64| {
            vec![T::from_f64(if reduction == "mean" {
                total / rows as f64
            } else {
                total
            })]
        };
        let mut results = Vec::new();
        for fused in [false, true] {
            let mut losses = vec![T::ZERO; rows];
            let mut total = 0.0f64;
            let mut grad = vec![T::ZERO; rows * c];
            let loss = if reduction == "none" {
                LossOut::PerRow(&mut losses[..])
            } else {
                LossOut::Sum(&mut total)
            };
            if fused {
                let task = Task {
                    input,
                    pitch: c,
                    target: target.into(),
                    loss,
                    grad: Some(GradOut {
                        g,
                        upstream: upstream(),
                        grad: &mut grad[..],
                        pitch: c,
                    }),
                };
                run_with(isa, &params, c, task);
            } else {
                run_with(
                    isa,
                    &params,
                    c,
                    Task {
                        input,
                        pitch: c,
                        target: target.into(),
                        loss,
                        grad: None,
                    },
                );
                let task = Task {
                    input,
                    pitch: c,
                    target: target.into(),
                    loss: LossOut::Skip,
                    grad: Some(GradOut {
                        g,
                        upstream: upstream(),
                        grad: &mut grad[..],
                        pitch: c,
                    }),
                };
                run_with(isa, &params, c, task);
            }
            let out = if reduction == "none" {
                losses
            } else {
                finish(total)
            };
            results.push((out, grad));
        }
        let fused = results.pop().unwrap();
        let separate = results.pop().unwrap();
        assert_same("fused vs separate loss", &fused.0, &separate.0);
        assert_same("fused vs separate grad", &fused.1, &separate.1);
        fused
    }

    fn check<T: Float>(cases: &[Value], loss_field: &str, grad_field: &str) -> usize {
        let mut checked = 0;
        for isa in Isa::available() {
            for case in cases {
                let name = case["name"].as_str().unwrap_or("?");
                let n = case["n"].as_u64().unwrap() as usize;
                let c = case["c"].as_u64().unwrap() as usize;
                let input: Vec<T> = numbers(&case["input"]);
                let target: Vec<i64> = case["target"]
                    .as_array()
                    .map(|a| a.iter().map(|t| t.as_i64().unwrap()).collect())
                    .unwrap_or_else(|| vec![case["target"].as_i64().unwrap()]);
                let grad_output: Vec<T> = numbers(&case["grad_output"]);
                let want_loss: Vec<T> = numbers(&case[loss_field]);
                let want_grad: Vec<T> = numbers(&case[grad_field]);
                let (loss, grad) = compute(isa, case, n, &input, &target, &grad_output);
                assert_same(&format!("{isa:?} {name} loss"), &loss, &want_loss);
                assert_same(&format!("{isa:?} {name} grad"), &grad, &want_grad);
                checked += 1;

                // Golden batches are small; repeat their rows (for `none`, where rows are
                // independent) so that whole vector blocks and the overlapped tail run on them.
                if case["reduction"] == "none" && n > 0 {
                    let times = 37usize.div_ceil(n);
                    let rows = n * times;
                    let rep = |v: &[T]| v.repeat(times);
                    let (loss, grad) = compute(
                        isa,
                        case,
                        rows,
                        &rep(&input),
                        &target.repeat(times),
                        &rep(&grad_output),
                    );
                    assert_same(
                        &format!("{isa:?} {name} x{times} loss"),
                        &loss,
                        &rep(&want_loss),
                    );
                    assert_same(
                        &format!("{isa:?} {name} x{times} grad"),
                        &grad,
                        &rep(&want_grad),
                    );
                }
                let _ = c;
            }
        }
        checked
    }

    #[test]
    fn golden_cases_on_every_path() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/multi_margin_loss.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("golden file {} not readable: {e}", path.display()));
        let cases: Vec<Value> = serde_json::from_str(&text).expect("golden file parses");
        let f32_checked = check::<f32>(&cases, "forward_torch_f32", "grad_input_torch_f32");
        let f64_checked = check::<f64>(&cases, "forward_f64", "grad_input_f64");
        println!(
            "golden: {f32_checked} f32 and {f64_checked} f64 case runs over {:?}",
            Isa::available()
        );
        assert!(f32_checked >= cases.len());
    }
}

#[test]
fn isa_names_round_trip() {
    for isa in Isa::ALL {
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
    }
    assert_eq!(Isa::from_name(" AVX2 "), Some(Isa::Avx2));
    assert_eq!(Isa::from_name("sse9"), None);
}

#[test]
fn scalar_and_wide_are_always_available() {
    // (`selected_path_is_available` checks the selected path.)
    assert!(Isa::Scalar.is_available() && Isa::Wide.is_available());
    assert!(Isa::Avx512.clamped().is_available());
}

/// The target check finds the first bad target wherever it falls relative to the scan's chunks
/// and vectors, for both kinds of bad value (negative, too large), with later bad ones: every
/// path's scan and `check_targets` name its row.
#[test]
fn target_checks_find_the_first_bad_target() {
    let c = 7;
    for n in [0usize, 1, 3, 15, 16, 17, 33, 63, 64, 65, 130, 200, 300] {
        let good: Vec<i64> = (0..n).map(|i| (i % c) as i64).collect();
        assert!(mml::check_targets(&good, c).is_ok(), "n={n}");
        for isa in Isa::available() {
            let row = kernel::first_bad_target(isa, (&good).into(), c);
            assert_eq!(row, None, "{isa:?} n={n}");
        }
        for first in [
            0, 1, 4, 14, 15, 16, 17, 31, 32, 62, 63, 64, 65, 127, 128, 129, 199, 299,
        ]
        .into_iter()
        .filter(|&r| r < n)
        {
            for bad in [-1i64, c as i64, i64::MIN, i64::MAX] {
                let mut t = good.clone();
                t[first] = bad;
                for later in [first + 3, first + 70].into_iter().filter(|&r| r < n) {
                    t[later] = -3;
                }
                for isa in Isa::available() {
                    assert_eq!(
                        kernel::first_bad_target(isa, (&t).into(), c),
                        Some(first),
                        "{isa:?} n={n} first={first} bad={bad}"
                    );
                }
                match mml::check_targets(&t, c) {
                    Err(mml::Error::TargetOutOfRange {
                        row,
                        target,
                        classes,
                    }) => assert_eq!((row, target, classes), (first, bad, c), "n={n}"),
                    other => panic!("n={n} first={first}: {other:?}"),
                }
                // The same scan on 32-bit targets (the bad value narrowed to one that is
                // still out of range).
                let narrow: Vec<i32> = t
                    .iter()
                    .map(|&v| i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX }))
                    .collect();
                for isa in Isa::available() {
                    assert_eq!(
                        kernel::first_bad_target(isa, (&narrow).into(), c),
                        Some(first),
                        "{isa:?} int32 n={n} first={first} bad={bad}"
                    );
                }
                match mml::check_targets(&narrow, c) {
                    Err(mml::Error::TargetOutOfRange { row, target, .. }) => {
                        assert_eq!((row, target), (first, i64::from(narrow[first])), "n={n}")
                    }
                    other => panic!("int32 n={n} first={first}: {other:?}"),
                }
            }
        }
    }
}

/// A forward task summing into `Partials`, planned as a large call's block, checks its own
/// targets on every path: a bad target anywhere (negative or too large, in the first row, a
/// middle vector, the last row of an overlapping last vector, or a task shorter than a vector)
/// sets `bad_target`. On every path, valid targets leave it clear with the reference's sums,
/// and a fused task (checked first) leaves it clear too.
fn check_self_checking_forward<T: Float>() {
    let mut rng = Rng(0x5e1f_c4ec);
    let params = Params {
        power: Power::One,
        margin: T::from_f64(1.0),
        weight: None,
    };
    for c in [1usize, 3, 9, 10, 16, 17, 33, 200, 1001] {
        for n in [5usize, 16, 37, 130] {
            let input: Vec<T> = (0..n * c).map(|_| score(&mut rng)).collect();
            let good: Vec<i64> = (0..n).map(|_| rng.below(c) as i64).collect();
            let run = |isa: Option<Isa>, target: &[i64], fused: bool| {
                let mut partials = Partials {
                    sums: [-7.0; INTERLEAVE],
                    bad_target: false,
                };
                let mut grad = vec![T::from_f64(0.0); n * c];
                let task = Task {
                    input: &input,
                    pitch: c,
                    target: target.into(),
                    loss: LossOut::Interleaved(&mut partials),
                    grad: fused.then(|| GradOut {
                        g: T::from_f64(0.5),
                        upstream: Upstream::Scalar(T::from_f64(1.0)),
                        grad: &mut grad[..],
                        pitch: c,
                    }),
                };
                match isa {
                    None => kernel::reference::run(&params, c, task),
                    Some(isa) => run_streamed_with(isa, &params, c, task),
                }
                partials
            };
            let want = run(None, &good, false);
            assert!(!want.bad_target, "reference c={c} n={n}");
            for isa in Isa::available() {
                let what = format!("{isa:?} c={c} n={n}");
                let got = run(Some(isa), &good, false);
                assert!(!got.bad_target, "{what}: valid targets reported bad");
                for (k, (g, w)) in got.sums.iter().zip(&want.sums).enumerate() {
                    assert!(same(*g, *w), "{what} partial {k}: got {g}, want {w}");
                }
                assert!(!run(Some(isa), &good, true).bad_target, "{what} fused");
                for row in [0, n / 2, n - 1] {
                    for bad in [-1i64, c as i64, i64::MIN, i64::MAX] {
                        let mut t = good.clone();
                        t[row] = bad;
                        assert!(
                            run(Some(isa), &t, false).bad_target,
                            "{what}: target {bad} in row {row} not found"
                        );
                    }
                }
            }
            let mut t = good.clone();
            t[n - 1] = c as i64;
            assert!(run(None, &t, false).bad_target, "reference c={c} n={n}");
        }
    }
}

#[test]
fn summed_forward_tasks_check_their_own_targets_f32() {
    check_self_checking_forward::<f32>();
}

#[test]
fn summed_forward_tasks_check_their_own_targets_f64() {
    check_self_checking_forward::<f64>();
}

/// Sum-reduced runs must give PyTorch's serial chain's bits even where another order would not:
/// these batches are built so that it does not (checked here on a pairwise sum): one large loss
/// and many a quarter of its unit, which the chain rounds away one by one. Also: a weight of -1
/// (negative losses), an infinite loss, and a NaN loss. A guard for any kernel or engine that
/// sums in another order where it believes that exact, as the engine's serial calls do.
#[allow(clippy::type_complexity)]
#[test]
fn sums_that_another_order_would_round_differently_match_the_chain() {
    /// Rows `[0, b, -inf, …]` with target 0 and margin 0: `z = b` in column 1 only, so the
    /// row's loss is `b / c` (before any weight).
    fn batch(n: usize, c: usize, b: impl Fn(usize) -> f32) -> (Vec<f32>, Vec<i64>) {
        let mut input = vec![f32::NEG_INFINITY; n * c];
        for r in 0..n {
            input[r * c] = 0.0;
            input[r * c + 1] = b(r);
        }
        (input, vec![0; n])
    }
    fn pairwise(v: &[f64]) -> f64 {
        match v.len() {
            0 => 0.0,
            1 => v[0],
            len => pairwise(&v[..len / 2]) + pairwise(&v[len / 2..]),
        }
    }
    // c = 3 runs the AVX2 kernels on AVX-512 machines, c = 10 and 16 the AVX-512 ones.
    for c in [3usize, 10, 16] {
        // Row 1's loss `big`; every other row's a quarter of `big`'s unit in float64, which the
        // chain rounds away while a pairwise sum keeps their total.
        let big = 2f32.powi(30) / c as f32;
        let unit = 2f64.powi(f64::from(big).log2().floor() as i32 - 52);
        let small = (unit / 4.0 * c as f64) as f32;
        // Up to several of the engine's summing blocks (1024 rows), the big loss in the first.
        for n in [16usize, 33, 64, 250, 256, 2500] {
            let cases: [(&str, Box<dyn Fn(usize) -> f32>, Option<Vec<f32>>); 4] = [
                (
                    "rounds",
                    Box::new(move |r| if r == 1 { 2f32.powi(30) } else { small }),
                    None,
                ),
                (
                    "negative",
                    Box::new(move |r| 1.0 + r as f32),
                    Some(vec![-1.0; c]),
                ),
                (
                    "infinite",
                    Box::new(move |r| if r == n / 2 { f32::INFINITY } else { 1.0 }),
                    None,
                ),
                // Weight 0: the last row's term is inf · 0 = NaN, every other row's 1 · 0 = 0.
                (
                    "nan",
                    Box::new(move |r| if r == n - 1 { f32::INFINITY } else { 1.0 }),
                    Some(vec![0.0; c]),
                ),
            ];
            for (name, b, weight) in &cases {
                let (input, target) = batch(n, c, b);
                let params = Params {
                    power: Power::One,
                    margin: 0.0f32,
                    weight: weight.as_deref(),
                };
                let g = 1.0 / (n * c) as f32;
                for kind in [Kind::ForwardSum, Kind::FusedSum] {
                    let want = run_kind(
                        Runner::Reference,
                        kind,
                        &params,
                        c,
                        &input,
                        &target,
                        &[1.0],
                        g,
                    );
                    if *name == "rounds" {
                        let losses = run_kind(
                            Runner::Reference,
                            Kind::ForwardPerRow,
                            &params,
                            c,
                            &input,
                            &target,
                            &[1.0],
                            g,
                        )
                        .losses;
                        let wide: Vec<f64> = losses.iter().map(|&l| f64::from(l)).collect();
                        assert_ne!(
                            pairwise(&wide).to_bits(),
                            want.sum.to_bits(),
                            "c={c} n={n}: another order must give other bits here"
                        );
                    }
                    let runners = Isa::available()
                        .into_iter()
                        .flat_map(|isa| [Runner::Kernel(isa), Runner::Engine(isa)]);
                    for runner in runners {
                        let got = run_kind(runner, kind, &params, c, &input, &target, &[1.0], g);
                        assert!(
                            same(got.sum, want.sum),
                            "{runner:?} {kind:?} {name} c={c} n={n}: got {}, want {}",
                            got.sum,
                            want.sum
                        );
                        assert_same(&format!("{runner:?} {name} grad"), &got.grad, &want.grad);
                    }
                }
            }
        }
    }
}

/// A sum of row losses that are NaNs of both signs keeps the first NaN met, as PyTorch's serial
/// `sum += loss` does on x86, on every path and for every size: the case (16 rows of 2
/// classes, weights `{0, NaN}`: a row of target 0 with `x[1] = +inf` loses `inf · 0`, the
/// default NaN `0xffc00000`; a row of target 1 loses `z · NaN`, the weight's `0x7fc00000`), its
/// mirror (the negative NaN last), and sizes that sum in the engine's buffers and in a large
/// call's blocks; also with 10 and 300 classes, whose large calls prefetch far ahead and run in
/// streams (weights `{0, NaN, 0, …}`).
#[test]
fn summed_nans_keep_the_first_nan_met_on_every_path() {
    let cases = [
        (2, &[16usize, 17, 33, 1500, 70_000][..]),
        (10, &[420_000][..]),
        (300, &[14_000][..]),
    ];
    for (c, sizes) in cases {
        let mut weight = vec![0.0f32; c];
        weight[1] = f32::NAN;
        summed_nans_keep_the_first_nan_met(c, &weight, sizes);
    }
}

fn summed_nans_keep_the_first_nan_met(c: usize, weight: &[f32], sizes: &[usize]) {
    let params = Params {
        power: Power::One,
        margin: 1.0f32,
        weight: Some(weight),
    };
    for &n in sizes {
        for negative_first in [true, false] {
            // The row whose target is 0 (and whose loss is the negative NaN): first or last.
            let special = if negative_first { 0 } else { n - 1 };
            let mut input = vec![0.5f32; n * c];
            let mut target = vec![1i64; n];
            target[special] = 0;
            input[special * c + 1] = f32::INFINITY;
            let g = 1.0 / (n * c) as f32;
            let losses = run_kind(
                Runner::Reference,
                Kind::ForwardPerRow,
                &params,
                c,
                &input,
                &target,
                &[1.0],
                g,
            )
            .losses;
            let first = losses[0].to_bits();
            assert!(losses.iter().all(|l| l.is_nan()));
            assert_eq!(
                losses[special].to_bits(),
                0xffc0_0000,
                "inf · 0 is the default NaN"
            );
            assert_eq!(
                losses[n - 1 - special].to_bits(),
                0x7fc0_0000,
                "the weight's NaN"
            );
            for isa in Isa::available() {
                for kind in [Kind::ForwardSum, Kind::FusedSum] {
                    for runner in [Runner::Reference, Runner::Engine(isa)] {
                        let got = run_kind(runner, kind, &params, c, &input, &target, &[1.0], g);
                        assert_eq!(
                            got.sum.to_bits(),
                            f64::from(f32::from_bits(first)).to_bits(),
                            "{runner:?} {kind:?} n={n}: the sum keeps row 0's NaN"
                        );
                    }
                }
            }
        }
    }
}

/// `kernel::sum_in_any_order` on every path for `losses` padded with zeros to whole vectors:
/// the same answer on each, and the chain's bits whenever it answers.
fn any_order(total: f64, losses: &[f32]) -> Option<f64> {
    let mut padded = losses.to_vec();
    padded.resize(losses.len().next_multiple_of(SUM_LANES), 0.0);
    let answer = kernel::sum_in_any_order(Isa::Scalar, total, &padded);
    for isa in Isa::available() {
        assert_eq!(
            kernel::sum_in_any_order(isa, total, &padded).map(f64::to_bits),
            answer.map(f64::to_bits),
            "{isa:?}"
        );
    }
    if let Some(s) = answer {
        assert_eq!(
            s.to_bits(),
            sum::chain(total, losses).to_bits(),
            "{total} {losses:?}"
        );
    }
    answer
}

#[test]
fn any_order_sums_refuse_what_they_cannot_prove() {
    for isa in Isa::available() {
        assert!(kernel::sum_in_any_order(isa, 0.0, &[1.0; SUM_LANES + 1]).is_none());
    }
    assert!(any_order(0.0, &[1.0, -1.0]).is_none());
    assert!(any_order(0.0, &[1.0, -0.0]).is_none());
    assert!(any_order(0.0, &[1.0, f32::NAN]).is_none());
    assert!(any_order(0.0, &[1.0, f32::INFINITY]).is_none());
    assert!(any_order(-1.0, &[1.0]).is_none());
    assert!(any_order(f64::NAN, &[1.0]).is_none());
    assert!(any_order(f64::INFINITY, &[1.0]).is_none());
    // The unit of 2^-30 is 2^-53, so the sum must stay below 1: 2^30 is refused (though this
    // pair happens to add exactly), 2^-1 is accepted.
    assert!(any_order(0.0, &[2f32.powi(30), 2f32.powi(-30)]).is_none());
    assert!(any_order(0.0, &[0.5, 2f32.powi(-30)]).is_some());
    assert!(any_order(0.0, &[2f32.powi(40), 1.0, 2f32.powi(-40)]).is_none());
}

#[test]
fn any_order_sums_accept_the_common_cases_with_the_chains_bits() {
    assert_eq!(any_order(0.0, &[]), Some(0.0));
    assert_eq!(any_order(0.0, &[0.0; 20]).map(f64::to_bits), Some(0));
    assert_eq!(any_order(2.5, &[0.0; 3]), Some(2.5));
    let losses: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin().abs()).collect();
    assert!(any_order(0.0, &losses).is_some());
    assert!(any_order(123.5, &losses).is_some());
    // A total with float64's full precision admits no further exact add of these.
    assert!(any_order(123.456, &losses).is_none());
    assert!(any_order(0.0, &[f32::from_bits(1), f32::MIN_POSITIVE, 3e-38]).is_some());
}

/// The engine's use: blocks of a long batch added to the running total one after another, each
/// exactly while the total stays below 2^53 units of the smallest loss (here 2^-30).
#[test]
fn any_order_sums_keep_admitting_blocks_as_the_total_grows() {
    let losses: Vec<f32> = (0..65536)
        .map(|i| (i as f32 * 0.37).sin().abs() + 0.01)
        .collect();
    let mut total = 0.0;
    for block in losses.chunks(256) {
        total = any_order(total, block).expect("every block exact");
    }
    assert_eq!(total.to_bits(), sum::chain(0.0, &losses).to_bits());
}

/// Random magnitudes over a range wide enough that both answers occur; every accepted sum must
/// carry the chain's bits.
#[test]
fn any_order_sums_match_the_chain_whenever_they_answer() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let len = rng.below(70);
        let spread = rng.below(60);
        let losses: Vec<f32> = (0..len)
            .map(|_| match rng.below(8) {
                0 => 0.0,
                _ => {
                    let mantissa = rng.below(1 << 24) as f32 / (1 << 24) as f32 + 0.5;
                    mantissa * 2f32.powi(rng.below(spread + 1) as i32 - 30)
                }
            })
            .collect();
        let total = match rng.below(3) {
            0 => 0.0,
            _ => sum::chain(0.0, &losses[..len / 2]),
        };
        match any_order(total, &losses[len / 2..]) {
            Some(_) => accepted += 1,
            None => refused += 1,
        }
    }
    assert!(accepted > 1000 && refused > 1000, "{accepted} {refused}");
}

/// Forward calls of long rows (from 128 classes the kernels skip the `j == y` mask in tiles that
/// hold no lane's target): targets all in the first tile, all in the last (partial) one, one
/// per tile, or random; past 64 tiles (c > 1024 for AVX-512's `f32`, c > 256 for AVX2's `f64`)
/// tiles share their bits. Every path, both precisions, every power and weighting, the
/// reference's bits.
#[test]
fn long_rows_skip_the_target_mask_only_where_no_target_is() {
    fn check<T: Float>(rng: &mut Rng) {
        let runners: Vec<Runner> = Isa::available().into_iter().map(Runner::Kernel).collect();
        for c in [127usize, 128, 200, 512, 1001, 1024, 1025, 2000] {
            for n in [16usize, 17, 33] {
                let input: Vec<T> = (0..n * c).map(|_| finite_score(rng)).collect();
                let weight: Vec<T> = (0..c).map(|_| finite_score(rng)).collect();
                let patterns: [Vec<i64>; 4] = [
                    (0..n).map(|r| (r % 16) as i64).collect(),
                    (0..n).map(|r| (c - 1 - r % 5) as i64).collect(),
                    (0..n).map(|r| ((r * 16 + 3) % c) as i64).collect(),
                    (0..n).map(|_| rng.below(c) as i64).collect(),
                ];
                for target in &patterns {
                    for power in [Power::One, Power::Two] {
                        for weighted in [false, true] {
                            let params = Params {
                                power,
                                margin: T::from_f64(1.0),
                                weight: weighted.then_some(&weight[..]),
                            };
                            let g = T::from_f64(0.5);
                            for kind in [Kind::ForwardPerRow, Kind::ForwardSum] {
                                assert_runners_match_reference(
                                    &runners,
                                    kind,
                                    &params,
                                    c,
                                    &input,
                                    target,
                                    &[],
                                    g,
                                    &format!("c={c} n={n} {power:?} w={weighted}"),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    let mut rng = Rng(0x5eed_1095_7a11);
    check::<f32>(&mut rng);
    check::<f64>(&mut rng);
}

/// Each power with and without weights, at three margins: (power, weighted, margin).
const PARAMETERS: [(Power, bool, f64); 4] = [
    (Power::One, false, 1.0),
    (Power::One, true, 0.5),
    (Power::Two, false, 0.0),
    (Power::Two, true, 1.0),
];

/// Finite scores with a rare NaN: one infinity in a row of hundreds would make nearly every loss
/// infinite and hide a wrongly counted term.
fn finite_score<T: Float>(rng: &mut Rng) -> T {
    match rng.below(1000) {
        0 => T::from_f64(f64::NAN),
        _ => T::from_f64(rng.below(1 << 20) as f64 / (1 << 18) as f64 - 2.0),
    }
}

/// Tasks run as blocks of a large call (`kernel::run_streamed_with`) give the reference's bits
/// on every path. Forward tasks of long rows read lanes far apart there (asserted on AVX2 and
/// AVX-512 where the CPU has them: from 257 classes, at least 32 rows): row counts one short of that, a multiple of 16 (no last block of its own), with a
/// last block of adjacent rows, an engine block's, and more than one chunk of 512 (chunks of
/// unequal length); targets in the first tile, the last (partial) one, or anywhere; every
/// power and weighting; every task kind (those with a gradient run as `run_with` runs them).
fn check_streamed<T: Float>() {
    let mut rng = Rng(0x57e4_a3ed);
    let runners: Vec<Runner> = Isa::available().into_iter().map(Runner::Streamed).collect();
    let mut subset = Subset::new();
    for c in [200usize, 256, 257, 300, 1000, 1025] {
        for isa in Isa::available() {
            let simd = matches!(isa, Isa::Avx2 | Isa::Avx512) && c >= 257;
            for rows in [31usize, 32, 47, 80, 513] {
                let huge = 1 << 30;
                let streams = large_plan::<T>(isa, c, Op::Forward, huge, rows)
                    .schedule()
                    .streams;
                assert_eq!(streams, simd && rows >= 32, "{isa:?} c={c} rows={rows}");
                for op in [Op::Backward, Op::Fused] {
                    let streams = large_plan::<T>(isa, c, op, huge, rows).schedule().streams;
                    assert!(!streams, "{isa:?} {op:?}");
                }
            }
        }
        for n in [31usize, 32, 47, 80, 255, 1100] {
            let input: Vec<T> = (0..n * c).map(|_| finite_score(&mut rng)).collect();
            let weight: Vec<T> = (0..c).map(|_| finite_score(&mut rng)).collect();
            let upstream: Vec<T> = (0..n).map(|_| score(&mut rng)).collect();
            let patterns: [Vec<i64>; 3] = [
                (0..n).map(|r| (r % 16) as i64).collect(),
                (0..n).map(|r| (c - 1 - r % 5) as i64).collect(),
                (0..n).map(|_| rng.below(c) as i64).collect(),
            ];
            for (p, target) in patterns.iter().enumerate() {
                for (power, weighted, margin) in PARAMETERS {
                    if !subset.take() {
                        continue;
                    }
                    let params = Params {
                        power,
                        margin: T::from_f64(margin),
                        weight: weighted.then_some(&weight[..]),
                    };
                    // Every kind once per shape, the forward kinds with every parameter.
                    let kinds: &[Kind] = if p == 0 && power == Power::One && !weighted {
                        &KINDS
                    } else {
                        &[
                            Kind::ForwardPerRow,
                            Kind::ForwardSum,
                            Kind::ForwardInterleaved,
                        ]
                    };
                    for &kind in kinds {
                        assert_runners_match_reference(
                            &runners,
                            kind,
                            &params,
                            c,
                            &input,
                            target,
                            &upstream,
                            T::from_f64(0.5),
                            &format!("c={c} n={n} targets {p} {power:?} w={weighted}"),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn streamed_tasks_give_the_reference_bits_f32() {
    check_streamed::<f32>();
}

#[test]
fn streamed_tasks_give_the_reference_bits_f64() {
    check_streamed::<f64>();
}

/// Calls large enough that their blocks prefetch far ahead (asserted on the AVX2 and AVX-512
/// paths where the CPU has them: rows of fewer than 32 classes, every operation, from
/// `MEMORY_SCHEDULE_MIN_BYTES` of scores) give the per-row losses and gradients of the
/// reference and the sum of the fixed blocks, forward, backward and fused, on every path; the
/// last block is short, with a last group of rows that does not fill a vector; both the
/// constant-`c` kernel (p = 1, no weights, 10 classes) and the general one.
fn check_ahead_engine<T: Float>() {
    for c in [10usize, 20, 32] {
        let rows = engine::rows_per_block(c);
        let n =
            (kernel::MEMORY_SCHEDULE_MIN_BYTES / size_of::<T>() / c).next_multiple_of(rows) + 37;
        for isa in Isa::available() {
            let want = matches!(isa, Isa::Avx2 | Isa::Avx512) && c < 32;
            for op in [Op::Forward, Op::Backward, Op::Fused] {
                let ahead = |n| large_plan::<T>(isa, c, op, n, rows).schedule().ahead;
                assert_eq!(ahead(n), want, "{isa:?} c={c} n={n} {op:?}: ahead");
                assert!(
                    !ahead(n - 2 * rows),
                    "{isa:?} c={c} {op:?}: ahead below the size"
                );
            }
        }
        if c < 32 {
            check_large_call::<T>(c, n);
        }
    }
}

/// Calls large enough that the engine streams the blocks of their long rows (asserted on the
/// AVX2 and AVX-512 paths where the CPU has them, for forward calls of 257 classes and more)
/// give the per-row losses and gradients of the reference and the sum of the fixed
/// blocks, forward, backward and fused, on every path; the last block is short, with a last
/// group of rows that does not fill a vector.
fn check_streamed_engine<T: Float>() {
    for c in [256usize, 300, 1000] {
        let rows = engine::rows_per_block(c);
        let n =
            (kernel::MEMORY_SCHEDULE_MIN_BYTES / size_of::<T>() / c).next_multiple_of(rows) + 37;
        for isa in Isa::available() {
            let want = matches!(isa, Isa::Avx2 | Isa::Avx512) && c >= 257;
            let streams = |op, n| large_plan::<T>(isa, c, op, n, rows).schedule().streams;
            assert_eq!(
                streams(Op::Forward, n),
                want,
                "{isa:?} c={c} n={n}: streams"
            );
            assert!(!streams(Op::Fused, n), "{isa:?} gradient");
            assert!(!streams(Op::Forward, n - rows) || want);
        }
        check_large_call::<T>(c, n);
    }
}

#[test]
fn large_calls_in_streamed_blocks_keep_the_fixed_blocks_bits_f32() {
    check_streamed_engine::<f32>();
}

#[test]
fn large_calls_in_streamed_blocks_keep_the_fixed_blocks_bits_f64() {
    check_streamed_engine::<f64>();
}

/// A call of `n` rows of `c` classes through the engine on every path, forward, backward and
/// fused, against the reference's per-row losses and gradients and the fixed blocks' sum.
fn check_large_call<T: Float>(c: usize, n: usize) {
    let mut rng = Rng(0x1a26_e0b5 ^ (c * n) as u64);
    let rows = engine::rows_per_block(c);
    // Finite scores: a NaN loss would make every sum NaN and hide the order of the adds.
    let input: Vec<T> = (0..n * c)
        .map(|_| T::from_f64((rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0))
        .collect();
    let target: Vec<i64> = (0..n).map(|_| rng.below(c) as i64).collect();
    let weight: Vec<T> = (0..c).map(|j| T::from_f64(0.5 + j as f64 / 8.0)).collect();
    let mut subset = Subset::new();
    for (power, weighted) in [(Power::One, false), (Power::Two, true)] {
        if !subset.take() {
            continue;
        }
        let params = Params {
            power,
            margin: T::from_f64(1.0),
            weight: weighted.then_some(&weight[..]),
        };
        let mut want = vec![T::ZERO; n];
        let mut want_grad = vec![T::ZERO; n * c];
        let g = T::from_f64(0.25);
        kernel::reference::run(
            &params,
            c,
            Task {
                input: &input,
                pitch: c,
                target: (&target).into(),
                loss: LossOut::PerRow(&mut want),
                grad: Some(GradOut {
                    g,
                    upstream: Upstream::Scalar(T::from_f64(-1.5)),
                    grad: &mut want_grad,
                    pitch: c,
                }),
            },
        );
        let want_sum = want.chunks(rows).fold(0.0f64, |total, block| {
            let mut partials = [0.0f64; INTERLEAVE];
            for (i, &l) in block.iter().enumerate() {
                partials[i % INTERLEAVE] += l.to_f64();
            }
            total + partials.iter().fold(0.0, |s, &p| s + p)
        });
        for isa in Isa::available() {
            let what = format!("{isa:?} c={c} n={n} {power:?}");
            for with_grad in [false, true] {
                let mut got = vec![T::from_f64(12345.0); n];
                let mut sum = -7.0f64;
                let mut grads = [(); 3].map(|_| vec![T::from_f64(-999.0); n * c]);
                let [grad_rows, grad_sum, grad_only] = &mut grads;
                for (loss, grad) in [
                    (LossOut::PerRow(&mut got[..]), grad_rows),
                    (LossOut::Sum(&mut sum), grad_sum),
                    (LossOut::Skip, grad_only),
                ] {
                    if !with_grad && matches!(loss, LossOut::Skip) {
                        continue;
                    }
                    let task = Task {
                        input: &input,
                        pitch: c,
                        target: (&target).into(),
                        loss,
                        grad: with_grad.then(|| GradOut {
                            g,
                            upstream: Upstream::Scalar(T::from_f64(-1.5)),
                            grad: &mut grad[..],
                            pitch: c,
                        }),
                    };
                    engine::execute_with(isa, &params, c, &mut { task });
                }
                let what = format!("{what} with gradient: {with_grad}");
                assert_same(&format!("{what} losses"), &got, &want);
                assert!(
                    same(sum, want_sum),
                    "{what} sum: got {sum}, want {want_sum}"
                );
                if with_grad {
                    for (k, grad) in grads.iter().enumerate() {
                        assert_same(&format!("{what} grad {k}"), grad, &want_grad);
                    }
                }
            }
        }
    }
}

#[test]
fn large_calls_prefetching_ahead_keep_the_fixed_blocks_bits_f32() {
    check_ahead_engine::<f32>();
}

#[test]
fn large_calls_prefetching_ahead_keep_the_fixed_blocks_bits_f64() {
    check_ahead_engine::<f64>();
}

/// Half-precision scores compute exactly as their widened float32 values do, on every path, in
/// every task kind and tail shape: the loads widen in registers, the arithmetic is float32's.
#[test]
fn half_scores_compute_as_their_widened_float32_on_every_path() {
    fn check<H: mml::kernel::Kernels<Real = f32>>(narrow: fn(f32) -> H) {
        let mut rng = Rng(0x5eed_0a1f);
        for &c in TAIL_CLASSES.iter().chain(&[300, 1001]) {
            for &n in &[1usize, 16, 33, 61] {
                let halves: Vec<H> = (0..n * c).map(|_| narrow(score::<f32>(&mut rng))).collect();
                let widened: Vec<f32> = halves.iter().map(|h| h.widen()).collect();
                let target: Vec<i64> = (0..n).map(|_| rng.below(c) as i64).collect();
                let upstream: Vec<f32> = (0..n).map(|_| score::<f32>(&mut rng)).collect();
                let weight: Vec<f32> = (0..c).map(|_| rng.below(5) as f32 * 0.5).collect();
                for (power, margin, weighted) in
                    [(Power::One, 1.0f32, false), (Power::Two, 0.5, true)]
                {
                    let params = Params {
                        power,
                        margin,
                        weight: weighted.then_some(&weight[..]),
                    };
                    for isa in Isa::available() {
                        let run = |input: Task<'_, f32>, half: Task<'_, H>| {
                            engine::execute_with(isa, &params, c, &mut { input });
                            engine::execute_with(isa, &params, c, &mut { half });
                        };
                        let (mut want_loss, mut got_loss) = (vec![0.0f32; n], vec![0.0f32; n]);
                        let (mut want_grad, mut got_grad) =
                            (vec![0.0f32; n * c], vec![0.0f32; n * c]);
                        let grad = |grad| {
                            Some(GradOut {
                                g: 1.0 / c as f32,
                                upstream: Upstream::PerRow(&upstream),
                                grad,
                                pitch: c,
                            })
                        };
                        run(
                            Task::contiguous(
                                &widened,
                                c,
                                &target[..],
                                LossOut::PerRow(&mut want_loss),
                                grad(&mut want_grad),
                            ),
                            Task::contiguous(
                                &halves,
                                c,
                                &target[..],
                                LossOut::PerRow(&mut got_loss),
                                grad(&mut got_grad),
                            ),
                        );
                        let what = format!("{isa:?} c={c} n={n} {power:?}");
                        assert_same(&format!("{what} fused loss"), &got_loss, &want_loss);
                        assert_same(&format!("{what} fused grad"), &got_grad, &want_grad);
                        let (mut want_sum, mut got_sum) = (0.0f64, 0.0f64);
                        run(
                            Task::contiguous(
                                &widened,
                                c,
                                &target[..],
                                LossOut::Sum(&mut want_sum),
                                None,
                            ),
                            Task::contiguous(
                                &halves,
                                c,
                                &target[..],
                                LossOut::Sum(&mut got_sum),
                                None,
                            ),
                        );
                        assert!(
                            same(got_sum, want_sum),
                            "{what} sum {got_sum} vs {want_sum}"
                        );
                        run(
                            Task::contiguous(
                                &widened,
                                c,
                                &target[..],
                                LossOut::PerRow(&mut want_loss),
                                None,
                            ),
                            Task::contiguous(
                                &halves,
                                c,
                                &target[..],
                                LossOut::PerRow(&mut got_loss),
                                None,
                            ),
                        );
                        assert_same(&format!("{what} forward"), &got_loss, &want_loss);
                    }
                }
            }
        }
    }
    check(half::bf16::from_f32);
    check(half::f16::from_f32);
}

/// Rows further apart than `c` (a row pitch, for the scores and the gradient alike) give the
/// contiguous rows' bits on every path, for calls below and above the parallel threshold.
#[test]
fn pitched_rows_give_the_contiguous_bits_on_every_path() {
    let mut rng = Rng(0x9177_c4ed);
    for &(n, c) in &[
        (61usize, 3usize),
        (33, 10),
        (17, 17),
        (9, 300),
        (20000, 10),
        (300, 1001),
    ] {
        let input: Vec<f32> = (0..n * c).map(|_| score::<f32>(&mut rng)).collect();
        let target: Vec<i64> = (0..n).map(|_| rng.below(c) as i64).collect();
        let upstream: Vec<f32> = (0..n).map(|_| score::<f32>(&mut rng)).collect();
        let params = Params {
            power: Power::One,
            margin: 1.0f32,
            weight: None,
        };
        for pitch in [c + 5, 2 * c] {
            let mut pitched = vec![f32::NAN; (n - 1) * pitch + c];
            for i in 0..n {
                pitched[i * pitch..i * pitch + c].copy_from_slice(&input[i * c..(i + 1) * c]);
            }
            for isa in Isa::available() {
                let (mut want_loss, mut got_loss) = (vec![0.0f32; n], vec![0.0f32; n]);
                let mut want_grad = vec![0.0f32; n * c];
                let mut got_grad = vec![7.0f32; (n - 1) * pitch + c];
                let grad = |grad, pitch| {
                    Some(GradOut {
                        g: 1.0 / c as f32,
                        upstream: Upstream::PerRow(&upstream),
                        grad,
                        pitch,
                    })
                };
                engine::execute_with(
                    isa,
                    &params,
                    c,
                    &mut Task::contiguous(
                        &input,
                        c,
                        &target[..],
                        LossOut::PerRow(&mut want_loss),
                        grad(&mut want_grad, c),
                    ),
                );
                engine::execute_with(
                    isa,
                    &params,
                    c,
                    &mut Task {
                        input: &pitched,
                        pitch,
                        target: (&target).into(),
                        loss: LossOut::PerRow(&mut got_loss),
                        grad: grad(&mut got_grad, pitch),
                    },
                );
                let what = format!("{isa:?} {n}x{c} pitch {pitch}");
                assert_same(&format!("{what} loss"), &got_loss, &want_loss);
                for i in 0..n {
                    assert_same(
                        &format!("{what} grad row {i}"),
                        &got_grad[i * pitch..i * pitch + c],
                        &want_grad[i * c..(i + 1) * c],
                    );
                    if i + 1 < n {
                        assert!(
                            got_grad[i * pitch + c..(i + 1) * pitch]
                                .iter()
                                .all(|&v| v == 7.0),
                            "{what}: a gradient row wrote past its c values"
                        );
                    }
                }
                let (mut want_sum, mut got_sum) = (0.0f64, 0.0f64);
                engine::execute_with(
                    isa,
                    &params,
                    c,
                    &mut Task::contiguous(
                        &input,
                        c,
                        &target[..],
                        LossOut::Sum(&mut want_sum),
                        None,
                    ),
                );
                engine::execute_with(
                    isa,
                    &params,
                    c,
                    &mut Task {
                        input: &pitched,
                        pitch,
                        target: (&target).into(),
                        loss: LossOut::Sum(&mut got_sum),
                        grad: None,
                    },
                );
                assert!(same(got_sum, want_sum), "{what} sum");
            }
        }
    }
}
