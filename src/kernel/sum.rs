//! PyTorch's serial float64 sum of float32 row losses, `((0 + l0) + l1) + …`, computed in any
//! order where that provably gives the chain's bits: the chain's dependent adds, not the
//! arithmetic, set the pace at few classes (docs/DESIGN.md, "Summation orders"). Every float32 is
//! an integer multiple of its own ulp; with `u` the ulp of the smallest nonzero loss (and of the
//! running total), if all terms are finite and nonnegative and their sum is below `2^53·u`, no
//! add in any order rounds. [`exact_total`] checks that; otherwise the caller adds the chain.

use std::ops::Add;

/// Independent lanes of the sum and the checks (two AVX-512 vectors of float64, one of 32-bit
/// integers), met once at the end, so the loop compiles to plain vector code. Not in the C ABI:
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

/// `((total + l0) + l1) + …` in float64, bit for bit, or `None` where that is not proved (a loss
/// negative, `-0`, infinite or NaN; `total` negative or non-finite; terms too far apart) or
/// `losses` is not a multiple of 16 long (callers pad with zeros, which change nothing). The
/// portable pass; backends inline it into entries of their own (see `platform`).
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
/// Sound because: the computed sum is a tree of adds over `total` and the losses, all
/// nonnegative multiples of `u`, and `2^53·u` is representable. Rounding to nearest is monotone,
/// so a node whose exact sum reaches `2^53·u` rounds to at least that, and so does every node
/// above it (the terms are nonnegative). A result below `2^53·u` thus means no node reached it:
/// each was a multiple of `u` below `2^53·u`, exact. The result is then the exact sum, and the
/// chain, whose partial sums are smaller still, is exact and equal to it. Zero signs agree:
/// every accumulator starts at `+0` and no term is `-0`.
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
        // The total's own unit: its significand's lowest set bit. A total summed exactly from
        // float32 losses keeps their coarse unit, so large totals still admit the next block.
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

/// `acc + x` as PyTorch's `sum += x` on x86 (`addsd`): of two NaNs, the accumulator's (the first
/// met) is kept. Written out: a compiler may swap an add's operands, and with them the NaN kept
/// (it did, on one path). With at most one NaN operand, that one is the result in either order.
#[inline(always)]
pub fn add(acc: f64, x: f64) -> f64 {
    if acc.is_nan() { acc } else { acc + x }
}

/// `((total + l0) + l1) + …` in float64, PyTorch's serial sum with [`add`]'s NaN rule: plain adds
/// first; only a NaN result (NaN whatever the operand order) is summed again with [`add`].
#[inline]
pub fn chain<T: super::Real>(total: f64, losses: &[T]) -> f64 {
    let plain = losses.iter().fold(total, |acc, &l| acc + l.to_f64());
    if plain.is_nan() {
        losses.iter().fold(total, |acc, &l| add(acc, l.to_f64()))
    } else {
        plain
    }
}
