//! Allocation failure at every point where mml allocates, in the manner of SQLite's malloc
//! tests: each call below runs once unconstrained, counting the allocations it makes (on every
//! thread: the pool's workers included), then once for each k up to that count plus one with
//! the k-th allocation failing. Every run must either succeed with the unconstrained run's bits
//! or report `MML_STATUS_OUT_OF_MEMORY` / `Error::OutOfMemory` with every output byte untouched.
//! None may abort the process (which would end this test binary).
//!
//! Covered: `mml_create` with weights, `MultiMarginLoss::try_new` and `Builder::build` with
//! weights, and large forward, backward and fused calls (n·c >= 131072 scores: 16384x10 with
//! NaN weights, 4096x100, and on 2 threads 524288x10, whose blocks prefetch far ahead) with each
//! reduction, f32 and f64, on a pool that is already built (2 and 3 threads) and on the calling
//! thread alone (1 thread).
//!
//! The binary runs without the test harness (`harness = false` in Cargo.toml), so that no
//! other thread of the harness allocates while an allocation count is armed.

mod oracle;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mml::ffi::{self, MML_STATUS_OK, MML_STATUS_OUT_OF_MEMORY, MmlLoss};
use mml::{Error, MultiMarginLoss, Options, Power, Reduction};
use oracle::{Elem, Spec};

/// The system allocator, with a count of the allocations made while armed and a failure of
/// the `FAIL_AT`-th of them (0: none fails).
struct Failing;

static ARMED: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicUsize = AtomicUsize::new(0);
static FAIL_AT: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);

fn fails_now() -> bool {
    if !ARMED.load(Ordering::SeqCst) {
        return false;
    }
    let k = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if k == FAIL_AT.load(Ordering::SeqCst) {
        FAILED.fetch_add(1, Ordering::SeqCst);
        return true;
    }
    false
}

// SAFETY: forwards every request unchanged to the system allocator, or returns NULL, which
// every caller of a `GlobalAlloc` must expect.
unsafe impl GlobalAlloc for Failing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if fails_now() {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if fails_now() {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if fails_now() {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Failing = Failing;

/// Counts (and fails) allocations while it lives: it wraps the library call alone, so that
/// the test's own allocations neither count nor fail.
struct Armed;

fn arm() -> Armed {
    ARMED.store(true, Ordering::SeqCst);
    Armed
}

impl Drop for Armed {
    fn drop(&mut self) {
        ARMED.store(false, Ordering::SeqCst);
    }
}

/// Runs `f`, whose library call is [`arm`]ed, failing the `fail_at`-th allocation counted (0
/// for none); returns its result, the allocations counted and whether one failed.
fn armed<R>(fail_at: usize, f: impl FnOnce() -> R) -> (R, usize, bool) {
    FAILED.store(0, Ordering::SeqCst);
    COUNT.store(0, Ordering::SeqCst);
    FAIL_AT.store(fail_at, Ordering::SeqCst);
    let result = f();
    assert!(!ARMED.load(Ordering::SeqCst));
    FAIL_AT.store(0, Ordering::SeqCst);
    let failed = FAILED.load(Ordering::SeqCst);
    assert!(failed <= 1, "more than one allocation failed");
    (result, COUNT.load(Ordering::SeqCst), failed == 1)
}

/// For every allocation point of `f` (counted by an unconstrained run) and one past them, runs
/// `f` with that allocation failing and hands the outcome to `check` with whether it failed.
/// Returns the number of allocation points.
fn every_failure_point<R>(
    mut f: impl FnMut() -> R,
    mut check: impl FnMut(usize, R, bool),
) -> usize {
    let (first, points, _) = armed(0, &mut f);
    check(0, first, false);
    for k in 1..=points + 1 {
        let (result, count, failed) = armed(k, &mut f);
        assert_eq!(
            failed,
            k <= points,
            "allocation {k} of {points} (this run made {count})"
        );
        check(k, result, failed);
    }
    points
}

fn create(spec: &Spec, out: &mut *mut MmlLoss) -> u32 {
    let w = spec.weight.as_deref().unwrap_or(&[]);
    let _armed = arm();
    // SAFETY: `w` is valid for its length, `out` is a valid slot.
    unsafe {
        ffi::mml_create(
            spec.ffi_p(),
            spec.margin,
            w.as_ptr(),
            w.len(),
            spec.ffi_reduction(),
            out,
        )
    }
}

/// p = 2 with weights; at 10 classes two of them NaN (of either sign, with payloads), so that
/// summed losses are NaN and their bits say which NaN the order of the adds kept.
fn spec(c: usize, reduction: Reduction) -> Spec {
    let weight = |j: usize| match (c, j) {
        (10, 3) => f32::from_bits(0x7fc0_0123),
        (10, 7) => f32::from_bits(0xffc0_0000),
        _ => 0.5 + j as f32 / 16.0,
    };
    Spec {
        power: Power::Two,
        margin: 1.0,
        weight: Some((0..c).map(weight).collect()),
        reduction,
    }
}

/// `mml_create` with weights: each allocation it makes fails it cleanly, `*out` untouched,
/// and a handle made once the failure point is past the end computes like any other.
fn create_fails_cleanly() {
    let spec = spec(10, Reduction::Sum);
    let reference = spec.create();
    let sentinel = 0x5a5a_5a5a_5a5a_5a58usize as *mut MmlLoss;
    let points = every_failure_point(
        || {
            let mut out = sentinel;
            (create(&spec, &mut out), out)
        },
        |k, (status, out), failed| {
            if failed {
                assert_eq!(
                    status, MML_STATUS_OUT_OF_MEMORY,
                    "mml_create, allocation {k}"
                );
                assert_eq!(out, sentinel, "mml_create wrote *out on failure");
            } else {
                assert_eq!(status, MML_STATUS_OK, "mml_create, run {k}");
                let handle = oracle::Handle(out);
                let (input, target) = data::<f32>(64, 10);
                let got = forward(&handle, &input, &target, 64, 10, 1);
                let want = forward(&reference, &input, &target, 64, 10, 1);
                assert_same_bits(&got, &want, "a handle made after the failure points");
            }
        },
    );
    // At least the weights' copy and the handle: fewer means this allocator is not in use.
    assert!(points >= 2, "mml_create made {points} allocations");
    println!(
        "mml_create with weights: {points} allocation points, each fails it with \
         MML_STATUS_OUT_OF_MEMORY"
    );
}

/// The safe API's constructors: `try_new` and `Builder::build` report `Error::OutOfMemory`.
fn safe_constructors_fail_cleanly() {
    let weight: Vec<f32> = (0..10).map(|j| j as f32 - 2.5).collect();
    let options = Options {
        power: Power::One,
        margin: 0.5,
        weight: Some(weight.clone()),
        reduction: Reduction::Mean,
    };
    // The clones are made before anything is counted: a test's own allocation must not fail.
    let mut copies = vec![options.clone(); 16];
    let points = every_failure_point(
        || {
            let options = copies.pop().expect("enough copies");
            let _armed = arm();
            MultiMarginLoss::try_new(options)
        },
        |k, result, failed| match result {
            Err(e) => {
                assert!(failed, "try_new failed without an allocation failure: {e}");
                assert_eq!(e, Error::OutOfMemory, "try_new, allocation {k}");
            }
            Ok(loss) => assert!(!failed && loss.options() == &options),
        },
    );
    println!("MultiMarginLoss::try_new with weights: {points} allocation points");
    let mut builders = vec![MultiMarginLoss::builder().weight(weight); 16];
    let points = every_failure_point(
        || {
            let builder = builders.pop().expect("enough copies");
            let _armed = arm();
            builder.build()
        },
        |_, result, failed| match result {
            Err(e) => assert!(failed && e == Error::OutOfMemory, "build: {e}"),
            Ok(_) => assert!(!failed),
        },
    );
    println!("Builder::build with weights: {points} allocation points");
}

/// Deterministic scores and targets (a coarse grid: hinge ties occur).
fn data<T: Elem>(n: usize, c: usize) -> (Vec<T>, Vec<i64>) {
    let input = (0..n * c)
        .map(|i| T::from_f64(((i * 7919) % 29) as f64 * 0.125 - 2.0))
        .collect();
    let target = (0..n).map(|i| ((i * 31) % c) as i64).collect();
    (input, target)
}

fn forward<T: Elem>(
    h: &oracle::Handle,
    input: &[T],
    target: &[i64],
    n: usize,
    c: usize,
    out_len: usize,
) -> Vec<T> {
    let mut out = vec![T::ZERO; out_len];
    // SAFETY: every buffer is valid for its length.
    let status = unsafe {
        T::FORWARD(
            h.0,
            input.as_ptr(),
            target.as_ptr(),
            n,
            c,
            out.as_mut_ptr(),
            out.len(),
        )
    };
    assert_eq!(status, MML_STATUS_OK);
    out
}

#[track_caller]
fn assert_same_bits<T: Elem>(got: &[T], want: &[T], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits_u64() != want[i].to_bits_u64()) {
        panic!("{what}: element {i}: got {:?}, want {:?}", got[i], want[i]);
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Forward,
    Backward,
    Fused,
}

/// The outputs of one call: status, loss output and gradient (canaries where not written).
type Outcome<T> = (u32, Vec<T>, Vec<T>);

const CANARY: u64 = 0x7ff4_dead_beef_0001;

#[allow(clippy::too_many_arguments)]
fn call<T: Elem>(
    op: Op,
    h: &oracle::Handle,
    spec: &Spec,
    input: &[T],
    target: &[i64],
    up: &[T],
    n: usize,
    c: usize,
) -> Outcome<T> {
    let out_len = spec.output_len(n);
    let mut out = vec![T::from_raw(CANARY); out_len];
    let mut grad = vec![T::from_raw(CANARY); n * c];
    let armed = arm();
    // SAFETY: every buffer is valid for its length; outputs are disjoint from inputs.
    let status = unsafe {
        match op {
            Op::Forward => T::FORWARD(
                h.0,
                input.as_ptr(),
                target.as_ptr(),
                n,
                c,
                out.as_mut_ptr(),
                out_len,
            ),
            Op::Backward => T::BACKWARD(
                h.0,
                input.as_ptr(),
                target.as_ptr(),
                n,
                c,
                up.as_ptr(),
                out_len,
                grad.as_mut_ptr(),
                n * c,
            ),
            Op::Fused => T::FUSED(
                h.0,
                input.as_ptr(),
                target.as_ptr(),
                n,
                c,
                up.as_ptr(),
                out_len,
                out.as_mut_ptr(),
                out_len,
                grad.as_mut_ptr(),
                n * c,
            ),
        }
    };
    drop(armed);
    (status, out, grad)
}

/// A large call at each of its allocation points; returns how many it has.
fn large_call<T: Elem>(op: Op, n: usize, c: usize, reduction: Reduction) -> usize {
    let spec = spec(c, reduction);
    let h = spec.create();
    let (input, target) = data::<T>(n, c);
    let up = vec![T::from_f64(0.75); spec.output_len(n)];
    // The pool is built (and every one-time state settled) before anything is counted.
    let (status, ..) = call(op, &h, &spec, &input, &target, &up, n, c);
    assert_eq!(status, MML_STATUS_OK);
    let mut want: Option<Outcome<T>> = None;
    every_failure_point(
        || call(op, &h, &spec, &input, &target, &up, n, c),
        |k, (status, out, grad), failed| {
            let what = format!(
                "{op:?} {n}x{c} {reduction:?} {} on {} threads, allocation {k}",
                std::any::type_name::<T>(),
                mml::parallel::num_threads()
            );
            if status == MML_STATUS_OUT_OF_MEMORY {
                assert!(
                    failed,
                    "{what}: out of memory without an allocation failure"
                );
                let canary = T::from_raw(CANARY).to_bits_u64();
                assert!(
                    out.iter().chain(&grad).all(|v| v.to_bits_u64() == canary),
                    "{what}: an output was written before MML_STATUS_OUT_OF_MEMORY"
                );
                return;
            }
            assert_eq!(status, MML_STATUS_OK, "{what}: status");
            match &want {
                None => want = Some((status, out, grad)),
                Some((_, want_out, want_grad)) => {
                    assert_same_bits(&out, want_out, &format!("{what}: output"));
                    assert_same_bits(&grad, want_grad, &format!("{what}: grad_input"));
                }
            }
        },
    )
}

fn large_calls_never_abort() {
    const { assert!(16384 * 10 >= mml::engine::PARALLEL_MIN_ELEMENTS) };
    for threads in [2, 3, 1] {
        assert_eq!(ffi::mml_set_num_threads(threads), MML_STATUS_OK);
        // Calls by their number of allocation points.
        let mut by_points = std::collections::BTreeMap::<usize, Vec<String>>::new();
        // 524288x10 (20 MiB) prefetches its blocks far ahead; once is enough.
        let shapes: &[(usize, usize)] = if threads == 2 {
            &[(16384, 10), (4096, 100), (524288, 10)]
        } else {
            &[(16384, 10), (4096, 100)]
        };
        for &(n, c) in shapes {
            for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
                for op in [Op::Forward, Op::Backward, Op::Fused] {
                    for (points, ty) in [
                        (large_call::<f32>(op, n, c, reduction), "f32"),
                        (large_call::<f64>(op, n, c, reduction), "f64"),
                    ] {
                        let call = format!("{op:?} {reduction:?} {n}x{c} {ty}");
                        by_points.entry(points).or_default().push(call);
                    }
                }
            }
        }
        for (points, calls) in by_points {
            let kinds: std::collections::BTreeSet<String> = calls
                .iter()
                .map(|call| call.split(' ').take(2).collect::<Vec<_>>().join(" "))
                .collect();
            println!(
                "large calls on {threads} thread(s): {} calls ({} shapes x f32/f64) with {points} \
                 allocation point(s): {}",
                calls.len(),
                shapes.len(),
                kinds.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
    assert_eq!(ffi::mml_set_num_threads(0), MML_STATUS_OK);
}

/// The calls that stage through buffers of their own: a gradient rounded to bf16 (a float32
/// buffer of a block), a column-major view with strided targets and an upstream gradient (a
/// buffer of a block of scores, and contiguous copies of the two vectors), and float64 weights
/// (`Builder::weight_f64`'s rounded copy), below and above the parallel threshold. Each
/// allocation fails in turn: the call succeeds with the bits of an unconstrained run, or
/// reports `Error::OutOfMemory` with every output untouched.
fn staged_calls_never_abort() {
    use half::bf16;
    use ndarray::{Array1, Array2, ShapeBuilder, s};
    assert_eq!(ffi::mml_set_num_threads(2), MML_STATUS_OK);
    for (n, c) in [(64usize, 10usize), (16384, 10)] {
        let (scores, target) = data::<f32>(n, c);
        let halves: Vec<bf16> = scores.iter().map(|&v| bf16::from_f32(v)).collect();
        let upstream: Vec<f32> = (0..n).map(|i| 0.25 * (i % 7) as f32).collect();
        let loss = MultiMarginLoss::builder()
            .reduction(Reduction::None)
            .build()
            .unwrap();
        // A first call builds the pool for 2 threads (its allocations are not the call's).
        let mut warm = vec![0.0f32; n * c];
        loss.backward_slice(&scores, &target, n, c, &upstream, &mut warm)
            .unwrap();
        let poison = bf16::from_bits(0x7F81);
        let mut first: Option<(Vec<f32>, Vec<bf16>)> = None;
        let points = every_failure_point(
            || {
                let mut out = vec![f32::from_bits(0x7FA0_0001); n];
                let mut grad = vec![poison; n * c];
                let _armed = arm();
                let result = loss
                    .forward_backward_slice(&halves, &target, n, c, &upstream, &mut out, &mut grad);
                drop(_armed);
                (result, out, grad)
            },
            |k, (result, out, grad), failed| match result {
                Ok(()) => {
                    let want = first.get_or_insert_with(|| (out.clone(), grad.clone()));
                    assert_same_bits(&out, &want.0, &format!("bf16 {n}x{c} loss, failure {k}"));
                    assert!(
                        grad.iter()
                            .zip(&want.1)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "bf16 {n}x{c} grad, failure {k}"
                    );
                }
                Err(Error::OutOfMemory) => {
                    assert!(failed);
                    assert!(
                        out.iter().all(|v| v.to_bits() == 0x7FA0_0001),
                        "bf16 loss written"
                    );
                    assert!(
                        grad.iter().all(|v| v.to_bits() == 0x7F81),
                        "bf16 grad written"
                    );
                }
                Err(e) => panic!("bf16 {n}x{c}: {e:?}"),
            },
        );
        println!("rounded bf16 gradient {n}x{c}: {points} allocation point(s)");

        // A column-major view, every second target and upstream value.
        let mut column_major = Array2::<f32>::zeros((n, c).f());
        column_major.assign(&ndarray::ArrayView2::from_shape((n, c), &scores[..]).unwrap());
        let wide_target: Array1<i64> = target.iter().flat_map(|&t| [t, -1]).collect();
        let wide_up: Array1<f32> = upstream.iter().flat_map(|&u| [u, f32::NAN]).collect();
        let mut first: Option<(Vec<f32>, Vec<f32>)> = None;
        let points = every_failure_point(
            || {
                let mut out = Array1::from_elem(n, f32::from_bits(0x7FA0_0001));
                let mut grad = Array2::from_elem((n, c).f(), f32::from_bits(0x7FA0_0002));
                let _armed = arm();
                let result = loss.forward_backward_into(
                    column_major.view(),
                    wide_target.slice(s![..;2]),
                    wide_up.slice(s![..;2]),
                    out.view_mut(),
                    grad.view_mut(),
                );
                drop(_armed);
                (
                    result,
                    out.to_vec(),
                    grad.iter().copied().collect::<Vec<_>>(),
                )
            },
            |k, (result, out, grad), failed| match result {
                Ok(()) => {
                    let want = first.get_or_insert_with(|| (out.clone(), grad.clone()));
                    assert_same_bits(&out, &want.0, &format!("view {n}x{c} loss, failure {k}"));
                    assert_same_bits(&grad, &want.1, &format!("view {n}x{c} grad, failure {k}"));
                }
                Err(Error::OutOfMemory) => {
                    assert!(failed);
                    assert!(
                        out.iter().all(|v| v.to_bits() == 0x7FA0_0001),
                        "view loss written"
                    );
                    assert!(
                        grad.iter().all(|v| v.to_bits() == 0x7FA0_0002),
                        "view grad written"
                    );
                }
                Err(e) => panic!("view {n}x{c}: {e:?}"),
            },
        );
        println!("column-major view {n}x{c}: {points} allocation point(s)");
    }
    let points = every_failure_point(
        || {
            let weight = vec![0.1f64; 1000];
            let _armed = arm();
            MultiMarginLoss::builder()
                .weight_f64(weight)
                .build()
                .map(|_| ())
        },
        |_, result, failed| match result {
            Ok(()) => assert!(!failed),
            Err(Error::OutOfMemory) => assert!(failed),
            Err(e) => panic!("weight_f64: {e:?}"),
        },
    );
    println!("float64 weights: {points} allocation point(s)");
    assert_eq!(ffi::mml_set_num_threads(0), MML_STATUS_OK);
}

fn main() {
    create_fails_cleanly();
    safe_constructors_fail_cleanly();
    large_calls_never_abort();
    staged_calls_never_abort();
    println!("out of memory: every allocation point failed in turn; none aborted");
}
