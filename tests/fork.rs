//! A process whose pool has run (a large input, 3 threads) forks; the child computes a large
//! input again, on a rebuilt pool, without hanging, and gets the parent's bits.
//!
//! The test re-executes this binary to run `fork_helper` in a fresh, single-test process (the
//! harness's other threads would make `fork()` itself dubious), with a deadline on both the
//! helper and, inside it, the forked child.

mod oracle;

use std::time::{Duration, Instant};

use oracle::child::{await_mml_workers, large_fused, run_helper};

const HELPER_ENV: &str = "MML_TEST_FORK_HELPER";

#[test]
fn forked_child_computes_large_input_like_parent() {
    let (status, text) = run_helper("fork_helper", HELPER_ENV, Duration::from_secs(60));
    assert!(status.success(), "fork helper failed ({status}):\n{text}");
    assert!(
        text.contains("fork child ok"),
        "the forked child did not report:\n{text}"
    );
}

#[test]
#[ignore = "helper: run in a child process by forked_child_computes_large_input_like_parent"]
fn fork_helper() {
    assert!(
        std::env::var_os(HELPER_ENV).is_some(),
        "run through the non-ignored test"
    );
    assert_eq!(mml::ffi::mml_set_num_threads(3), mml::ffi::MML_STATUS_OK);
    let (parent, want) = large_fused();
    oracle::assert_same(&parent.0, &want.0, "parent loss");
    oracle::assert_same(&parent.1, &want.1, "parent grad");
    assert!(
        await_mml_workers(2) >= 2,
        "the parent's pool did not start its workers"
    );

    // SAFETY: this process runs a single test thread plus idle pool workers; the child only
    // computes, checks and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(|| {
            let (child, _) = large_fused();
            oracle::assert_same(&child.0, &parent.0, "child loss vs parent");
            oracle::assert_same(&child.1, &parent.1, "child grad vs parent");
            assert!(
                await_mml_workers(2) >= 2,
                "the child did not rebuild the pool"
            );
        })
        .is_ok();
        if ok {
            println!("fork child ok");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: leaves the child without running the parent's atexit handlers or the harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let start = Instant::now();
    let mut wstatus = 0;
    loop {
        // SAFETY: plain waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut wstatus, libc::WNOHANG) };
        assert!(r >= 0, "waitpid failed");
        if r == pid {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut wstatus, 0);
            }
            panic!("the forked child hung computing a large input");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        libc::WIFEXITED(wstatus) && libc::WEXITSTATUS(wstatus) == 0,
        "forked child failed (wait status {wstatus:#x})"
    );
}
