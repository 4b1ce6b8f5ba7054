//! Every status code through the C ABI, each with canary-filled outputs proving that a refused
//! call writes nothing.

use std::ptr::{null, null_mut};

use mml::ffi::*;

const CANARY: f32 = -12345.5;

struct Handle(*mut MmlLoss);

impl Handle {
    fn new(p: u32, weight: &[f32], reduction: u32) -> Handle {
        let mut raw = null_mut();
        // SAFETY: valid pointers for their lengths.
        let s = unsafe { mml_create(p, 1.0, weight.as_ptr(), weight.len(), reduction, &mut raw) };
        assert_eq!(s, MML_STATUS_OK);
        Handle(raw)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by mml_create, destroyed once.
        unsafe { mml_destroy(self.0) }
    }
}

/// Inputs for n = 2 rows of c = 3 classes, and canary-filled outputs.
struct Bufs {
    x: Vec<f32>,
    t: Vec<i64>,
    up: Vec<f32>,
    out: Vec<f32>,
    grad: Vec<f32>,
}

fn bufs(out_len: usize) -> Bufs {
    Bufs {
        x: vec![0.5, -1.0, 2.0, 1.5, 0.25, -0.75],
        t: vec![2, 0],
        up: vec![1.0; out_len],
        out: vec![CANARY; out_len],
        grad: vec![CANARY; 6],
    }
}

fn untouched(b: &Bufs) -> bool {
    b.out
        .iter()
        .chain(&b.grad)
        .all(|v| v.to_bits() == CANARY.to_bits())
}

/// Runs forward, backward and fused on `b` with the given overrides and asserts `status` from
/// each and no write.
fn expect_all(h: *const MmlLoss, b: &mut Bufs, n: usize, c: usize, status: u32) {
    let (x, t) = (b.x.as_ptr(), b.t.as_ptr());
    let (ol, gl, ul) = (b.out.len(), b.grad.len(), b.up.len());
    // SAFETY: every pointer is valid for the length passed with it.
    unsafe {
        assert_eq!(
            mml_forward(h, x, t, n, c, b.out.as_mut_ptr(), ol),
            status,
            "forward"
        );
        assert_eq!(
            mml_backward(h, x, t, n, c, b.up.as_ptr(), ul, b.grad.as_mut_ptr(), gl),
            status,
            "backward"
        );
        let s = mml_forward_backward(
            h,
            x,
            t,
            n,
            c,
            b.up.as_ptr(),
            ul,
            b.out.as_mut_ptr(),
            ol,
            b.grad.as_mut_ptr(),
            gl,
        );
        assert_eq!(s, status, "fused");
    }
    assert!(untouched(b), "a refused call wrote its output");
}

#[test]
fn ok_writes_results() {
    let h = Handle::new(1, &[], MML_REDUCTION_MEAN);
    let mut b = bufs(1);
    // SAFETY: valid pointers for their lengths.
    let s = unsafe { mml_forward(h.0, b.x.as_ptr(), b.t.as_ptr(), 2, 3, b.out.as_mut_ptr(), 1) };
    assert_eq!(s, MML_STATUS_OK);
    assert_ne!(b.out[0].to_bits(), CANARY.to_bits());
}

#[test]
fn null_pointers() {
    let h = Handle::new(1, &[], MML_REDUCTION_NONE);
    let mut b = bufs(2);
    expect_all(null(), &mut b, 2, 3, MML_STATUS_NULL_POINTER);
    // SAFETY: every non-NULL pointer is valid for its length; NULLs are what is tested.
    unsafe {
        assert_eq!(
            mml_forward(h.0, null(), b.t.as_ptr(), 2, 3, b.out.as_mut_ptr(), 2),
            MML_STATUS_NULL_POINTER
        );
        assert_eq!(
            mml_forward(h.0, b.x.as_ptr(), null(), 2, 3, b.out.as_mut_ptr(), 2),
            MML_STATUS_NULL_POINTER
        );
        assert_eq!(
            mml_forward(h.0, b.x.as_ptr(), b.t.as_ptr(), 2, 3, null_mut(), 2),
            MML_STATUS_NULL_POINTER
        );
        let s = mml_backward(
            h.0,
            b.x.as_ptr(),
            b.t.as_ptr(),
            2,
            3,
            null(),
            2,
            b.grad.as_mut_ptr(),
            6,
        );
        assert_eq!(s, MML_STATUS_NULL_POINTER);
        let s = mml_backward(
            h.0,
            b.x.as_ptr(),
            b.t.as_ptr(),
            2,
            3,
            b.up.as_ptr(),
            2,
            null_mut(),
            6,
        );
        assert_eq!(s, MML_STATUS_NULL_POINTER);
        let mut f64_out = [f64::from(CANARY); 2];
        assert_eq!(
            mml_forward_f64(h.0, null(), b.t.as_ptr(), 2, 3, f64_out.as_mut_ptr(), 2),
            MML_STATUS_NULL_POINTER
        );
        assert_eq!(f64_out, [f64::from(CANARY); 2]);
        // NULL with length 0 is fine: an empty batch.
        assert_eq!(
            mml_forward(h.0, null(), null(), 0, 3, null_mut(), 0),
            MML_STATUS_OK
        );
        let mut out = null_mut();
        assert_eq!(
            mml_create(1, 1.0, null(), 3, MML_REDUCTION_MEAN, &mut out),
            MML_STATUS_NULL_POINTER
        );
        assert!(out.is_null(), "*out written on failure");
        assert_eq!(
            mml_create(1, 1.0, null(), 0, MML_REDUCTION_MEAN, null_mut()),
            MML_STATUS_NULL_POINTER
        );
        assert_eq!(
            mml_check_targets(null(), 2, 3, null_mut(), null_mut()),
            MML_STATUS_NULL_POINTER
        );
        mml_destroy(null_mut());
    }
    assert!(untouched(&b));
}

#[test]
fn invalid_arguments() {
    let h = Handle::new(2, &[], MML_REDUCTION_SUM);
    let mut b = bufs(1);
    expect_all(h.0, &mut b, 2, 0, MML_STATUS_INVALID_ARGUMENT); // c == 0
    expect_all(h.0, &mut b, usize::MAX / 2, 3, MML_STATUS_INVALID_ARGUMENT); // n·c overflows
    expect_all(h.0, &mut b, usize::MAX / 8, 2, MML_STATUS_INVALID_ARGUMENT); // bytes overflow
    // SAFETY: pointers valid for their lengths, except the deliberately misaligned one, which
    // must be refused before it is read.
    unsafe {
        let mut out = null_mut();
        for (p, reduction) in [(0, 1), (3, 1), (u32::MAX, 1), (1, 3), (1, u32::MAX)] {
            assert_eq!(
                mml_create(p, 1.0, null(), 0, reduction, &mut out),
                MML_STATUS_INVALID_ARGUMENT
            );
            assert!(out.is_null());
        }
        let misaligned = (b.x.as_ptr() as *const u8).add(1) as *const f32;
        let s = mml_forward(h.0, misaligned, b.t.as_ptr(), 1, 3, b.out.as_mut_ptr(), 1);
        assert_eq!(s, MML_STATUS_INVALID_ARGUMENT);
        assert_eq!(
            mml_set_num_threads(MML_MAX_THREADS + 1),
            MML_STATUS_INVALID_ARGUMENT
        );
        assert_eq!(
            mml_check_targets(b.t.as_ptr(), 2, 0, null_mut(), null_mut()),
            MML_STATUS_INVALID_ARGUMENT
        );
    }
    assert!(untouched(&b));
}

#[test]
fn shape_mismatches() {
    for reduction in [MML_REDUCTION_NONE, MML_REDUCTION_MEAN, MML_REDUCTION_SUM] {
        let h = Handle::new(1, &[], reduction);
        let right = if reduction == MML_REDUCTION_NONE {
            2
        } else {
            1
        };
        let mut b = bufs(right + 1); // output and grad_output one too long
        expect_all(h.0, &mut b, 2, 3, MML_STATUS_SHAPE_MISMATCH);
        let mut b = bufs(right);
        b.grad.push(CANARY); // grad_input one too long
        let (x, t) = (b.x.as_ptr(), b.t.as_ptr());
        // SAFETY: valid pointers for their lengths.
        let s = unsafe {
            mml_backward(
                h.0,
                x,
                t,
                2,
                3,
                b.up.as_ptr(),
                right,
                b.grad.as_mut_ptr(),
                7,
            )
        };
        assert_eq!(s, MML_STATUS_SHAPE_MISMATCH);
        assert!(untouched(&b));
    }
    // Weights for 4 classes, used with c = 3.
    let h = Handle::new(1, &[1.0, 2.0, 3.0, 4.0], MML_REDUCTION_MEAN);
    expect_all(h.0, &mut bufs(1), 2, 3, MML_STATUS_SHAPE_MISMATCH);
}

#[test]
fn targets_out_of_range() {
    let h = Handle::new(1, &[], MML_REDUCTION_NONE);
    for bad in [3, -1, i64::MIN, i64::MAX] {
        let mut b = bufs(2);
        b.t[1] = bad;
        expect_all(h.0, &mut b, 2, 3, MML_STATUS_TARGET_OUT_OF_RANGE);
        let (mut row, mut value) = (usize::MAX, 0i64);
        // SAFETY: valid pointers.
        let s = unsafe { mml_check_targets(b.t.as_ptr(), 2, 3, &mut row, &mut value) };
        assert_eq!((s, row, value), (MML_STATUS_TARGET_OUT_OF_RANGE, 1, bad));
    }
    let t = [0i64, 2, 1];
    // SAFETY: valid pointers; the detail pointers may be NULL.
    assert_eq!(
        unsafe { mml_check_targets(t.as_ptr(), 3, 3, null_mut(), null_mut()) },
        MML_STATUS_OK
    );
}

#[test]
fn aliased_buffers() {
    let h = Handle::new(1, &[], MML_REDUCTION_NONE);
    let mut arena = vec![0.5f32; 32];
    let t = [0i64, 1];
    let p = arena.as_mut_ptr();
    // SAFETY: every pointer lies inside `arena` or `t` and is valid for its length; overlaps are
    // what is tested, and the library must refuse them before touching memory.
    unsafe {
        // output inside input
        assert_eq!(
            mml_forward(h.0, p, t.as_ptr(), 2, 3, p.add(5), 2),
            MML_STATUS_ALIASED_BUFFERS
        );
        // grad_input overlapping grad_output
        let s = mml_backward(h.0, p, t.as_ptr(), 2, 3, p.add(10), 2, p.add(11), 6);
        assert_eq!(s, MML_STATUS_ALIASED_BUFFERS);
        // fused: output overlapping grad_input
        let s = mml_forward_backward(
            h.0,
            p,
            t.as_ptr(),
            2,
            3,
            p.add(6),
            2,
            p.add(8),
            2,
            p.add(9),
            6,
        );
        assert_eq!(s, MML_STATUS_ALIASED_BUFFERS);
        // output on top of the targets
        let s = mml_forward(h.0, p, t.as_ptr(), 2, 3, t.as_ptr() as *mut f32, 2);
        assert_eq!(s, MML_STATUS_ALIASED_BUFFERS);
        // Adjacent but disjoint buffers are fine.
        let s = mml_forward_backward(
            h.0,
            p,
            t.as_ptr(),
            2,
            3,
            p.add(6),
            2,
            p.add(8),
            2,
            p.add(10),
            6,
        );
        assert_eq!(s, MML_STATUS_OK);
        // Empty buffers overlap nothing, even at the same address.
        let s = mml_forward_backward(h.0, p, t.as_ptr(), 0, 3, p, 0, p, 0, p, 0);
        assert_eq!(s, MML_STATUS_OK);
    }
    assert!(arena[..8].iter().all(|&v| v == 0.5), "inputs changed");
}

#[test]
fn internal_error_from_a_caught_panic() {
    // A handle whose every computing call panics inside the boundary (a hidden test hook).
    let faulty = Handle(__panicking_handle());
    let mut b = bufs(1);
    expect_all(faulty.0, &mut b, 2, 3, MML_STATUS_INTERNAL_ERROR);
    let x64 = [0.5f64, -1.0, 2.0, 1.5, 0.25, -0.75];
    let mut out64 = [f64::from(CANARY)];
    // SAFETY: valid pointers for their lengths.
    let s = unsafe {
        mml_forward_f64(
            faulty.0,
            x64.as_ptr(),
            b.t.as_ptr(),
            2,
            3,
            out64.as_mut_ptr(),
            1,
        )
    };
    assert_eq!(s, MML_STATUS_INTERNAL_ERROR, "forward_f64");
    assert_eq!(
        out64[0].to_bits(),
        f64::from(CANARY).to_bits(),
        "a panicking call wrote its output"
    );
    // The library still works after a caught panic.
    let h = Handle::new(1, &[], MML_REDUCTION_NONE);
    let mut b = bufs(2);
    // SAFETY: valid pointers.
    let s = unsafe { mml_forward(h.0, b.x.as_ptr(), b.t.as_ptr(), 2, 3, b.out.as_mut_ptr(), 2) };
    assert_eq!(s, MML_STATUS_OK);
    assert!(b.out.iter().all(|v| v.to_bits() != CANARY.to_bits()));
}

#[test]
fn messages_and_versions() {
    let text = |s| {
        // SAFETY: mml_status_message returns a static NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(mml_status_message(s)) }
            .to_str()
            .unwrap()
            .to_owned()
    };
    let all: Vec<String> = (0..=9).map(text).collect();
    for (i, a) in all.iter().enumerate() {
        assert!(!a.is_empty());
        assert!(
            all[i + 1..].iter().all(|b| b != a),
            "status texts must differ"
        );
    }
    assert_eq!(text(MML_STATUS_OUT_OF_MEMORY), "out of memory");
    assert!(text(10).contains("unknown"));
    assert!(text(99).contains("unknown"));
    // SAFETY: static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(mml_version()) }
        .to_str()
        .unwrap();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    assert_eq!(mml_abi_version(), MML_ABI_VERSION);
}

/// A large summed forward call checks each block's targets as its kernel reads them (see
/// `engine::execute_checked`) instead of in a pass of its own: a bad target in any
/// block, the first row, the second block, the last row, or several, is still refused with
/// nothing written, through the C ABI in both precisions, and the Rust API names the first bad
/// row; also in a call large enough that its blocks prefetch far ahead.
#[test]
fn large_summed_forward_refuses_bad_targets_untouched() {
    let c = 10;
    let ahead_n = mml::kernel::MEMORY_SCHEDULE_MIN_BYTES / 4 / c + 11;
    for n in [60_011, ahead_n] {
        large_summed_forward_refuses_bad_targets(n, c);
    }
}

fn large_summed_forward_refuses_bad_targets(n: usize, c: usize) {
    let rows = mml::engine::rows_per_block(c);
    assert!(n * c >= mml::engine::PARALLEL_MIN_ELEMENTS && n > 8 * rows);
    let x32: Vec<f32> = (0..n * c).map(|i| (i % 7) as f32 * 0.5 - 1.5).collect();
    let x64: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
    let good: Vec<i64> = (0..n).map(|i| (i * 3 % c) as i64).collect();
    let middle = n / 2 + 5;
    let second_block = rows + 7;
    let placements: [&[usize]; 6] = [
        &[0],
        &[second_block],
        &[middle],
        &[n - 1],
        &[middle, n - 1],
        &[9, middle],
    ];
    for reduction in [MML_REDUCTION_MEAN, MML_REDUCTION_SUM] {
        let h = Handle::new(1, &[], reduction);
        for rows in placements {
            for bad in [c as i64, -1, i64::MIN, i64::MAX] {
                let mut t = good.clone();
                for &row in rows {
                    t[row] = bad;
                }
                let mut out32 = [CANARY];
                let mut out64 = [f64::from(CANARY)];
                // SAFETY: every pointer is valid for the length passed with it.
                let (s32, s64) = unsafe {
                    (
                        mml_forward(h.0, x32.as_ptr(), t.as_ptr(), n, c, out32.as_mut_ptr(), 1),
                        mml_forward_f64(h.0, x64.as_ptr(), t.as_ptr(), n, c, out64.as_mut_ptr(), 1),
                    )
                };
                let at = format!("rows {rows:?}, target {bad}, reduction {reduction}");
                assert_eq!(s32, MML_STATUS_TARGET_OUT_OF_RANGE, "{at}");
                assert_eq!(s64, MML_STATUS_TARGET_OUT_OF_RANGE, "{at}");
                assert_eq!(out32[0].to_bits(), CANARY.to_bits(), "{at}: written");
                assert_eq!(
                    out64[0].to_bits(),
                    f64::from(CANARY).to_bits(),
                    "{at}: written"
                );

                let loss = mml::MultiMarginLoss::builder()
                    .reduction(if reduction == MML_REDUCTION_SUM {
                        mml::Reduction::Sum
                    } else {
                        mml::Reduction::Mean
                    })
                    .build()
                    .unwrap();
                let input = ndarray::ArrayView2::from_shape((n, c), &x32).unwrap();
                match loss.forward(input, ndarray::ArrayView1::from(&t)) {
                    Err(mml::Error::TargetOutOfRange {
                        row,
                        target,
                        classes,
                    }) => assert_eq!((row, target, classes), (rows[0], bad, c), "{at}"),
                    other => panic!("{at}: {other:?}"),
                }
            }
        }
        // The same call with every target valid succeeds.
        let mut out = [CANARY];
        // SAFETY: as above.
        let s = unsafe { mml_forward(h.0, x32.as_ptr(), good.as_ptr(), n, c, out.as_mut_ptr(), 1) };
        assert_eq!(s, MML_STATUS_OK);
        assert!(out[0].is_finite() && out[0] > 0.0);
    }
}
