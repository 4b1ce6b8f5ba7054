//! Calls below the parallel threshold never touch the heap: a counting global allocator sees
//! no allocation during forward, backward and fused calls through the slice API.
//!
//! This file holds a single test so that no other test thread allocates while it counts, and
//! only the test's own thread is counted: the harness's main thread may allocate at any moment
//! (its result channel does so lazily, once it starts to wait), which is none of mml's doing and
//! made the count flaky under ASan. Calls this small run on the calling thread alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use mml::{MultiMarginLoss, Reduction};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the test's thread while it counts.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    // `try_with`: the allocator also runs while threads are torn down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every request unchanged to the system allocator; only counts them.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn check<T: mml::Float>(loss: &MultiMarginLoss, n: usize, c: usize) {
    let input: Vec<T> = (0..n * c)
        .map(|i| T::from_f64(((i * 7919) % 13) as f64 * 0.3 - 2.0))
        .collect();
    let target: Vec<i64> = (0..n).map(|i| ((i * 31) % c) as i64).collect();
    let out_len = loss.output_len(n);
    let grad_output = vec![T::from_f64(0.5); out_len];
    let mut output = vec![T::ZERO; out_len];
    let mut grad = vec![T::ZERO; n * c];

    // The first call settles one-time state (the kernel path read from the environment).
    loss.forward_slice(&input, &target, n, c, &mut output)
        .unwrap();

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.set(true);
    loss.forward_slice(&input, &target, n, c, &mut output)
        .unwrap();
    loss.backward_slice(&input, &target, n, c, &grad_output, &mut grad)
        .unwrap();
    loss.forward_backward_slice(&input, &target, n, c, &grad_output, &mut output, &mut grad)
        .unwrap();
    COUNTING.set(false);
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        0,
        "heap allocations in {n}x{c} calls ({:?})",
        loss.options()
    );
}

#[test]
fn small_calls_do_not_allocate() {
    const { assert!(4096 * 10 < mml::engine::PARALLEL_MIN_ELEMENTS) };
    for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
        for p in [1, 2] {
            for weighted in [false, true] {
                for (n, c) in [(32, 10), (7, 3), (4096, 10), (33, 1001)] {
                    let mut builder = MultiMarginLoss::builder().p(p).reduction(reduction);
                    if weighted {
                        builder = builder
                            .weight((0..c).map(|j| 1.0 + j as f32 / 8.0).collect::<Vec<_>>());
                    }
                    let loss = builder.build().unwrap();
                    check::<f32>(&loss, n, c);
                    check::<f64>(&loss, n, c);
                }
            }
        }
    }
}
