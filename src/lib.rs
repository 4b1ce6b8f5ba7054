//! # mml: PyTorch's `MultiMarginLoss`, bit for bit, fast, behind a C ABI
//!
//! The crate is layered so that its shape explains it:
//!
//! - [`kernel`]: pure arithmetic over blocks of checked rows (no FFI types, no threads).
//! - [`engine`] and [`parallel`]: fixed row blocks, run serially or on the library's own pool,
//!   with results independent of the thread count.
//! - [`MultiMarginLoss`] (module `loss`): the safe Rust API over slices and `ndarray` views; it
//!   checks every length and target before writing anything.
//! - [`ffi`]: the C ABI (`include/mml.h`), a thin shell that checks pointers, catches panics and
//!   maps errors to status codes.

#[doc(hidden)]
pub mod engine;
mod error;
pub mod ffi;
mod fork;
#[doc(hidden)]
pub mod kernel;
mod loss;
#[doc(hidden)]
pub mod parallel;

pub use error::{Buffer, Error, check_targets};
pub use kernel::GradStore;
pub use kernel::{Power, Target};
pub use loss::{Builder, Float, MultiMarginLoss, Options, Reduction, Scores};

// The README's Rust example, compiled and run by `cargo test` as a doctest (its other examples
// are built against an installed copy by tests/install/test.sh).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
