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

const NAMESPACE_HELPER_ENV: &str = "MML_TEST_PID_NAMESPACE_HELPER";

/// A pid that repeats across `fork()` must not fool the pool's fork detection. The pool is built
/// by a process that is pid 1 of a new PID namespace (a container's init); it then forks into a
/// second new PID namespace, so its child is pid 1 too: the same pid, as when a prefork daemon's
/// worker receives the pool builder's old pid after pids wrap around. The child's large call
/// must run on a pool of its own, not wait forever on workers that were not copied.
///
/// Needs `unshare(CLONE_NEWPID)` (root), else `unshare(CLONE_NEWUSER | CLONE_NEWPID)`
/// (an unprivileged user, where the kernel allows user namespaces); without either the test
/// fails, saying so.
#[test]
fn child_with_the_pool_builders_pid_computes_large_input() {
    let (status, text) = run_helper(
        "pid_namespace_helper",
        NAMESPACE_HELPER_ENV,
        Duration::from_secs(120),
    );
    assert!(
        status.success(),
        "pid namespace helper failed ({status}):\n{text}"
    );
    assert!(
        text.contains("pid 1 grandchild ok"),
        "the grandchild did not report:\n{text}"
    );
}

/// Exit codes of the namespace helper's processes, so that the report says what failed.
const NO_NAMESPACE: i32 = 2;
const FAILED: i32 = 3;
const HUNG: i32 = 4;

#[test]
#[ignore = "helper: run in a child process by child_with_the_pool_builders_pid_computes_large_input"]
fn pid_namespace_helper() {
    assert!(
        std::env::var_os(NAMESPACE_HELPER_ENV).is_some(),
        "run through the non-ignored test"
    );
    // SAFETY: the child only calls async-signal-safe functions and this process's own code
    // before it `_exit`s; see `in_new_namespaces`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // Its own process group, so that the watchdog below can kill every process under it,
        // the namespaces' inits included (SIGKILL from an ancestor namespace reaches them).
        // SAFETY: plain system calls on this process.
        unsafe { libc::setpgid(0, 0) };
        exit_now(in_new_namespaces());
    }
    // SAFETY: the same call from the parent side, which closes the race with the child's.
    unsafe { libc::setpgid(pid, pid) };
    // The watchdog: pid 1 of a namespace ignores signals it has no handler for (an alarm would
    // not stop it), so its ancestor kills the whole group.
    match wait_with_deadline(pid, Duration::from_secs(90)) {
        Some(status) => {
            let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            match code {
                Some(0) => {}
                Some(NO_NAMESPACE) => panic!(
                    "this machine permits neither unshare(CLONE_NEWPID) nor \
                     unshare(CLONE_NEWUSER | CLONE_NEWPID): the PID namespace case cannot run \
                     here (run the suite as root, or allow unprivileged user namespaces)"
                ),
                Some(HUNG) => panic!("the pid 1 grandchild hung in a large call"),
                _ => panic!("the namespace processes failed (wait status {status:#x})"),
            }
        }
        None => {
            // SAFETY: kills our own child's process group and reaps the child.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            panic!("the namespace processes hung: killed");
        }
    }
}

/// In the helper's child: enters a new PID namespace, whose init (pid 1) builds the pool and
/// forks into a second new PID namespace. Returns the exit code.
fn in_new_namespaces() -> i32 {
    // SAFETY: plain system calls; this process has a single thread (a fresh fork).
    let entered = unsafe {
        libc::unshare(libc::CLONE_NEWPID) == 0
            || libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWPID) == 0
    };
    if !entered {
        eprintln!(
            "unshare of a PID namespace refused: {}",
            std::io::Error::last_os_error()
        );
        return NO_NAMESPACE;
    }
    // SAFETY: as in the helper; the child is the new namespace's init.
    let init = unsafe { libc::fork() };
    if init < 0 {
        return FAILED;
    }
    if init == 0 {
        exit_now(namespace_init());
    }
    match wait_with_deadline(init, Duration::from_secs(80)) {
        Some(status) if libc::WIFEXITED(status) => libc::WEXITSTATUS(status),
        _ => FAILED,
    }
}

/// Pid 1 of the first namespace: builds the pool (3 threads) with a large call, enters a second
/// PID namespace and forks its pid 1, whose large call must finish with the same bits.
fn namespace_init() -> i32 {
    let ok = std::panic::catch_unwind(|| {
        assert_eq!(std::process::id(), 1, "not the namespace's init");
        assert_eq!(mml::ffi::mml_set_num_threads(3), mml::ffi::MML_STATUS_OK);
        let (got, want) = large_fused();
        oracle::assert_same(&got.0, &want.0, "init loss");
        oracle::assert_same(&got.1, &want.1, "init grad");
        assert!(
            await_mml_workers(2) >= 2,
            "the init's pool did not start its workers"
        );
        got
    });
    let Ok(parent) = ok else { return FAILED };
    // Only CLONE_NEWPID: it is allowed to a multithreaded process (the pool runs), with the
    // capability that the first unshare gave (root's, or its user namespace's).
    // SAFETY: a plain system call.
    if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
        eprintln!(
            "the namespace init could not unshare a second PID namespace: {}",
            std::io::Error::last_os_error()
        );
        return FAILED;
    }
    // SAFETY: this process runs idle pool workers besides this thread, and no mml call is in
    // flight (the README's condition); the child computes, checks and `_exit`s.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return FAILED;
    }
    if child == 0 {
        let ok = std::panic::catch_unwind(|| {
            assert_eq!(std::process::id(), 1, "the grandchild is not pid 1");
            let (got, _) = large_fused();
            oracle::assert_same(&got.0, &parent.0, "pid 1 grandchild loss vs its parent");
            oracle::assert_same(&got.1, &parent.1, "pid 1 grandchild grad vs its parent");
            assert!(
                await_mml_workers(2) >= 2,
                "the grandchild did not build a pool of its own"
            );
        })
        .is_ok();
        if ok {
            println!("pid 1 grandchild ok");
        }
        exit_now(if ok { 0 } else { FAILED });
    }
    match wait_with_deadline(child, Duration::from_secs(30)) {
        Some(status) if libc::WIFEXITED(status) => libc::WEXITSTATUS(status),
        Some(_) => FAILED,
        None => {
            eprintln!("the pid 1 grandchild is still inside a large call after 30 s: HUNG");
            // SAFETY: kills and reaps our own child.
            unsafe {
                libc::kill(child, libc::SIGKILL);
                libc::waitpid(child, std::ptr::null_mut(), 0);
            }
            HUNG
        }
    }
}

/// Waits for a child until `deadline`; its wait status, or `None` if it is still running.
fn wait_with_deadline(pid: libc::pid_t, deadline: Duration) -> Option<i32> {
    let start = Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: plain waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid failed");
        if r == pid {
            return Some(status);
        }
        if start.elapsed() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Flushes stdout and leaves without the harness or atexit handlers (a forked test process).
fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: ends this process at once; nothing of the parent's is run again.
    unsafe { libc::_exit(code) }
}
