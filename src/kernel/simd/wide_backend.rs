//! The portable backend over the `wide` crate: 128-bit SSE2 on baseline x86-64, NEON on
//! aarch64 (`f32x8` and `f64x4` are pairs of 128-bit registers there). No `unsafe`.

use wide::{f32x8, f64x4};

use super::Vector;

macro_rules! wide_vector {
    ($v:ty, $t:ty, $lanes:literal) => {
        impl Vector<$t> for $v {
            const LANES: usize = $lanes;
            /// All-ones lanes where true, as `wide`'s comparisons return.
            type Mask = $v;

            #[inline(always)]
            fn splat(v: $t) -> Self {
                <$v>::splat(v)
            }
            #[inline(always)]
            fn load(src: &[$t]) -> Self {
                let lanes: [$t; $lanes] = src[..$lanes].try_into().expect("slice of LANES values");
                <$v>::new(lanes)
            }
            #[inline(always)]
            fn store(self, dst: &mut [$t]) {
                dst[..$lanes].copy_from_slice(&self.to_array());
            }
            #[inline(always)]
            fn add(self, rhs: Self) -> Self {
                self + rhs
            }
            #[inline(always)]
            fn sub(self, rhs: Self) -> Self {
                self - rhs
            }
            #[inline(always)]
            fn mul(self, rhs: Self) -> Self {
                self * rhs
            }
            #[inline(always)]
            fn div(self, rhs: Self) -> Self {
                self / rhs
            }
            #[inline(always)]
            fn gt(self, rhs: Self) -> Self {
                self.simd_gt(rhs)
            }
            #[inline(always)]
            fn ne(self, rhs: Self) -> Self {
                self.simd_ne(rhs)
            }
            #[inline(always)]
            fn and(a: Self, b: Self) -> Self {
                a & b
            }
            #[inline(always)]
            fn select(mask: Self, if_true: Self, if_false: Self) -> Self {
                mask.select(if_true, if_false)
            }
            // SSE2 blends with three operations, all on the sum's chain; the `&` is off it.
            #[inline(always)]
            fn add_where(self, mask: Self, term: Self) -> Self {
                self + (term & mask)
            }
            #[inline(always)]
            fn sub_where(self, mask: Self, term: Self) -> Self {
                self - (term & mask)
            }
        }
    };
}

wide_vector!(f32x8, f32, 8);
wide_vector!(f64x4, f64, 4);
