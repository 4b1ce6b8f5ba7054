//! Pure kernels: the arithmetic of the loss over blocks of rows. No FFI types, no threads, no
//! allocation; the only `unsafe` here is in the SIMD backends (and the prefetch hint).
//!
//! Every kernel reproduces PyTorch 2.x CPU's arithmetic to the bit (see `reference`). Layers,
//! each importing only those above it:
//!
//! - leaves: `real` (the working precisions), `element` (storage and target types), `sum` (the
//!   exact any-order sum and the NaN rule of the serial sum), `task` (what a kernel computes);
//! - `reference`: PyTorch's loops transcribed;
//! - `vector`: the block body over the `Vector` trait; `schedule`: the orders blocks run in;
//! - `wide`, `avx2`, `avx512`: one backend each, implementing the same few entries;
//! - `platform`: the only module that names the backends, with the table that plans each call.
//!
//! Not a public interface: the crate exposes it (hidden) for its tests and benchmarks only.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod element;
mod platform;
mod real;
pub mod reference;
mod schedule;
pub mod sum;
mod task;
mod vector;
mod wide;

pub use element::{Element, GradStore, Target, Targets};
pub use platform::{
    ISA_ENV, Isa, Kernels, Op, PAIRED_MIN_BLOCKS_PER_THREAD, Plan, STREAMED_MIN_BYTES,
    first_bad_target, sum_in_any_order,
};
pub use real::Real;
pub use schedule::Work;
pub(crate) use task::LineAligned;
pub use task::{GradOut, INTERLEAVE, LossOut, Params, Partials, Power, Task, Upstream};
