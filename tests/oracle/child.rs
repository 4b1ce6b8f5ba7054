//! Running one `#[ignore]`d helper test of the current test binary in a child process, with a
//! deadline: a hang (the thing these tests look for) fails the test instead of blocking it.
#![allow(dead_code)]

use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Exit code a helper uses when the environment cannot set up what it needs (reported, not failed).
pub const SKIP: i32 = 77;

/// Runs the helper test `name` with `env` set; kills it and panics after `deadline`.
pub fn run_helper(name: &str, env: &str, deadline: Duration) -> (ExitStatus, String) {
    run_helper_with(name, env, &[], deadline)
}

/// [`run_helper`] with more environment variables for the child.
pub fn run_helper_with(
    name: &str,
    env: &str,
    extra: &[(&str, &str)],
    deadline: Duration,
) -> (ExitStatus, String) {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .envs(extra.iter().copied())
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(env, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn helper");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait helper").is_some() {
            break;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect helper");
            panic!(
                "helper {name} still running after {deadline:?}: killed (a hang)\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("collect helper");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}

/// Threads of this process whose name starts with `mml-worker`.
pub fn mml_workers() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("mml-worker"))
        .count()
}

/// Waits up to 5 s for at least `min` mml workers (a new thread names itself once it runs);
/// returns the last count.
pub fn await_mml_workers(min: usize) -> usize {
    let start = Instant::now();
    loop {
        let n = mml_workers();
        if n >= min || start.elapsed() > Duration::from_secs(5) {
            return n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A loss output and a gradient.
pub type LossGrad = (Vec<f32>, Vec<f32>);

/// A large fused f32 call (above the parallel threshold) through the C ABI: (loss, grad), with
/// the oracle's answer.
pub fn large_fused() -> (LossGrad, LossGrad) {
    use super::{Spec, backward, forward};
    use mml::ffi::{MML_STATUS_OK, mml_forward_backward};
    let c = 100;
    let n = mml::engine::PARALLEL_MIN_ELEMENTS / c * 3 + 17;
    let spec = Spec {
        power: mml::Power::Two,
        margin: 1.0,
        weight: Some((0..c).map(|j| 1.0 + j as f32 / 64.0).collect()),
        reduction: mml::Reduction::Sum,
    };
    let input: Vec<f32> = (0..n * c)
        .map(|i| ((i * 7919) % 1013) as f32 / 256.0 - 2.0)
        .collect();
    let target: Vec<i64> = (0..n).map(|i| (i * 13 % c) as i64).collect();
    let up = [0.75f32];
    let handle = spec.create();
    let mut out = [f32::NAN];
    let mut grad = vec![f32::NAN; n * c];
    // SAFETY: every buffer is valid for its length; outputs are disjoint from inputs.
    let status = unsafe {
        mml_forward_backward(
            handle.0,
            input.as_ptr(),
            target.as_ptr(),
            n,
            c,
            up.as_ptr(),
            1,
            out.as_mut_ptr(),
            1,
            grad.as_mut_ptr(),
            grad.len(),
        )
    };
    assert_eq!(status, MML_STATUS_OK);
    let want = (
        forward(&spec, &input, &target, n, c),
        backward(&spec, &input, &target, n, c, &up),
    );
    ((out.to_vec(), grad), want)
}
