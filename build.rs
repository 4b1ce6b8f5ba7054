//! Generates `include/mml.h` with cbindgen and gives the cdylib its SONAME.
//!
//! The header is written into `include/` only when its text changes (so builds do not touch its
//! timestamp), except when `CI` is set: CI must see the committed header, and the test
//! `header_is_current` then compares it with the copy generated into `OUT_DIR`.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=CI");
    // `rustc-link-arg`, not `rustc-cdylib-link-arg`: cargo passes a dependency's cdylib link
    // arguments on to every cdylib that depends on it (cargo#9562), which gave the ONNX Runtime
    // plugin (onnxruntime/) this SONAME too. This form stays within the package; its test and
    // example executables get the SONAME as well, which nothing reads.
    println!("cargo:rustc-link-arg=-Wl,-soname,libmml.so");

    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let version = env::var("CARGO_PKG_VERSION").expect("set by cargo");
    let part = |name: &str| env::var(name).expect("set by cargo");
    let version_macros = format!(
        "\n/* The version of this header; mml_version() returns the library's. */\n\
         #define MML_VERSION_MAJOR {}\n#define MML_VERSION_MINOR {}\n#define MML_VERSION_PATCH {}\n\
         #define MML_VERSION_STRING \"{version}\"\n",
        part("CARGO_PKG_VERSION_MAJOR"),
        part("CARGO_PKG_VERSION_MINOR"),
        part("CARGO_PKG_VERSION_PATCH"),
    );
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .with_after_include(version_macros)
        .generate()
        .expect("cbindgen generates the header");
    let mut text = Vec::new();
    bindings.write(&mut text);

    fs::write(out_dir.join("mml.h"), &text).expect("write OUT_DIR/mml.h");
    let committed = crate_dir.join("include").join("mml.h");
    if env::var_os("CI").is_none() && fs::read(&committed).ok().as_deref() != Some(&text[..]) {
        fs::create_dir_all(committed.parent().expect("has a parent")).expect("create include/");
        fs::write(&committed, &text).expect("write include/mml.h");
    }
}
