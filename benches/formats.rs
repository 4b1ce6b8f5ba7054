//! The formats' speed ratios of issue 21, each measured against its baseline in one run
//! (rounds alternate between the two; medians): bf16 and f16 forward against f32 forward at
//! 4194304×10 (rows per second), rows with a pitch of 2c against contiguous rows (the same
//! bytes touched), column-major against row-major views, and int32 against int64 targets, on
//! 1 and 2 threads. `cargo bench --bench formats [-- ROUNDS]`; prints the kernel path.

use std::hint::black_box;
use std::time::Instant;

use half::{bf16, f16};
use mml::{MultiMarginLoss, Reduction};
use ndarray::{Array2, ArrayView1, ArrayView2, ShapeBuilder, s};

const N: usize = 4_194_304;
const C: usize = 10;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds of `a` and of `b`, alternating, and the ratio time(a)/time(b) (b's speed
/// relative to a's).
fn ab(rounds: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    a();
    b();
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        a();
        ta.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        b();
        tb.push(t.elapsed().as_secs_f64());
    }
    (median(ta), median(tb))
}

fn report(what: &str, (a, b): (f64, f64)) {
    println!(
        "{what:<48} base {:>8.2} ms  this {:>8.2} ms  speed ratio {:.3}",
        a * 1e3,
        b * 1e3,
        a / b
    );
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(15);
    println!("kernel path: {}", mml::kernel::Isa::selected().name());
    let loss = MultiMarginLoss::builder()
        .reduction(Reduction::Mean)
        .build()
        .unwrap();
    let mut seed = 0x1234_5678_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let scores: Vec<f32> = (0..N * C)
        .map(|_| (next() % 4096) as f32 / 512.0 - 4.0)
        .collect();
    let target: Vec<i64> = (0..N).map(|_| (next() % C as u64) as i64).collect();
    let target32: Vec<i32> = target.iter().map(|&t| t as i32).collect();
    let scores_bf16: Vec<bf16> = scores.iter().map(|&v| bf16::from_f32(v)).collect();
    let scores_f16: Vec<f16> = scores.iter().map(|&v| f16::from_f32(v)).collect();
    let mut pitched = vec![0.0f32; N * 2 * C];
    for i in 0..N {
        pitched[i * 2 * C..i * 2 * C + C].copy_from_slice(&scores[i * C..(i + 1) * C]);
    }
    let row_major = ArrayView2::from_shape((N, C), &scores).unwrap();
    let mut column_major = Array2::<f32>::zeros((N, C).f());
    column_major.assign(&row_major);
    let targets = ArrayView1::from(&target);
    for threads in [1, 2] {
        mml::parallel::set_num_threads(threads).unwrap();
        println!("-- {threads} thread(s), {N}x{C} forward (mean)");
        let mut out = [0.0f32];
        let mut f32_forward = || {
            loss.forward_slice(black_box(&scores), &target, N, C, &mut out)
                .unwrap();
        };
        let mut out_h = [0.0f32];
        report(
            "bf16 vs f32 forward (rows/s)",
            ab(rounds, &mut f32_forward, || {
                loss.forward_slice(black_box(&scores_bf16), &target, N, C, &mut out_h)
                    .unwrap();
            }),
        );
        report(
            "f16 vs f32 forward (rows/s)",
            ab(rounds, &mut f32_forward, || {
                loss.forward_slice(black_box(&scores_f16), &target, N, C, &mut out_h)
                    .unwrap();
            }),
        );
        report(
            "int32 vs int64 targets, f32 forward",
            ab(rounds, &mut f32_forward, || {
                loss.forward_slice(black_box(&scores), &target32, N, C, &mut out_h)
                    .unwrap();
            }),
        );
        report(
            "pitch 2c vs contiguous forward",
            ab(rounds, &mut f32_forward, || {
                loss.compute_rows::<f32, f32>(
                    (black_box(&pitched[..(N - 1) * 2 * C + C]), 2 * C),
                    (&target).into(),
                    N,
                    C,
                    None,
                    Some(&mut out_h),
                    None,
                )
                .unwrap();
            }),
        );
        let mut out_v = ndarray::Array1::<f32>::zeros(1);
        report(
            "column-major vs row-major view forward",
            ab(
                rounds,
                || {
                    loss.forward_into(black_box(row_major), targets, out_v.view_mut())
                        .unwrap()
                },
                || {
                    loss.forward_into(
                        black_box(column_major.view()),
                        targets,
                        (&mut out_h[..]).into(),
                    )
                    .unwrap()
                },
            ),
        );
        let sliced = ArrayView2::from_shape((N, 2 * C), &pitched).unwrap();
        let sliced = sliced.slice(s![.., ..C]);
        report(
            "sliced view (pitch 2c) vs row-major view",
            ab(
                rounds,
                || {
                    loss.forward_into(black_box(row_major), targets, out_v.view_mut())
                        .unwrap()
                },
                || {
                    loss.forward_into(black_box(sliced), targets, (&mut out_h[..]).into())
                        .unwrap()
                },
            ),
        );
    }
}
