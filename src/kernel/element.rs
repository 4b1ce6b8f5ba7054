//! The types a task's data is stored in: the scores' element type (which widens to the working
//! precision in registers) and the targets' integer type. Leaves: nothing here dispatches.

use std::fmt::Debug;

use super::real::Real;

/// A type scores are stored in, and the working precision it widens to (exactly).
pub trait Element: Copy + Debug + Default + Send + Sync + 'static + sealed::Sealed {
    /// The precision the loss is computed in for scores of this type.
    type Real: Real;
    /// The value in the working precision (exact).
    fn widen(self) -> Self::Real;
}

impl Element for f32 {
    type Real = f32;
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
}

impl Element for f64 {
    type Real = f64;
    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }
}

/// A type targets (class indices) are stored in.
pub trait Target: Copy + Debug + Send + Sync + 'static + sealed::Sealed {
    /// The value, for error reports.
    fn value(self) -> i64;
    /// Whether the target lies outside `[0, c)`: one unsigned compare (a negative target wraps
    /// above every `c`), so that a scan over many compiles to vector compares.
    fn is_out_of_range(self, c: usize) -> bool;
    /// The target as an index; only for targets already checked to lie in `[0, c)`.
    fn index(self) -> usize;
}

impl Target for i64 {
    #[inline(always)]
    fn value(self) -> i64 {
        self
    }
    #[inline(always)]
    fn is_out_of_range(self, c: usize) -> bool {
        self as u64 >= c as u64
    }
    #[inline(always)]
    fn index(self) -> usize {
        self as usize
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for i64 {}
}

/// Targets per chunk of [`first_bad_target`]'s scan.
pub(crate) const TARGET_CHUNK: usize = 64;

/// The first row whose target lies outside `[0, c)`, if any. Each chunk of [`TARGET_CHUNK`] is
/// scanned without an early exit, so that the scan compiles to vector compares (inlined into each
/// backend's entry, it uses that backend's 64-bit compares); the chunk that holds a bad target is
/// then searched again for its row.
#[inline(always)]
pub(crate) fn first_bad_target<Y: Target>(target: &[Y], c: usize) -> Option<usize> {
    let chunk = target.chunks(TARGET_CHUNK).position(|chunk| {
        chunk
            .iter()
            .fold(false, |bad, &y| bad | y.is_out_of_range(c))
    })?;
    let start = chunk * TARGET_CHUNK;
    let row = target[start..].iter().position(|y| y.is_out_of_range(c));
    Some(start + row.expect("the chunk holds a bad target"))
}
