//! One C handle shared by 8 threads doing 100 000 mixed calls (small and large shapes, forward,
//! backward and fused, f32 and f64), every result identical to the serial one; meanwhile another
//! thread keeps changing the thread count with `mml_set_num_threads`.

mod oracle;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use mml::engine::PARALLEL_MIN_ELEMENTS;
use mml::ffi::{MML_STATUS_OK, mml_get_num_threads, mml_set_num_threads};
use mml::{Power, Reduction};
use oracle::{Elem, Handle, Spec};

const THREADS: usize = 8;
const CALLS: usize = 100_000;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Forward,
    Backward,
    Fused,
}

/// A precomputed call and its serial result, in one precision.
struct Case<T> {
    kind: Kind,
    n: usize,
    c: usize,
    input: Vec<T>,
    target: Vec<i64>,
    grad_output: Vec<T>,
    want_out: Vec<T>,
    want_grad: Vec<T>,
}

fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed | 1;
    move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl<T: Elem> Case<T> {
    fn new(spec: &Spec, handle: &Handle, kind: Kind, n: usize, c: usize, seed: u64) -> Self {
        let mut next = rng(seed);
        let mut value = || match next() % 50 {
            0 => T::SPECIAL[(next() % T::SPECIAL.len() as u64) as usize],
            k => T::from_f64((k as f64 - 25.0) / 8.0 + (next() % 1000) as f64 / 4096.0),
        };
        let input: Vec<T> = (0..n * c).map(|_| value()).collect();
        let grad_output: Vec<T> = (0..spec.output_len(n)).map(|_| value()).collect();
        let target: Vec<i64> = (0..n)
            .map(|i| ((i * 31 + seed as usize) % c) as i64)
            .collect();
        let mut case = Case {
            kind,
            n,
            c,
            input,
            target,
            grad_output,
            want_out: vec![],
            want_grad: vec![],
        };
        // The serial result (made before any other thread exists), checked against the oracle.
        let (out, grad) = case.call(handle, spec.output_len(n));
        if matches!(kind, Kind::Forward | Kind::Fused) {
            oracle::assert_same(
                &out,
                &oracle::forward(spec, &case.input, &case.target, n, c),
                "serial forward",
            );
        }
        if matches!(kind, Kind::Backward | Kind::Fused) {
            let want = oracle::backward(spec, &case.input, &case.target, n, c, &case.grad_output);
            oracle::assert_same(&grad, &want, "serial backward");
        }
        case.want_out = out;
        case.want_grad = grad;
        case
    }

    fn call(&self, handle: &Handle, out_len: usize) -> (Vec<T>, Vec<T>) {
        let (n, c) = (self.n, self.c);
        let (i, t, u) = (
            self.input.as_ptr(),
            self.target.as_ptr(),
            self.grad_output.as_ptr(),
        );
        let mut out = vec![
            T::ZERO;
            if matches!(self.kind, Kind::Backward) {
                0
            } else {
                out_len
            }
        ];
        let mut grad = vec![
            T::ZERO;
            if matches!(self.kind, Kind::Forward) {
                0
            } else {
                n * c
            }
        ];
        let ul = self.grad_output.len();
        // SAFETY: every buffer is valid for its length; outputs are fresh and disjoint.
        let status = unsafe {
            match self.kind {
                Kind::Forward => T::FORWARD(handle.0, i, t, n, c, out.as_mut_ptr(), out.len()),
                Kind::Backward => {
                    T::BACKWARD(handle.0, i, t, n, c, u, ul, grad.as_mut_ptr(), grad.len())
                }
                Kind::Fused => T::FUSED(
                    handle.0,
                    i,
                    t,
                    n,
                    c,
                    u,
                    ul,
                    out.as_mut_ptr(),
                    out.len(),
                    grad.as_mut_ptr(),
                    grad.len(),
                ),
            }
        };
        assert_eq!(status, MML_STATUS_OK);
        (out, grad)
    }

    fn check(&self, handle: &Handle, out_len: usize) {
        let (out, grad) = self.call(handle, out_len);
        let bits = |v: &[T]| v.iter().map(|x| x.to_bits_u64()).collect::<Vec<_>>();
        assert!(
            bits(&out) == bits(&self.want_out),
            "{:?} n={} c={}: loss differs from serial",
            self.kind,
            self.n,
            self.c
        );
        assert!(
            bits(&grad) == bits(&self.want_grad),
            "{:?} n={} c={}: grad differs from serial",
            self.kind,
            self.n,
            self.c
        );
    }
}

#[test]
fn shared_handle_many_threads_match_serial_while_thread_count_changes() {
    let spec = Spec {
        power: Power::Two,
        margin: 1.0,
        weight: Some((0..64).map(|j| 0.25 + j as f32 / 32.0).collect()),
        reduction: Reduction::None,
    };
    let mean = Spec {
        power: Power::One,
        weight: None,
        reduction: Reduction::Mean,
        ..spec.clone()
    };
    let handles = [spec.create(), mean.create()];
    let specs = [&spec, &mean];

    // Shapes: tiny, small, medium, and two above the parallel threshold (c = 64 fits the weights).
    let large = PARALLEL_MIN_ELEMENTS / 64 + 37;
    let shapes = [
        (1, 64),
        (7, 64),
        (100, 64),
        (large, 64),
        (2 * large + 5, 64),
    ];
    let kinds = [Kind::Forward, Kind::Backward, Kind::Fused];
    let mut f32_cases = Vec::new();
    let mut f64_cases = Vec::new();
    let mut seed = 1;
    for (h, spec) in specs.iter().enumerate() {
        for &(n, c) in &shapes {
            for &kind in &kinds {
                seed += 1;
                f32_cases.push((h, Case::<f32>::new(spec, &handles[h], kind, n, c, seed)));
                f64_cases.push((h, Case::<f64>::new(spec, &handles[h], kind, n, c, seed)));
            }
        }
    }

    let start = Instant::now();
    let done = AtomicBool::new(false);
    let calls = AtomicUsize::new(0);
    let large_calls = AtomicUsize::new(0);
    let changes = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut k = 0usize;
            while !done.load(Ordering::Relaxed) {
                // 1..=4 threads and 0 (the default), over and over.
                assert_eq!(mml_set_num_threads(k % 5), MML_STATUS_OK);
                k += 1;
                changes.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_micros(300));
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (f32_cases, f64_cases, handles, specs) =
                    (&f32_cases, &f64_cases, &handles, &specs);
                let (calls, large_calls) = (&calls, &large_calls);
                s.spawn(move || {
                    let mut next = rng(0x1234_5678 + t as u64);
                    for _ in 0..CALLS / THREADS {
                        // Large shapes (indices 3 and 4) in 1 call of 128: several hundred in all.
                        let r = next();
                        let shape = if r.is_multiple_of(128) {
                            3 + (r >> 7) as usize % 2
                        } else {
                            (r >> 7) as usize % 3
                        };
                        let (h, kind) = ((r >> 16) as usize % 2, (r >> 24) as usize % 3);
                        let i = h * 15 + shape * 3 + kind;
                        let is_large = if r & 1 << 40 == 0 {
                            let (h, case) = &f32_cases[i];
                            case.check(&handles[*h], specs[*h].output_len(case.n));
                            case.n * case.c >= PARALLEL_MIN_ELEMENTS
                        } else {
                            let (h, case) = &f64_cases[i];
                            case.check(&handles[*h], specs[*h].output_len(case.n));
                            case.n * case.c >= PARALLEL_MIN_ELEMENTS
                        };
                        calls.fetch_add(1, Ordering::Relaxed);
                        if is_large {
                            large_calls.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("a worker thread failed");
        }
        done.store(true, Ordering::Relaxed);
    });
    assert_eq!(mml_set_num_threads(0), MML_STATUS_OK);
    assert!(mml_get_num_threads() >= 1);
    let calls = calls.load(Ordering::Relaxed);
    let large = large_calls.load(Ordering::Relaxed);
    let changes = changes.load(Ordering::Relaxed);
    eprintln!(
        "{calls} calls ({large} large), {changes} thread-count changes, {:?}",
        start.elapsed()
    );
    assert_eq!(calls, CALLS);
    assert!(
        large >= 100,
        "only {large} large calls: the pool was barely exercised"
    );
    assert!(
        changes >= 10,
        "only {changes} thread-count changes overlapped the calls"
    );
}
