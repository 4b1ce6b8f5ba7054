//! Resource limits: an `n·c` that overflows is refused without touching memory, and a process
//! that cannot start threads still computes large inputs (serially, with the same bits).

mod oracle;

use std::time::Duration;

use mml::ffi::*;
use oracle::child::{SKIP, large_fused, mml_workers, run_helper};

const HELPER_ENV: &str = "MML_TEST_NO_THREADS_HELPER";

/// Shapes whose `n·c`, or its size in bytes, does not fit the address space.
fn overflowing(elem: usize) -> Vec<(usize, usize)> {
    let limit = isize::MAX as usize / elem;
    vec![
        (usize::MAX, 2),
        (2, usize::MAX),
        (usize::MAX, usize::MAX),
        (limit + 1, 1),
        (1, limit + 1),
        (limit / 3 + 1, 3),
        (1 << 32, 1 << 32),
        (usize::MAX / 1000 + 1, 1000),
    ]
}

#[test]
fn overflowing_shapes_are_invalid_and_touch_nothing() {
    // Small real buffers: the library must refuse before reading `n·c` scores or `n` targets.
    let input = [0.5f32; 8];
    let target = [i64::MIN; 8];
    let up = [1.0f32; 8];
    for reduction in [MML_REDUCTION_NONE, MML_REDUCTION_MEAN, MML_REDUCTION_SUM] {
        let mut handle = std::ptr::null_mut();
        // SAFETY: valid out pointer, no weights.
        assert_eq!(
            unsafe { mml_create(1, 1.0, std::ptr::null(), 0, reduction, &mut handle) },
            MML_STATUS_OK
        );
        for (n, c) in overflowing(4) {
            let mut out = [-7.0f32; 8];
            let mut grad = [-7.0f32; 8];
            // SAFETY: every pointer is valid for the 8 elements that could ever be touched;
            // the call must not touch any.
            let statuses = unsafe {
                [
                    mml_forward(
                        handle,
                        input.as_ptr(),
                        target.as_ptr(),
                        n,
                        c,
                        out.as_mut_ptr(),
                        1,
                    ),
                    mml_backward(
                        handle,
                        input.as_ptr(),
                        target.as_ptr(),
                        n,
                        c,
                        up.as_ptr(),
                        1,
                        grad.as_mut_ptr(),
                        8,
                    ),
                    mml_forward_backward(
                        handle,
                        input.as_ptr(),
                        target.as_ptr(),
                        n,
                        c,
                        up.as_ptr(),
                        1,
                        out.as_mut_ptr(),
                        1,
                        grad.as_mut_ptr(),
                        8,
                    ),
                ]
            };
            assert_eq!(
                statuses, [MML_STATUS_INVALID_ARGUMENT; 3],
                "n={n} c={c} reduction={reduction}"
            );
            assert_eq!((out, grad), ([-7.0; 8], [-7.0; 8]), "written on overflow");
        }
        for (n, c) in overflowing(8) {
            let input = [0.5f64; 8];
            let mut out = [-7.0f64; 8];
            // SAFETY: as above.
            let s = unsafe {
                mml_forward_f64(
                    handle,
                    input.as_ptr(),
                    target.as_ptr(),
                    n,
                    c,
                    out.as_mut_ptr(),
                    1,
                )
            };
            assert_eq!(s, MML_STATUS_INVALID_ARGUMENT, "f64 n={n} c={c}");
            assert_eq!(out, [-7.0; 8]);
        }
        // SAFETY: created above, not used again.
        unsafe { mml_destroy(handle) };
    }
    // The safe API says why.
    let loss = mml::MultiMarginLoss::builder().build().expect("defaults");
    let mut out = [0.0f32];
    let err = loss
        .forward_slice::<f32>(&[], &[0i64; 0], usize::MAX, 2, &mut out)
        .expect_err("overflow");
    assert!(matches!(err, mml::Error::SizeOverflow { .. }), "{err:?}");
    // mml_check_targets reads n targets: an n whose bytes overflow is refused too.
    let (mut row, mut value) = (7usize, 7i64);
    // SAFETY: must be refused before reading.
    let s = unsafe { mml_check_targets(target.as_ptr(), usize::MAX / 4, 10, &mut row, &mut value) };
    assert_eq!((s, row, value), (MML_STATUS_INVALID_ARGUMENT, 7, 7));
}

#[test]
fn large_call_without_threads_runs_serially_with_same_bits() {
    let (status, text) = run_helper("no_threads_helper", HELPER_ENV, Duration::from_secs(60));
    if status.code() == Some(SKIP) {
        eprintln!("SKIPPED: this environment cannot forbid thread creation:\n{text}");
        return;
    }
    assert!(
        status.success(),
        "no-threads helper failed ({status}):\n{text}"
    );
    assert!(
        text.contains("serial fallback ok"),
        "helper did not report:\n{text}"
    );
}

#[test]
#[ignore = "helper: run in a child process by large_call_without_threads_runs_serially_with_same_bits"]
fn no_threads_helper() {
    assert!(
        std::env::var_os(HELPER_ENV).is_some(),
        "run through the non-ignored test"
    );
    // RLIMIT_NPROC does not bind root: become `nobody` first (this is a throwaway child).
    // SAFETY: plain libc calls on this process.
    unsafe {
        if libc::geteuid() == 0 {
            let _ = libc::setgroups(0, std::ptr::null());
            let _ = libc::setgid(65534);
            let _ = libc::setuid(65534);
        }
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        let _ = libc::setrlimit(libc::RLIMIT_NPROC, &zero);
    }
    if std::thread::Builder::new().spawn(|| ()).is_ok() {
        println!("thread creation still works (euid {})", unsafe {
            libc::geteuid()
        });
        std::process::exit(SKIP);
    }
    assert_eq!(mml_set_num_threads(4), MML_STATUS_OK);
    for _ in 0..2 {
        let (got, want) = large_fused();
        oracle::assert_same(&got.0, &want.0, "loss without threads");
        oracle::assert_same(&got.1, &want.1, "grad without threads");
    }
    assert_eq!(
        mml_workers(),
        0,
        "workers exist although threads cannot be created"
    );
    assert_eq!(mml_get_num_threads(), 4);
    println!("serial fallback ok");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // Leave now: under `scripts/asan.sh`, LeakSanitizer's exit-time check needs to start a
    // thread, which this process can no longer do. Leaks are checked by every other test.
    // SAFETY: plain process exit; the parent reads the status and the output above.
    unsafe { libc::_exit(0) };
}
