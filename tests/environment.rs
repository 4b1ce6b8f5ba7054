//! The environment is read once: `MML_NUM_THREADS` sets the default thread count when mml
//! first needs it, and later changes to the environment (which a C host could make with
//! `setenv` on another thread while mml reads it, a data race in glibc) are never read.

mod oracle;

use std::time::Duration;

use mml::ffi::{MML_STATUS_OK, mml_get_num_threads, mml_set_num_threads};
use oracle::child::{large_fused, run_helper_with};

const HELPER_ENV: &str = "MML_TEST_ENV_HELPER";

#[test]
fn thread_count_default_comes_from_the_environment_once() {
    let (status, text) = run_helper_with(
        "env_helper",
        HELPER_ENV,
        &[("MML_NUM_THREADS", "3")],
        Duration::from_secs(60),
    );
    assert!(
        status.success(),
        "environment helper failed ({status}):\n{text}"
    );
    assert!(
        text.contains("environment read once"),
        "helper did not report:\n{text}"
    );
}

#[test]
#[ignore = "helper: run in a child process by thread_count_default_comes_from_the_environment_once"]
fn env_helper() {
    assert!(
        std::env::var_os(HELPER_ENV).is_some(),
        "run through the non-ignored test"
    );
    assert_eq!(mml_get_num_threads(), 3, "MML_NUM_THREADS=3 not used");
    // SAFETY: this helper process runs one test thread and no mml pool yet; nothing else
    // reads the environment concurrently.
    unsafe { std::env::set_var("MML_NUM_THREADS", "2") };
    let (got, want) = large_fused();
    oracle::assert_same(&got.1, &want.1, "grad");
    assert_eq!(mml_get_num_threads(), 3, "the environment was read again");
    assert_eq!(mml_set_num_threads(1), MML_STATUS_OK);
    assert_eq!(mml_get_num_threads(), 1);
    assert_eq!(mml_set_num_threads(0), MML_STATUS_OK);
    assert_eq!(
        mml_get_num_threads(),
        3,
        "0 restores the default read at first use"
    );
    println!("environment read once");
}
