//! libFuzzer target: see `fuzz/src/lib.rs` for what every run checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mml_fuzz::run(data, mml_fuzz::Mode::Fused));
