//! Determinism: a large input gives identical bits with 1, 2 and 3 threads, and per-row results
//! identical to the serial reference (only the reduced sum depends on the fixed blocking).

mod common;

use common::{Rng, assert_same};
use mml::kernel::{GradOut, LossOut, Params, Power, Task, Upstream, reference};
use mml::{MultiMarginLoss, Reduction};

struct Results {
    none: Vec<f32>,
    sum: f32,
    mean: f32,
    grad_none: Vec<f32>,
    grad_mean: Vec<f32>,
    fused_loss: f32,
    fused_grad: Vec<f32>,
    sum_f64: f64,
}

fn compute(x: &[f32], t: &[i64], n: usize, c: usize, w: &[f32], up: &[f32]) -> Results {
    let make = |r| {
        MultiMarginLoss::builder()
            .p(2)
            .margin(0.75)
            .weight(w.to_vec())
            .reduction(r)
            .build()
            .unwrap()
    };
    let (none, sum, mean) = (
        make(Reduction::None),
        make(Reduction::Sum),
        make(Reduction::Mean),
    );
    let mut r = Results {
        none: vec![0.0; n],
        sum: 0.0,
        mean: 0.0,
        grad_none: vec![0.0; n * c],
        grad_mean: vec![0.0; n * c],
        fused_loss: 0.0,
        fused_grad: vec![0.0; n * c],
        sum_f64: 0.0,
    };
    none.forward_slice(x, t, n, c, &mut r.none).unwrap();
    sum.forward_slice(x, t, n, c, std::slice::from_mut(&mut r.sum))
        .unwrap();
    mean.forward_slice(x, t, n, c, std::slice::from_mut(&mut r.mean))
        .unwrap();
    none.backward_slice(x, t, n, c, up, &mut r.grad_none)
        .unwrap();
    mean.backward_slice(x, t, n, c, &[0.5], &mut r.grad_mean)
        .unwrap();
    sum.forward_backward_slice(
        x,
        t,
        n,
        c,
        &[-2.0],
        std::slice::from_mut(&mut r.fused_loss),
        &mut r.fused_grad,
    )
    .unwrap();
    let x64: Vec<f64> = x.iter().map(|&v| v.into()).collect();
    sum.forward_slice(&x64, t, n, c, std::slice::from_mut(&mut r.sum_f64))
        .unwrap();
    r
}

/// Taken by the tests that set the process-wide thread count.
static THREAD_COUNT: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn results_do_not_depend_on_thread_count() {
    let _count = THREAD_COUNT.lock().unwrap_or_else(|e| e.into_inner());
    let (n, c) = (40_000, 37);
    assert!(
        n * c >= 4 * mml::engine::PARALLEL_MIN_ELEMENTS,
        "must take the parallel path"
    );
    let mut rng = Rng(7);
    let x: Vec<f32> = (0..n * c).map(|_| rng.score()).collect();
    let t: Vec<i64> = (0..n).map(|_| rng.below(c) as i64).collect();
    let w: Vec<f32> = (0..c).map(|_| rng.score().abs() + 0.1).collect();
    let up: Vec<f32> = (0..n).map(|_| rng.score()).collect();

    mml::parallel::set_num_threads(1).unwrap();
    let base = compute(&x, &t, n, c, &w, &up);
    for threads in [2, 3] {
        mml::parallel::set_num_threads(threads).unwrap();
        assert_eq!(mml::parallel::num_threads(), threads);
        let r = compute(&x, &t, n, c, &w, &up);
        let what = |s: &str| format!("{s} with {threads} threads");
        assert_same(&what("none"), &r.none, &base.none);
        assert_same(&what("sum"), &[r.sum], &[base.sum]);
        assert_same(&what("mean"), &[r.mean], &[base.mean]);
        assert_same(&what("grad none"), &r.grad_none, &base.grad_none);
        assert_same(&what("grad mean"), &r.grad_mean, &base.grad_mean);
        assert_same(&what("fused loss"), &[r.fused_loss], &[base.fused_loss]);
        assert_same(&what("fused grad"), &r.fused_grad, &base.fused_grad);
        assert_same(&what("sum f64"), &[r.sum_f64], &[base.sum_f64]);
    }
    mml::parallel::set_num_threads(0).unwrap();

    // Per-row values equal the serial reference run as one block.
    let params = Params {
        power: Power::Two,
        margin: 0.75f32,
        weight: Some(&w[..]),
    };
    let mut rows = vec![0.0f32; n];
    let mut grad = vec![0.0f32; n * c];
    let g = (1.0 / c as f64) as f32;
    let upstream = Upstream::PerRow(&up[..]);
    let grad_out = GradOut {
        g,
        upstream,
        grad: &mut grad,
        pitch: c,
    };
    reference::run(
        &params,
        c,
        Task {
            input: &x,
            pitch: c,
            target: t[..].into(),
            loss: LossOut::PerRow(&mut rows),
            grad: Some(grad_out),
        },
    );
    assert_same("per-row losses vs serial reference", &base.none, &rows);
    assert_same("gradient vs serial reference", &base.grad_none, &grad);

    // The reduced sum is the in-order sum of fixed blocks, each the in-order sum of its sixteen
    // interleaved partials (row i of the block into partial i % 16).
    let block = mml::engine::rows_per_block(c);
    let total = rows.chunks(block).fold(0.0f64, |acc, b| {
        let mut partials = [0.0f64; 16];
        for (i, &v) in b.iter().enumerate() {
            partials[i % 16] += f64::from(v);
        }
        acc + partials.iter().fold(0.0f64, |s, &p| s + p)
    });
    assert_same("sum vs block partials", &[base.sum], &[total as f32]);
}

#[test]
fn pool_runs_every_item_exactly_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits: Vec<AtomicUsize> = (0..1000).map(|_| AtomicUsize::new(0)).collect();
    mml::parallel::for_each(0..1000, |i: usize| {
        hits[i].fetch_add(1, Ordering::Relaxed);
    });
    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
}

#[test]
fn pool_rejects_absurd_thread_counts() {
    use mml::parallel::{MAX_THREADS, TooManyThreads, set_num_threads};
    assert_eq!(
        set_num_threads(MAX_THREADS + 1),
        Err(TooManyThreads(MAX_THREADS + 1))
    );
}

/// A panic in a work item on a pool worker, or on the calling thread, reaches the caller once
/// every other item has run, and the pool serves the next call.
#[test]
fn pool_reports_panics_and_stays_usable() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let _count = THREAD_COUNT.lock().unwrap_or_else(|e| e.into_inner());
    mml::parallel::set_num_threads(3).unwrap();
    let on_worker = || {
        std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with("mml-worker"))
    };
    for panics_on_worker in [true, false] {
        let hits: Vec<AtomicUsize> = (0..64).map(|_| AtomicUsize::new(0)).collect();
        let panicked = std::panic::catch_unwind(|| {
            mml::parallel::for_each(0..64, |i: usize| {
                // Slow items, so that the workers join before the calling thread is done.
                std::thread::sleep(std::time::Duration::from_millis(1));
                hits[i].fetch_add(1, Ordering::Relaxed);
                if i.is_multiple_of(2) && on_worker() == panics_on_worker {
                    panic!("item {i} fails");
                }
            });
        })
        .is_err();
        assert!(
            panicked,
            "the panic (on a worker: {panics_on_worker}) did not reach the caller"
        );
        // No item runs twice. Where only workers panic, the calling thread drains the rest, so
        // every item runs; where the calling thread panics, the call ends once the items already
        // taken have finished, and items no worker took yet never run (workers may join late
        // on a loaded machine).
        assert!(
            hits.iter().all(|h| h.load(Ordering::Relaxed) <= 1),
            "an item ran twice"
        );
        if panics_on_worker {
            assert!(
                hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                "an item did not run although the calling thread kept draining"
            );
        }
        let after: Vec<AtomicUsize> = (0..1000).map(|_| AtomicUsize::new(0)).collect();
        mml::parallel::for_each(0..1000, |i: usize| {
            after[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(after.iter().all(|h| h.load(Ordering::Relaxed) == 1));
    }
    mml::parallel::set_num_threads(0).unwrap();
}
