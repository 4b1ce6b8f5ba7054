//! Gives the plugin its SONAME.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmml_onnxruntime.so");
}
