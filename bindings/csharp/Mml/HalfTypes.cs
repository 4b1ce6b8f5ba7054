using System;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Mml
{
    /// <summary>
    /// A bfloat16 score as its raw 16 bits (the top half of a float), for mixed-precision logits
    /// (netstandard2.0 has no 16-bit float type). mml widens it to float exactly, computes in float and
    /// returns the loss as float; the gradient is float or, into a <c>BFloat16[]</c>, rounded to nearest
    /// even. Equality is bit equality.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct BFloat16 : IEquatable<BFloat16>
    {
        /// <summary>The raw bits.</summary>
        public readonly ushort Bits;

        /// <summary>The value with these raw bits.</summary>
        public BFloat16(ushort bits) { Bits = bits; }

        /// <summary>The value with these raw bits.</summary>
        public static BFloat16 FromBits(ushort bits) { return new BFloat16(bits); }

        /// <summary>Rounds to the nearest bfloat16, ties to even (PyTorch's rounding; a NaN becomes 0x7FC0).</summary>
        public static BFloat16 FromSingle(float value)
        {
            uint u = HalfBits.SingleToBits(value);
            if ((u & 0x7FFFFFFFu) > 0x7F800000u)
                return new BFloat16(0x7FC0);
            return new BFloat16((ushort)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16));
        }

        /// <summary>The exact float value.</summary>
        public float ToSingle() { return HalfBits.BitsToSingle((uint)Bits << 16); }

        /// <summary>Rounds to nearest even.</summary>
        public static explicit operator BFloat16(float value) { return FromSingle(value); }

        /// <summary>Widens exactly.</summary>
        public static explicit operator float(BFloat16 value) { return value.ToSingle(); }

        /// <inheritdoc/>
        public bool Equals(BFloat16 other) { return Bits == other.Bits; }

        /// <inheritdoc/>
        public override bool Equals(object obj) { return obj is BFloat16 && Equals((BFloat16)obj); }

        /// <inheritdoc/>
        public override int GetHashCode() { return Bits; }

        /// <inheritdoc/>
        public override string ToString() { return ToSingle().ToString("R", CultureInfo.InvariantCulture); }
    }

    /// <summary>
    /// An IEEE 754 binary16 (half precision) score as its raw 16 bits (netstandard2.0 has no
    /// System.Half). mml treats it as <see cref="BFloat16"/>: widened to float exactly, the gradient float
    /// or, into a <c>Float16[]</c>, rounded to nearest even. Equality is bit equality.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Float16 : IEquatable<Float16>
    {
        /// <summary>The raw bits.</summary>
        public readonly ushort Bits;

        /// <summary>The value with these raw bits.</summary>
        public Float16(ushort bits) { Bits = bits; }

        /// <summary>The value with these raw bits.</summary>
        public static Float16 FromBits(ushort bits) { return new Float16(bits); }

        /// <summary>Rounds to the nearest float16, ties to even: overflow gives an infinity, tiny values a
        /// subnormal or a signed zero, a NaN sign | 0x7E00 (PyTorch's rounding).</summary>
        public static Float16 FromSingle(float value)
        {
            uint u = HalfBits.SingleToBits(value);
            uint sign = (u >> 16) & 0x8000u;
            uint a = u & 0x7FFFFFFFu;
            if (a > 0x7F800000u)
                return new Float16((ushort)(sign | 0x7E00u));
            if (a >= 0x47800000u)
                return new Float16((ushort)(sign | 0x7C00u));
            if (a < 0x38800000u)
            {
                uint exponent = a >> 23;
                if (exponent < 102)
                    return new Float16((ushort)sign);
                uint mantissa = (a & 0x7FFFFFu) | 0x800000u;
                int shift = (int)(126 - exponent);
                uint half = mantissa >> shift;
                uint rest = mantissa & ((1u << shift) - 1u);
                uint midpoint = 1u << (shift - 1);
                if (rest > midpoint || (rest == midpoint && (half & 1u) != 0))
                    half++;
                return new Float16((ushort)(sign | half));
            }
            uint rebiased = a - (112u << 23);
            return new Float16((ushort)(sign | ((rebiased + 0xFFFu + ((rebiased >> 13) & 1u)) >> 13)));
        }

        /// <summary>The exact float value (subnormals included).</summary>
        public float ToSingle()
        {
            uint sign = (uint)(Bits & 0x8000) << 16;
            uint exponent = (uint)(Bits >> 10) & 0x1Fu;
            uint mantissa = Bits & 0x3FFu;
            if (exponent == 0x1F)
                return HalfBits.BitsToSingle(sign | 0x7F800000u | (mantissa << 13));
            if (exponent != 0)
                return HalfBits.BitsToSingle(sign | ((exponent + 112u) << 23) | (mantissa << 13));
            float magnitude = mantissa * 5.9604644775390625e-8f;
            return sign != 0 ? -magnitude : magnitude;
        }

        /// <summary>Rounds to nearest even.</summary>
        public static explicit operator Float16(float value) { return FromSingle(value); }

        /// <summary>Widens exactly.</summary>
        public static explicit operator float(Float16 value) { return value.ToSingle(); }

        /// <inheritdoc/>
        public bool Equals(Float16 other) { return Bits == other.Bits; }

        /// <inheritdoc/>
        public override bool Equals(object obj) { return obj is Float16 && Equals((Float16)obj); }

        /// <inheritdoc/>
        public override int GetHashCode() { return Bits; }

        /// <inheritdoc/>
        public override string ToString() { return ToSingle().ToString("R", CultureInfo.InvariantCulture); }
    }

    internal static class HalfBits
    {
        internal static unsafe uint SingleToBits(float value) { return *(uint*)&value; }

        internal static unsafe float BitsToSingle(uint bits) { return *(float*)&bits; }
    }
}
