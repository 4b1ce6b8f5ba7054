//! The two working precisions, float32 and float64, with just the operations the kernels use.
//! A leaf: nothing here dispatches.

use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Sub};

/// IEEE binary32 or binary64. Sealed: the kernels' exactness arguments hold for these alone.
pub trait Real:
    Copy
    + Debug
    + Default
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + sealed::Sealed
{
    const ZERO: Self;
    const TWO: Self;
    /// Rounds to nearest, like C++'s `static_cast<scalar_t>(double)`.
    fn from_f64(v: f64) -> Self;
    /// Exact for both precisions.
    fn to_f64(self) -> f64;
    /// Rounds to nearest, like C++'s `int64_t` to `scalar_t` conversion in `sum /= dim`.
    fn from_usize(v: usize) -> Self;
    fn is_nan(self) -> bool;
    /// Bit pattern widened to 64 bits: lets tests compare results exactly.
    fn to_bits_u64(self) -> u64;
    /// The losses as float32 values, or `None` for float64: only float32 losses' serial sum can
    /// often be proved exact in any order (see `sum`); float64 sums hardly ever are.
    fn as_f32s(losses: &[Self]) -> Option<&[f32]>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

macro_rules! impl_real {
    ($t:ty, |$losses:ident| $as_f32s:expr) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const TWO: Self = 2.0;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_usize(v: usize) -> Self {
                v as $t
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline(always)]
            fn to_bits_u64(self) -> u64 {
                self.to_bits() as u64
            }
            #[inline(always)]
            fn as_f32s($losses: &[Self]) -> Option<&[f32]> {
                $as_f32s
            }
        }
    };
}

impl_real!(f32, |losses| Some(losses));
impl_real!(f64, |losses| {
    let _ = losses;
    None
});
