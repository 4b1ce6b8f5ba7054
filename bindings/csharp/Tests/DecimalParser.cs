// Correctly rounded decimal -> double conversion. Mono's double.Parse can be off by one ulp for
// 17-digit inputs, and the golden comparisons are bit-exact, so the tests parse numbers here:
// the decimal is read exactly as a big integer fraction and rounded once, half to even.
using System;
using System.Globalization;
using System.Numerics;

namespace Mml.Tests
{
    internal static class DecimalParser
    {
        private static readonly BigInteger TwoPow52 = BigInteger.One << 52;
        private static readonly BigInteger TwoPow53 = BigInteger.One << 53;

        public static double Parse(string text)
        {
            int i = 0;
            bool negative = false;
            if (i < text.Length && (text[i] == '-' || text[i] == '+'))
                negative = text[i++] == '-';
            BigInteger mantissa = BigInteger.Zero;
            int exponent = 0, digits = 0;
            bool point = false;
            for (; i < text.Length; i++)
            {
                char ch = text[i];
                if (ch >= '0' && ch <= '9')
                {
                    mantissa = mantissa * 10 + (ch - '0');
                    digits++;
                    if (point) exponent--;
                }
                else if (ch == '.' && !point)
                    point = true;
                else
                    break;
            }
            if (digits == 0)
                throw new FormatException("no digits in \"" + text + "\"");
            if (i < text.Length)
            {
                if (text[i] != 'e' && text[i] != 'E')
                    throw new FormatException("bad number \"" + text + "\"");
                exponent += int.Parse(text.Substring(i + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            }
            double magnitude;
            if (mantissa.IsZero)
                magnitude = 0.0;
            else if (exponent > 400)
                magnitude = double.PositiveInfinity;
            else if (exponent < -400 - digits)
                magnitude = 0.0;
            else if (exponent >= 0)
                magnitude = Round(mantissa * BigInteger.Pow(10, exponent), BigInteger.One);
            else
                magnitude = Round(mantissa, BigInteger.Pow(10, -exponent));
            return negative ? -magnitude : magnitude;
        }

        /// <summary>num / den (both positive) rounded to the nearest double, ties to even.</summary>
        private static double Round(BigInteger num, BigInteger den)
        {
            int e = BitLength(num) - BitLength(den) - 53;
            if (e < -1074) e = -1074;
            BigInteger q, r, divisor;
            while (true)
            {
                BigInteger n2 = e >= 0 ? num : num << -e;
                divisor = e >= 0 ? den << e : den;
                q = BigInteger.DivRem(n2, divisor, out r);
                if (q >= TwoPow53) { e++; continue; }
                if (q < TwoPow52 && e > -1074) { e--; continue; }
                break;
            }
            int half = (r * 2).CompareTo(divisor);
            if (half > 0 || (half == 0 && !q.IsEven))
                q += 1;
            if (q == TwoPow53) { q >>= 1; e++; }
            if (e > 971)
                return double.PositiveInfinity;
            // Normal: biased exponent e + 1075 with the implicit bit carried in by q >= 2^52;
            // subnormal: e == -1074 and q < 2^52 are the bits themselves.
            long bits = ((long)(e + 1074) << 52) + (long)q;
            return BitConverter.Int64BitsToDouble(bits);
        }

        private static int BitLength(BigInteger v)
        {
            byte[] bytes = v.ToByteArray();
            int top = bytes.Length - 1;
            while (top > 0 && bytes[top] == 0) top--;
            int bits = top * 8;
            for (int b = bytes[top]; b != 0; b >>= 1) bits++;
            return bits;
        }
    }
}
