//! The committed header against the crate. That it is exactly what cbindgen generates from the
//! current sources is checked by `make test-header` (tools/header, `mml-header --check`), which
//! also compiles it as C89, C99, C11 and C++; these checks need no C compiler.

const HEADER: &str = include_str!("../include/mml.h");

#[test]
fn header_versions_match_the_crate() {
    for (name, value) in [
        ("MML_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("MML_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("MML_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
        (
            "MML_VERSION_STRING",
            concat!("\"", env!("CARGO_PKG_VERSION"), "\""),
        ),
    ] {
        let line = format!("#define {name} {value}\n");
        assert!(
            HEADER.contains(&line),
            "include/mml.h lacks `{}`: run `make header`",
            line.trim_end()
        );
    }
}

#[test]
fn header_is_guarded_and_c89_clean() {
    assert!(
        HEADER.contains("#ifndef MML_H\n#define MML_H\n"),
        "include guard"
    );
    assert!(
        HEADER.contains("#ifdef __cplusplus\nextern \"C\" {\n#endif\n"),
        "missing extern \"C\" block"
    );
    assert!(HEADER.trim_end().ends_with("#endif  /* MML_H */"));
    // C89 has no // comments; every comment is a /* */ block.
    for (i, line) in HEADER.lines().enumerate() {
        assert!(
            !line.contains("//"),
            "include/mml.h:{}: a // comment: {line}",
            i + 1
        );
    }
}
