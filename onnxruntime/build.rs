//! Gives the plugin its SONAME.

fn main() {
    println!("cargo:rustc-link-arg-cdylib=-Wl,-soname,libmml_onnxruntime.so");
}
