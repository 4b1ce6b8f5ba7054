//! The panic boundary. Every exported function's body runs inside [`ffi_boundary!`], so a panic
//! (a bug in mml) becomes `MML_STATUS_INTERNAL_ERROR` instead of unwinding into C, which is
//! undefined behaviour. The macro wraps bodies, not functions, so cbindgen still sees each
//! function's signature.

/// Runs a body returning `Result<(), Status>` and turns it into a status code.
macro_rules! ffi_boundary {
    ($($body:tt)*) => {{
        let result = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> ::std::result::Result<(), $crate::ffi::status::Status> { $($body)* },
        ));
        match result {
            Ok(Ok(())) => $crate::ffi::status::MML_STATUS_OK,
            Ok(Err(status)) => status,
            Err(_) => $crate::ffi::status::MML_STATUS_INTERNAL_ERROR,
        }
    }};
}

pub(crate) use ffi_boundary;
