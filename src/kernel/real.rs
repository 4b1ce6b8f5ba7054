use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Sub};

/// The two working precisions, float32 and float64, with just the operations the kernels use.
///
/// The trait is sealed: the kernels' exactness arguments hold for IEEE binary32 and binary64 only.
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
    + super::simd::Backends
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
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

macro_rules! impl_real {
    ($t:ty) => {
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
        }
    };
}

impl_real!(f32);
impl_real!(f64);
