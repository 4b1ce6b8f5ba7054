//! libFuzzer target: the DLPack entry points; see `fuzz/src/tensors.rs` for what every run checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mml_fuzz::tensors::run_dlpack(data));
