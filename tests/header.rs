//! The committed header must be exactly what cbindgen generates from the current sources. A
//! normal build rewrites `include/mml.h` when it changes; with `CI` set it does not, so this
//! test catches a header that was not regenerated and committed.

#[test]
fn header_is_current() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/mml.h"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/mml.h");
    let committed = std::fs::read_to_string(path).expect("include/mml.h exists");
    assert!(
        committed == generated,
        "include/mml.h is stale: run `cargo build` and commit the regenerated header"
    );
}

#[test]
fn header_versions_match_the_crate() {
    let header = include_str!(concat!(env!("OUT_DIR"), "/mml.h"));
    let want = format!(
        "#define MML_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION")
    );
    assert!(header.contains(&want), "missing {want}");
    assert!(
        header.contains("#ifdef __cplusplus\nextern \"C\" {"),
        "missing extern \"C\" guard"
    );
}
