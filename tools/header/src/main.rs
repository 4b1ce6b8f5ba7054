//! Generates `include/mml.h` with cbindgen (settings in `cbindgen.toml`).
//!
//! - `mml-header` (`make header`) writes the header when its text changed.
//! - `mml-header --check` (`make test-header`) exits 1 if the committed header is not exactly
//!   what the sources generate.
//! - `mml-header --print` writes it to standard output.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `version` of the `[package]` section of the library's Cargo.toml.
fn package_version(manifest: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(rest) = line.strip_prefix("version") {
            let value = rest.trim_start().strip_prefix('=').map(str::trim);
            if let Some(v) = value.and_then(|v| v.strip_prefix('"')?.strip_suffix('"')) {
                return Ok(v.to_owned());
            }
        }
    }
    Err(format!("no [package] version in {}", manifest.display()))
}

fn generate(root: &Path) -> Result<String, String> {
    let version = package_version(&root.join("Cargo.toml"))?;
    let parts: Vec<&str> = version.split(['.', '-', '+']).take(3).collect();
    let [major, minor, patch] = parts[..] else {
        return Err(format!("version {version} is not MAJOR.MINOR.PATCH"));
    };
    let version_macros = format!(
        "\n/* The version of this header; mml_version() returns the library's. */\n\
         #define MML_VERSION_MAJOR {major}\n#define MML_VERSION_MINOR {minor}\n\
         #define MML_VERSION_PATCH {patch}\n#define MML_VERSION_STRING \"{version}\"\n\n\
         #ifdef __cplusplus\nextern \"C\" {{\n#endif\n"
    );
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
        .map_err(|e| format!("cbindgen.toml: {e}"))?;
    let bindings = cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .with_after_include(version_macros)
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let mut text = Vec::new();
    bindings.write(&mut text);
    String::from_utf8(text).map_err(|e| format!("cbindgen wrote invalid UTF-8: {e}"))
}

fn main() -> ExitCode {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let header = root.join("include").join("mml.h");
    let mode = std::env::args().nth(1);
    let generated = match generate(&root) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("mml-header: {e}");
            return ExitCode::FAILURE;
        }
    };
    let committed = std::fs::read_to_string(&header).ok();
    match mode.as_deref() {
        Some("--print") => print!("{generated}"),
        Some("--check") => {
            if committed.as_deref() != Some(generated.as_str()) {
                eprintln!(
                    "mml-header: include/mml.h is not what the sources generate: \
                     run `make header` and commit the result"
                );
                return ExitCode::FAILURE;
            }
            println!("mml-header: include/mml.h is current");
        }
        None => {
            if committed.as_deref() == Some(generated.as_str()) {
                println!("mml-header: include/mml.h is current");
            } else if let Err(e) = std::fs::write(&header, &generated) {
                eprintln!("mml-header: cannot write {}: {e}", header.display());
                return ExitCode::FAILURE;
            } else {
                println!("mml-header: wrote include/mml.h");
            }
        }
        Some(other) => {
            eprintln!("usage: mml-header [--check | --print] (got {other})");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
