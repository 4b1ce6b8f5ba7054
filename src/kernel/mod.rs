//! Pure kernels: the loss's arithmetic over blocks of rows, with PyTorch 2.x CPU's bits on every
//! path (see `reference`). No FFI types, threads or allocation; `unsafe` only in the SIMD
//! backends (and the prefetch hint). Layers, each importing only those above it (docs/DESIGN.md,
//! "The kernel's layers"): leaves `real`, `element`, `sum`, `task`; `reference`; `vector` and
//! `schedule`; the backends `wide`, `avx2`, `avx512`; `platform`, the only one naming them all.
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
    ISA_ENV, Isa, Kernels, MEMORY_SCHEDULE_MIN_BYTES, Op, Plan, first_bad_target, sum_in_any_order,
};
pub use real::Real;
pub use schedule::Schedule;
pub(crate) use task::LineAligned;
pub use task::{GradOut, INTERLEAVE, LossOut, Params, Partials, Power, Task, Upstream};
