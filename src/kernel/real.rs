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
    /// Whether [`Real::sum_in_any_order`] can ever answer: float32 losses only. A float64 loss
    /// has float64's full precision, so hardly any sum of them is exact.
    const SUMS_IN_ANY_ORDER: bool;
    /// PyTorch's serial sum `((total + l0) + l1) + …`, computed with the vectors of `isa`
    /// without the chain when that provably gives its bits; `None` otherwise (see
    /// [`super::sum`]).
    fn sum_in_any_order(isa: super::Isa, total: f64, losses: &[Self]) -> Option<f64>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

macro_rules! impl_real {
    ($t:ty, $any_order:expr, $sum_in_any_order:path) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const SUMS_IN_ANY_ORDER: bool = $any_order;
            #[inline(always)]
            fn sum_in_any_order(isa: super::Isa, total: f64, losses: &[Self]) -> Option<f64> {
                $sum_in_any_order(isa, total, losses)
            }
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

impl_real!(f32, true, super::sum::sum_in_any_order_with);
impl_real!(f64, false, never_in_any_order);

fn never_in_any_order(_: super::Isa, _: f64, _: &[f64]) -> Option<f64> {
    None
}
