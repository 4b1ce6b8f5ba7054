//! PyTorch's serial float64 sum of float32 row losses, without its chain of dependent adds
//! whenever that provably gives the same bits.
//!
//! PyTorch sums a batch's losses as `((0 + l0) + l1) + …` in float64. Each add waits for the
//! previous one, so at 10 classes the chain, not the arithmetic, sets the pace (a quarter of a
//! forward call). The chain has a property that makes it avoidable almost always: every float32
//! is an integer multiple of its own unit in the last place, a power of two that grows with the
//! value. Let `u` be that unit for the smallest nonzero loss (and for the running total, at
//! float64's precision). Then every loss is a multiple of `u`, and if all terms are finite and
//! nonnegative and their sum is below `2^53·u`, every partial sum in every order is a multiple of
//! `u` below `2^53·u`: exactly representable, so no add rounds and every order gives the exact
//! sum, the chain's bits included. [`exact_total`] checks that condition on the sum that a pass
//! over the losses computed with independent accumulators, and the caller falls back to the
//! chain otherwise.

use std::ops::Add;

use super::Isa;

/// [`sum_in_any_order`] with the vectors of `isa` (clamped to what the CPU has). Inlined, so
/// that a caller goes straight to the backend's entry.
#[inline]
pub fn sum_in_any_order_with(isa: Isa, total: f64, losses: &[f32]) -> Option<f64> {
    super::simd::sum_in_any_order_on(isa.clamped(), total, losses)
}

/// Independent lanes of the sum and of the checks: two AVX-512 vectors of float64, one of
/// 32-bit integers. Each lane is updated on its own and the lanes meet once at the end, which
/// keeps the loop free of horizontal steps and partial vectors, so that it compiles to plain
/// vector code. Not part of the C ABI:
/// cbindgen:ignore
pub const SUM_LANES: usize = 16;
const LANES: usize = SUM_LANES;

/// Float32's unit in the last place of its subnormals, `2^-149`, as a binary exponent.
const F32_MIN_UNIT_EXP: i32 = -149;

/// What a pass over the losses gathers: their largest bit pattern, the smallest `bits - 1` (the
/// smallest nonzero loss's, as 0 wraps to the top), and their sum in float64, added in any
/// order (a tree of adds, each accumulator starting at `+0`).
pub(crate) struct Lanes {
    pub largest: u32,
    pub smallest_minus_one: u32,
    pub sum: f64,
}

/// `((total + l0) + l1) + …` in float64, bit for bit, or `None` when this cannot prove that a
/// sum in another order gives those bits (a loss negative, `-0`, infinite or NaN, a negative or
/// non-finite `total`, or terms too far apart in magnitude) or when `losses` is not a whole
/// number of vectors (a multiple of 16 long: callers pad with zeros, which change nothing). The
/// portable pass, inlined into the entries without one of their own (see
/// `simd::sum_in_any_order_on`).
#[inline(always)]
pub(crate) fn sum_in_any_order(total: f64, losses: &[f32]) -> Option<f64> {
    let (vectors, rest) = losses.as_chunks::<LANES>();
    if !rest.is_empty() {
        return None;
    }
    let mut largest = [0u32; LANES];
    let mut smallest = [u32::MAX; LANES];
    let mut sums = [0.0f64; LANES];
    for lanes in vectors {
        for k in 0..LANES {
            let bits = lanes[k].to_bits();
            largest[k] = largest[k].max(bits);
            smallest[k] = smallest[k].min(bits.wrapping_sub(1));
            sums[k] += f64::from(lanes[k]);
        }
    }
    exact_total(
        total,
        Lanes {
            largest: reduce(largest, u32::max),
            smallest_minus_one: reduce(smallest, u32::min),
            sum: reduce(sums, f64::add),
        },
    )
}

/// `total + lanes.sum` when that is provably the chain's result, else `None`.
///
/// Why the check is sound: the computed sum is a tree of adds over `total` and the losses, all
/// nonnegative multiples of `u`, and `2^53·u` is representable. Rounding to nearest is monotone,
/// so a node whose exact sum reaches `2^53·u` rounds to at least that, and so does every node
/// above it (the terms are nonnegative). A computed result below `2^53·u` therefore means that
/// no node reached it: each one was a multiple of `u` below `2^53·u`, exact. Its value is then
/// the exact sum, and the chain, whose partial sums are smaller still, is exact and equal to it.
/// Signs of zero agree too: every accumulator starts at `+0` and no term is `-0`.
#[inline(always)]
pub(crate) fn exact_total(total: f64, lanes: Lanes) -> Option<f64> {
    // Bits of a finite nonnegative float32 (sign clear) are below those of +infinity.
    const INFINITY_BITS: u32 = 0x7f80_0000;
    let total_bits = total.to_bits();
    if lanes.largest >= INFINITY_BITS || total_bits >> 63 != 0 {
        return None;
    }
    let sum = total + lanes.sum;

    // The unit of the smallest nonzero loss: 2^(exponent - 150) for a normal float32, 2^-149 for
    // a subnormal one; with no nonzero loss the unit is irrelevant, so take the largest.
    let exponent = match lanes.smallest_minus_one.checked_add(1) {
        Some(bits) => (bits >> 23) as i32,
        None => 254,
    };
    let mut unit_exp = (exponent - 150).max(F32_MIN_UNIT_EXP);
    if total != 0.0 {
        // The total's own unit: the lowest set bit of its significand, at its exponent. A total
        // summed exactly from float32 losses keeps their coarse unit (the bits below are zero),
        // so large totals still admit the next block.
        let exponent = (total_bits >> 52) as i32;
        let significand = total_bits & ((1 << 52) - 1) | u64::from(exponent > 0) << 52;
        let lowest_bit = exponent.max(1) - 1075 + significand.trailing_zeros() as i32;
        unit_exp = unit_exp.min(lowest_bit);
    }
    // 2^(unit_exp + 53) as a float64: its exponent field is unit_exp + 53 + 1023, from 2 to 1180
    // for every unit above (from 2^-1074 to 2^104).
    let limit = f64::from_bits(((unit_exp + 53 + 1023) as u64) << 52);
    (sum < limit).then_some(sum)
}

/// The lanes combined by halving (lane `k` with lane `k + 8`, then `k + 4`, …).
#[inline(always)]
fn reduce<V: Copy>(lanes: [V; LANES], op: impl Fn(V, V) -> V) -> V {
    let eight: [V; 8] = std::array::from_fn(|k| op(lanes[k], lanes[k + 8]));
    let four: [V; 4] = std::array::from_fn(|k| op(eight[k], eight[k + 4]));
    op(op(four[0], four[2]), op(four[1], four[3]))
}

/// `acc + x` as PyTorch's `sum += x` computes it on x86 (`addsd`): where both are NaN, the
/// result is the accumulator's NaN, the first one met in the order of the adds. Written out,
/// because a compiler may swap the operands of an add, and with them the NaN an instruction
/// keeps (it did: the same sum kept the first NaN on one path and the last on another). Where
/// at most one operand is NaN, that one is the result whatever the order.
#[inline(always)]
pub fn add(acc: f64, x: f64) -> f64 {
    if acc.is_nan() { acc } else { acc + x }
}

/// `((acc + x0) + x1) + …` with [`add`]'s rule for NaNs: a NaN `acc` stays; otherwise plain
/// adds, one chain, summed again the careful way only if they end in a NaN (tests beside the
/// chain, which gets no longer).
#[inline(always)]
pub fn add_all(acc: f64, xs: &[f64]) -> f64 {
    if acc.is_nan() {
        return acc;
    }
    let plain = xs.iter().fold(acc, |a, &x| a + x);
    if plain.is_nan() {
        xs.iter().fold(acc, |a, &x| add(a, x))
    } else {
        plain
    }
}

/// `((total + l0) + l1) + …` in float64: PyTorch's serial sum, one add after another, with
/// [`add`]'s rule for NaNs. The plain chain first; only a NaN result (whose NaN-ness does not
/// depend on the order of the operands) is summed again the careful way.
#[inline]
pub fn chain<T: super::Real>(total: f64, losses: &[T]) -> f64 {
    let plain = losses.iter().fold(total, |acc, &l| acc + l.to_f64());
    if plain.is_nan() {
        losses.iter().fold(total, |acc, &l| add(acc, l.to_f64()))
    } else {
        plain
    }
}
