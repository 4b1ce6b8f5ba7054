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

impl Element for half::bf16 {
    type Real = f32;
    /// bfloat16 is float32's upper half: the shift is exact, NaNs included.
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from_bits(u32::from(self.to_bits()) << 16)
    }
}

impl Element for half::f16 {
    type Real = f32;
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

/// The 16-bit score types, by their bits (for the x86 loaders).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) trait Half: Element<Real = f32> {
    fn bits(self) -> u16;
}

impl Half for half::bf16 {
    #[inline(always)]
    fn bits(self) -> u16 {
        self.to_bits()
    }
}

impl Half for half::f16 {
    #[inline(always)]
    fn bits(self) -> u16 {
        self.to_bits()
    }
}

/// The bit patterns of `rows[at..at + width]` (`width <= N`), zeros after: a row's last values
/// where a whole vector's load would read past the task's scores.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
pub(crate) fn half_bits<H: Half, const N: usize>(rows: &[H], at: usize, width: usize) -> [u16; N] {
    let mut bits = [0u16; N];
    for (b, h) in bits.iter_mut().zip(&rows[at..at + width]) {
        *b = h.bits();
    }
    bits
}

/// A type a gradient is written in, from the working precision `R`: `R` itself, or a half type
/// rounded as PyTorch rounds (to nearest even; see [`Narrow`]).
pub trait GradStore<R>: Copy + Debug + Default + Send + Sync + 'static + sealed::Sealed {
    /// `value` in this type.
    fn store(value: R) -> Self;
    /// The slice as `R` where this type is `R` (the kernels write it directly), else itself.
    fn as_real(slice: &mut [Self]) -> Result<&mut [R], &mut [Self]>;
}

impl GradStore<f32> for f32 {
    #[inline(always)]
    fn store(value: f32) -> f32 {
        value
    }
    #[inline(always)]
    fn as_real(slice: &mut [f32]) -> Result<&mut [f32], &mut [f32]> {
        Ok(slice)
    }
}

impl GradStore<f64> for f64 {
    #[inline(always)]
    fn store(value: f64) -> f64 {
        value
    }
    #[inline(always)]
    fn as_real(slice: &mut [f64]) -> Result<&mut [f64], &mut [f64]> {
        Ok(slice)
    }
}

impl GradStore<f32> for half::bf16 {
    /// c10::BFloat16's round to nearest even; every NaN becomes `0x7FC0`.
    #[inline(always)]
    fn store(value: f32) -> half::bf16 {
        let bits = value.to_bits();
        if value.is_nan() {
            return half::bf16::from_bits(0x7FC0);
        }
        let rounding = 0x7FFF + ((bits >> 16) & 1);
        half::bf16::from_bits((bits.wrapping_add(rounding) >> 16) as u16)
    }
    #[inline(always)]
    fn as_real(slice: &mut [Self]) -> Result<&mut [f32], &mut [Self]> {
        Err(slice)
    }
}

impl GradStore<f32> for half::f16 {
    /// c10::Half's `fp16_ieee_from_fp32_value`: round to nearest even (subnormals and overflow
    /// to infinity included); a NaN becomes its sign with `0x7E00`.
    #[inline(always)]
    fn store(value: f32) -> half::f16 {
        let bits = value.to_bits();
        let sign = ((bits >> 16) & 0x8000) as u16;
        if value.is_nan() {
            return half::f16::from_bits(sign | 0x7E00);
        }
        // `half`'s conversion rounds to nearest even; only NaNs differ (it keeps payloads).
        half::f16::from_f32(value)
    }
    #[inline(always)]
    fn as_real(slice: &mut [Self]) -> Result<&mut [f32], &mut [Self]> {
        Err(slice)
    }
}

/// A type targets (class indices) are stored in: `i64` or `i32`.
pub trait Target: Copy + Debug + Default + Send + Sync + 'static + sealed::Sealed {
    /// The value, for error reports.
    fn value(self) -> i64;
    /// Whether the target lies outside `[0, c)`: one unsigned compare (a negative target wraps
    /// above every `c`), so that a scan over many compiles to vector compares.
    fn is_out_of_range(self, c: usize) -> bool;
    /// The target as an index; only for targets already checked to lie in `[0, c)`.
    fn index(self) -> usize;
    /// A slice of them as [`Targets`].
    fn targets(slice: &[Self]) -> Targets<'_>;
}

macro_rules! impl_target {
    ($y:ty, $u:ty, $variant:ident) => {
        impl Target for $y {
            #[inline(always)]
            fn value(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn is_out_of_range(self, c: usize) -> bool {
                self as $u as u64 >= c as u64
            }
            #[inline(always)]
            fn index(self) -> usize {
                self as usize
            }
            #[inline(always)]
            fn targets(slice: &[Self]) -> Targets<'_> {
                Targets::$variant(slice)
            }
        }
    };
}
impl_target!(i64, u64, I64);
impl_target!(i32, u32, I32);

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for half::bf16 {}
    impl Sealed for half::f16 {}
    impl Sealed for i64 {}
    impl Sealed for i32 {}
}

/// A task's targets, `i64` or `i32`. Kernels are compiled once for both: each block reads its
/// targets through one `match` (a few loads differ, not enough to compile every kernel twice).
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    I64(&'a [i64]),
    I32(&'a [i32]),
}

/// Runs `$body` with `$t` bound to the slice of `$targets`, whatever its type.
macro_rules! with_targets {
    ($targets:expr, |$t:ident| $body:expr) => {
        match $targets {
            $crate::kernel::Targets::I64($t) => $body,
            $crate::kernel::Targets::I32($t) => $body,
        }
    };
}
pub(crate) use with_targets;

impl<'a> Targets<'a> {
    #[inline(always)]
    pub fn len(self) -> usize {
        with_targets!(self, |t| t.len())
    }

    #[inline(always)]
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Targets `start..end`.
    #[inline(always)]
    pub fn range(self, start: usize, end: usize) -> Targets<'a> {
        match self {
            Targets::I64(t) => Targets::I64(&t[start..end]),
            Targets::I32(t) => Targets::I32(&t[start..end]),
        }
    }

    /// Targets `start..`.
    #[inline(always)]
    pub fn from(self, start: usize) -> Targets<'a> {
        self.range(start, self.len())
    }

    /// Target `i`'s value.
    #[inline(always)]
    pub fn value(self, i: usize) -> i64 {
        with_targets!(self, |t| t[i].value())
    }

    /// Target `i` as an index into its row. Targets were checked before any kernel reads them;
    /// this keeps a bad one from reading or writing another row's entry.
    #[inline(always)]
    pub fn index(self, i: usize, c: usize) -> usize {
        with_targets!(self, |t| {
            assert!(!t[i].is_out_of_range(c), "unchecked target");
            t[i].index()
        })
    }

    /// Whether any of the first `lanes` targets lies outside `[0, c)`.
    #[inline(always)]
    pub fn any_out_of_range(self, lanes: usize, c: usize) -> bool {
        with_targets!(self, |t| t[..lanes]
            .iter()
            .fold(false, |bad, &y| bad | y.is_out_of_range(c)))
    }

    /// The first `LANES` (at most 16) targets as indices; only for targets already checked. Not
    /// re-checked (it costs instructions a call): every use indexes a bounds-checked slice, so a
    /// bad target could only give wrong values, never touch memory outside the task.
    #[inline(always)]
    pub(crate) fn indices(self, lanes: usize, c: usize) -> [usize; 16] {
        let mut out = [0; 16];
        with_targets!(self, |t| {
            for (o, &y) in out.iter_mut().zip(&t[..lanes]) {
                debug_assert!(!y.is_out_of_range(c), "unchecked target");
                *o = y.index();
            }
        });
        out
    }
}

impl<'a> From<&'a [i64]> for Targets<'a> {
    fn from(t: &'a [i64]) -> Self {
        Targets::I64(t)
    }
}

impl<'a> From<&'a [i32]> for Targets<'a> {
    fn from(t: &'a [i32]) -> Self {
        Targets::I32(t)
    }
}

impl<'a> From<&'a Vec<i64>> for Targets<'a> {
    fn from(t: &'a Vec<i64>) -> Self {
        Targets::I64(t)
    }
}

impl<'a> From<&'a Vec<i32>> for Targets<'a> {
    fn from(t: &'a Vec<i32>) -> Self {
        Targets::I32(t)
    }
}

/// Targets per chunk of [`first_bad_target`]'s scan.
pub(crate) const TARGET_CHUNK: usize = 16;

/// The first row whose target lies outside `[0, c)`, if any. Whole chunks of [`TARGET_CHUNK`]
/// are each tested at once, without an early exit inside (a fixed-length fold compiles to vector
/// compares, each backend's own where inlined into its entry); the rest is searched row by row
/// from the first chunk that fails.
#[inline(always)]
pub(crate) fn first_bad_target(targets: Targets<'_>, c: usize) -> Option<usize> {
    #[inline(always)]
    fn first_bad<Y: Target>(target: &[Y], c: usize) -> Option<usize> {
        let clean = |chunk: &[Y; TARGET_CHUNK]| {
            !chunk
                .iter()
                .fold(false, |bad, &y| bad | y.is_out_of_range(c))
        };
        let chunks = target.as_chunks::<TARGET_CHUNK>().0;
        let start = chunks.iter().take_while(|chunk| clean(chunk)).count() * TARGET_CHUNK;
        Some(start + target[start..].iter().position(|y| y.is_out_of_range(c))?)
    }
    with_targets!(targets, |target| first_bad(target, c))
}
