//! # libmml_onnxruntime: mml's loss as ONNX Runtime custom operators
//!
//! ONNX Runtime loads this library at run time (`RegisterCustomOpsLibrary`,
//! `SessionOptions.register_custom_ops_library`, …) and calls [`RegisterCustomOps`], which
//! registers two operators in the domain `mml`: `MultiMarginLoss` and `MultiMarginLossGrad`.
//! They compute through mml's C ABI in `libmml.so.0.1`, which this library links (found beside
//! it, or in the directory above: `LIBDIR/mml/` installed): mml's kernels, its thread pool, its
//! bits, one copy of them in a process that uses mml directly too. User documentation:
//! `docs/ONNXRUNTIME.md`.
//!
//! The library never links `libonnxruntime`: the runtime hands over its C API through
//! `OrtApiBase`, and this library asks it for version [`ort_sys::ORT_API_VERSION`] (17: ONNX
//! Runtime 1.17 and newer).
//!
//! - `signature`: what each operator takes and gives, per element type.
//! - `kernel`: one node's attributes, and each call's checks and mml call.
//! - `mml`: the part of mml's C ABI used, behind safe functions.
//! - `ops`: the `OrtCustomOp` table and its callbacks, each behind `catch_unwind`.
//! - `ort`: the part of the C API used, behind safe functions.

mod kernel;
mod mml;
mod ops;
mod ort;
mod signature;

use std::sync::Mutex;

use ort_sys::{
    ORT_API_VERSION, OrtApiBase, OrtCustomOpDomain, OrtErrorCode, OrtSessionOptions, OrtStatusPtr,
};

use ops::{OPS, guarded_status};
use ort::{Api, Result};

/// The operators' domain: a model imports it as `("mml", 1)`.
const DOMAIN: &std::ffi::CStr = c"mml";

/// The domains created so far. ONNX Runtime does not own them and a session reads them for as
/// long as it lives, which this library cannot see: they are kept (a few hundred bytes each) for
/// the life of the process.
static DOMAINS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// ONNX Runtime's entry point for a custom-operator library: registers `mml::MultiMarginLoss`
/// and `mml::MultiMarginLossGrad` with `options`. Returns NULL on success, else a status that
/// says why.
///
/// # Safety
/// Called by ONNX Runtime with live session options and its `OrtApiBase`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn RegisterCustomOps(
    options: *mut OrtSessionOptions,
    api_base: *const OrtApiBase,
) -> OrtStatusPtr {
    // SAFETY: the runtime passes its static `OrtApiBase`.
    let Some(base) = (unsafe { api_base.as_ref() }) else {
        // Without the API there is no way to make a status.
        return OrtStatusPtr::default();
    };
    // SAFETY: `GetApi` returns NULL or the static table of that version.
    let Some(api) = (unsafe { Api::new((base.GetApi)(ORT_API_VERSION)) }) else {
        return too_old(base);
    };
    // SAFETY: the runtime's `OrtApiBase`.
    unsafe { ort::find_shape_reference(base) };
    guarded_status(api, || register(api, options))
}

fn register(api: Api, options: *mut OrtSessionOptions) -> Result<()> {
    let raw = api.raw();
    let mut domain: *mut OrtCustomOpDomain = std::ptr::null_mut();
    // SAFETY: a NUL-terminated name and a valid out-pointer.
    api.check(unsafe { (raw.CreateCustomOpDomain)(DOMAIN.as_ptr(), &mut domain) })?;
    let filled = OPS.iter().try_for_each(|op| {
        // SAFETY: a live domain and an op in a static, as the runtime requires.
        api.check(unsafe { (raw.CustomOpDomain_Add)(domain, op.raw()) })
    });
    // SAFETY: live options from the runtime and the domain just filled.
    let added =
        filled.and_then(|()| api.check(unsafe { (raw.AddCustomOpDomain)(options, domain) }));
    if let Err(failure) = added {
        // SAFETY: created above and not handed to any session options.
        unsafe { (raw.ReleaseCustomOpDomain)(domain) };
        return Err(failure);
    }
    DOMAINS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(domain as usize);
    Ok(())
}

/// The runtime predates the API version asked for: say so through version 1 of its API, which
/// every runtime has (`CreateStatus` is its first function, where every later version keeps it).
fn too_old(base: &OrtApiBase) -> OrtStatusPtr {
    // SAFETY: `GetApi(1)` returns NULL or the static table of version 1; `GetVersionString`
    // returns a static NUL-terminated string.
    unsafe {
        let v1 = (base.GetApi)(1);
        if v1.is_null() {
            return OrtStatusPtr::default();
        }
        let version = std::ffi::CStr::from_ptr((base.GetVersionString)()).to_string_lossy();
        let message = std::ffi::CString::new(format!(
            "libmml_onnxruntime needs ONNX Runtime 1.{ORT_API_VERSION} or newer (C API version \
             {ORT_API_VERSION}); this runtime is {version}"
        ))
        .unwrap_or_default();
        // Only the first field is read: the version 1 table is shorter than `OrtApi`.
        let create_status = std::ptr::addr_of!((*v1).CreateStatus).read();
        create_status(OrtErrorCode::ORT_FAIL, message.as_ptr())
    }
}
