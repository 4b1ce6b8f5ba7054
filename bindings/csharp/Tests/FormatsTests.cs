// Every case of tests/data/formats.json: bfloat16 and float16 scores (BFloat16[], Float16[]) with the
// float loss, the float gradient and the gradient rounded to the scores' type; float64 scores with
// double weights (MultiMarginLoss.WithWeight64); each with long[] and int[] targets, bit for bit. And
// errors carrying mml's own detail.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace Mml.Tests
{
    internal static class FormatsTests
    {
        private sealed class Case
        {
            public string Name, Dtype;
            public int N, C, P;
            public double Margin;
            public double[] Weight;
            public Reduction Reduction;
            public long[] Target;
            public int[] Target32;
            public ushort[] InputBits, GradInputBits;
            public float[] InputF32, GradOutputF32, ForwardF32, GradInputF32;
            public double[] InputF64, GradOutputF64, ForwardF64, GradInputF64;
        }

        public static void Register(string path)
        {
            if (path == null || !File.Exists(path))
            {
                Program.Add("formats cases", delegate
                {
                    Assert.True(false, "formats file not found at '" + (path ?? "(no path given)")
                                + "'; it lies beside multi_margin_loss.json");
                });
                return;
            }
            List<Case> cases = Load(path);
            Program.Add("formats file: 51 bfloat16, 51 float16 and 36 float64 cases", delegate
            {
                int bf = 0, h = 0, d = 0;
                foreach (Case c in cases)
                {
                    if (c.Dtype == "bfloat16") bf++;
                    else if (c.Dtype == "float16") h++;
                    else d++;
                }
                Assert.Equal(51, bf, "bfloat16 cases");
                Assert.Equal(51, h, "float16 cases");
                Assert.Equal(36, d, "float64 cases");
            });
            foreach (Case k in cases)
            {
                Case c = k;
                if (c.Dtype == "bfloat16")
                    Program.Add("formats " + c.Name, delegate { CheckBFloat16(c); });
                else if (c.Dtype == "float16")
                    Program.Add("formats " + c.Name, delegate { CheckFloat16(c); });
                else
                    Program.Add("formats " + c.Name, delegate { CheckDouble(c); });
            }
            Program.Add("BFloat16/Float16: every non-NaN pattern round-trips, ties go to even", RoundTrips);
            Program.Add("typed errors carry mml's own detail", Errors);
        }

        private static ushort[] Bits16(object v)
        {
            long[] l = Json.Longs(v);
            ushort[] a = new ushort[l.Length];
            for (int k = 0; k < a.Length; k++) a[k] = checked((ushort)l[k]);
            return a;
        }

        private static List<Case> Load(string path)
        {
            List<Case> cases = new List<Case>();
            foreach (object o in Json.List(JsonReader.Parse(File.ReadAllText(path))))
            {
                Dictionary<string, object> d = (Dictionary<string, object>)o;
                Case c = new Case();
                c.Name = (string)d["name"];
                c.Dtype = (string)d["dtype"];
                c.N = Json.Int(d["n"]);
                c.C = Json.Int(d["c"]);
                c.P = Json.Int(d["p"]);
                c.Margin = Json.ToDouble(d["margin"]);
                c.Weight = d["weight"] == null ? null : Json.Doubles(d["weight"]);
                switch ((string)d["reduction"])
                {
                    case "none": c.Reduction = Reduction.None; break;
                    case "mean": c.Reduction = Reduction.Mean; break;
                    case "sum": c.Reduction = Reduction.Sum; break;
                    default: throw new FormatException(c.Name + ": unknown reduction");
                }
                c.Target = Json.Longs(d["target"]);
                c.Target32 = new int[c.Target.Length];
                for (int k = 0; k < c.Target.Length; k++) c.Target32[k] = checked((int)c.Target[k]);
                if (c.Dtype == "float64")
                {
                    c.InputF64 = Json.Doubles(d["input"]);
                    c.GradOutputF64 = Json.Doubles(d["grad_output"]);
                    c.ForwardF64 = Json.Doubles(d["forward"]);
                    c.GradInputF64 = Json.Doubles(d["grad_input_f64"]);
                }
                else
                {
                    c.InputBits = Bits16(d["input_bits"]);
                    c.GradInputBits = Bits16(d["grad_input_bits"]);
                    c.InputF32 = Json.Singles(d["input"]);
                    c.GradOutputF32 = Json.Singles(d["grad_output"]);
                    c.ForwardF32 = Json.Singles(d["forward"]);
                    c.GradInputF32 = Json.Singles(d["grad_input_f32"]);
                    if (c.Weight != null)
                        foreach (double w in c.Weight)
                            Assert.True((double)(float)w == w, c.Name + ": a half case's weight is a float");
                }
                int inputs = c.InputBits != null ? c.InputBits.Length : c.InputF64.Length;
                if (inputs != c.N * c.C || c.Target.Length != c.N)
                    throw new FormatException(c.Name + ": inconsistent shape");
                cases.Add(c);
            }
            return cases;
        }

        private static MultiMarginLoss Loss(Case c)
        {
            if (c.Dtype == "float64")
                return MultiMarginLoss.WithWeight64(c.P, c.Margin, c.Weight, c.Reduction);
            float[] w = null;
            if (c.Weight != null)
            {
                w = new float[c.Weight.Length];
                for (int k = 0; k < w.Length; k++) w[k] = (float)c.Weight[k];
            }
            return new MultiMarginLoss(c.P, c.Margin, w, c.Reduction);
        }

        private static void Bits16(ushort[] expected, ushort[] actual, string what)
        {
            Assert.Equal(expected.Length, actual.Length, what + " length");
            for (int k = 0; k < expected.Length; k++)
                if (expected[k] != actual[k])
                    throw new TestFailure(string.Format(CultureInfo.InvariantCulture,
                        "{0}[{1}]: expected 0x{2:x4}, got 0x{3:x4}", what, k, expected[k], actual[k]));
        }

        private static ushort[] BitsOf(BFloat16[] a)
        {
            ushort[] b = new ushort[a.Length];
            for (int k = 0; k < a.Length; k++) b[k] = a[k].Bits;
            return b;
        }

        private static ushort[] BitsOf(Float16[] a)
        {
            ushort[] b = new ushort[a.Length];
            for (int k = 0; k < a.Length; k++) b[k] = a[k].Bits;
            return b;
        }

        private static void CheckBFloat16(Case c)
        {
            BFloat16[] input = new BFloat16[c.InputBits.Length];
            for (int k = 0; k < input.Length; k++)
            {
                input[k] = BFloat16.FromBits(c.InputBits[k]);
                Assert.Bits(new[] { c.InputF32[k] }, new[] { input[k].ToSingle() }, "widened score " + k);
            }
            for (int k = 0; k < c.GradInputF32.Length; k++)
                Assert.Equal(c.GradInputBits[k], BFloat16.FromSingle(c.GradInputF32[k]).Bits, "rounded gradient " + k);
            using (MultiMarginLoss loss = Loss(c))
            {
                int nc = c.N * c.C;
                // long[] targets.
                Assert.Bits(c.ForwardF32, loss.Forward(input, c.Target, c.C), "loss");
                Bits16(c.GradInputBits, BitsOf(loss.Backward(input, c.Target, c.C, c.GradOutputF32)), "gradient");
                float[] grad32 = new float[nc];
                loss.Backward(input, c.Target, c.C, c.GradOutputF32, grad32);
                Assert.Bits(c.GradInputF32, grad32, "float gradient");
                BFloat16[] grad;
                Assert.Bits(c.ForwardF32, loss.ForwardBackward(input, c.Target, c.C, c.GradOutputF32, out grad), "fused loss");
                Bits16(c.GradInputBits, BitsOf(grad), "fused gradient");
                // int[] targets: the same bits.
                Assert.Bits(c.ForwardF32, loss.Forward(input, c.Target32, c.C), "int32 loss");
                float[] output = new float[c.ForwardF32.Length];
                BFloat16[] grad16 = new BFloat16[nc];
                loss.ForwardBackward(input, c.Target32, c.C, c.GradOutputF32, output, grad16);
                Assert.Bits(c.ForwardF32, output, "int32 fused loss");
                Bits16(c.GradInputBits, BitsOf(grad16), "int32 fused gradient");
                grad32 = new float[nc];
                loss.ForwardBackward(input, c.Target32, c.C, c.GradOutputF32, output, grad32);
                Assert.Bits(c.GradInputF32, grad32, "int32 fused float gradient");
            }
        }

        private static void CheckFloat16(Case c)
        {
            Float16[] input = new Float16[c.InputBits.Length];
            for (int k = 0; k < input.Length; k++)
            {
                input[k] = Float16.FromBits(c.InputBits[k]);
                Assert.Bits(new[] { c.InputF32[k] }, new[] { input[k].ToSingle() }, "widened score " + k);
            }
            for (int k = 0; k < c.GradInputF32.Length; k++)
                Assert.Equal(c.GradInputBits[k], Float16.FromSingle(c.GradInputF32[k]).Bits, "rounded gradient " + k);
            using (MultiMarginLoss loss = Loss(c))
            {
                int nc = c.N * c.C;
                Assert.Bits(c.ForwardF32, loss.Forward(input, c.Target, c.C), "loss");
                Bits16(c.GradInputBits, BitsOf(loss.Backward(input, c.Target32, c.C, c.GradOutputF32)), "gradient");
                float[] grad32 = new float[nc];
                loss.Backward(input, c.Target32, c.C, c.GradOutputF32, grad32);
                Assert.Bits(c.GradInputF32, grad32, "float gradient");
                Float16[] grad;
                Assert.Bits(c.ForwardF32, loss.ForwardBackward(input, c.Target32, c.C, c.GradOutputF32, out grad), "int32 fused loss");
                Bits16(c.GradInputBits, BitsOf(grad), "int32 fused gradient");
                float[] output = new float[c.ForwardF32.Length];
                Float16[] grad16 = new Float16[nc];
                loss.ForwardBackward(input, c.Target, c.C, c.GradOutputF32, output, grad16);
                Assert.Bits(c.ForwardF32, output, "fused loss");
                Bits16(c.GradInputBits, BitsOf(grad16), "fused gradient");
                loss.Backward(input, c.Target, c.C, c.GradOutputF32, grad16);
                Bits16(c.GradInputBits, BitsOf(grad16), "gradient into Float16[]");
            }
        }

        private static void CheckDouble(Case c)
        {
            using (MultiMarginLoss loss = Loss(c))
            {
                int nc = c.N * c.C;
                Assert.Bits(c.ForwardF64, loss.Forward(c.InputF64, c.Target, c.C), "loss");
                Assert.Bits(c.GradInputF64, loss.Backward(c.InputF64, c.Target, c.C, c.GradOutputF64), "gradient");
                double[] grad;
                Assert.Bits(c.ForwardF64, loss.ForwardBackward(c.InputF64, c.Target32, c.C, c.GradOutputF64, out grad),
                            "int32 fused loss");
                Assert.Bits(c.GradInputF64, grad, "int32 fused gradient");
                Assert.Bits(c.ForwardF64, loss.Forward(c.InputF64, c.Target32, c.C), "int32 loss");
                double[] gi = new double[nc];
                loss.Backward(c.InputF64, c.Target32, c.C, c.GradOutputF64, gi);
                Assert.Bits(c.GradInputF64, gi, "int32 gradient");
            }
        }

        private static void RoundTrips()
        {
            for (int b = 0; b <= 0xFFFF; b++)
            {
                ushort u = (ushort)b;
                if ((u & 0x7FFF) <= 0x7F80)
                    Assert.Equal(u, BFloat16.FromSingle(new BFloat16(u).ToSingle()).Bits, "bfloat16 round trip");
                if ((u & 0x7FFF) <= 0x7C00)
                    Assert.Equal(u, Float16.FromSingle(new Float16(u).ToSingle()).Bits, "float16 round trip");
            }
            Assert.Equal((ushort)0x3F80, BFloat16.FromSingle(1.00390625f).Bits, "bfloat16 tie down to even");
            Assert.Equal((ushort)0x3F82, BFloat16.FromSingle(1.01171875f).Bits, "bfloat16 tie up to even");
            Assert.Equal((ushort)0x7C00, Float16.FromSingle(65520f).Bits, "float16 overflow");
            Assert.Equal((ushort)0x7BFF, Float16.FromSingle(65519f).Bits, "float16 largest");
            Assert.Equal((ushort)0x8001, Float16.FromSingle(-3e-8f).Bits, "float16 smallest subnormal");
            Assert.Equal((ushort)0x7FC0, ((BFloat16)float.NaN).Bits, "bfloat16 NaN");
        }

        private static void Errors()
        {
            using (MultiMarginLoss loss = new MultiMarginLoss())
            {
                BFloat16[] input = new BFloat16[6];
                float[] output = { 42f };
                MmlException e = Assert.Status(Status.TargetOutOfRange,
                    delegate { loss.Forward(input, new[] { 0, 7 }, 3, output); },
                    "int32 target 7 of 3 classes", "target[1] = 7 is outside [0, 3)");
                Assert.Equal(MmlArgument.Target, e.Argument, "argument");
                Assert.Equal(1UL, e.Row, "row");
                Assert.Equal(7L, e.Value, "value");
                Assert.Equal("target[1] = 7 is outside [0, 3)", e.LibraryMessage, "mml's message");
                Assert.Equal(42f, output[0], "output untouched");
                e = Assert.Status(Status.ShapeMismatch,
                    delegate { loss.Forward(new float[6], new[] { 0, 1 }, 3, new float[2]); },
                    "two outputs for mean", "output has 2 elements, expected 1");
                Assert.Equal(MmlArgument.Output, e.Argument, "argument");
                Assert.Equal(1UL, e.Expected, "expected");
                Assert.Equal(2UL, e.Actual, "actual");
                e = Assert.Status(Status.ShapeMismatch,
                    delegate { loss.Backward(input, new long[] { 0, 1 }, 3, new[] { 1f }, new float[5]); },
                    "five gradients for 2x3", "grad_input has 5 elements, expected 6");
                Assert.Equal(MmlArgument.GradInput, e.Argument, "argument");
            }
            using (MultiMarginLoss weighted = new MultiMarginLoss(weight: new[] { 1f, 2f }))
            {
                MmlException e = Assert.Status(Status.ShapeMismatch,
                    delegate { weighted.Forward(new float[6], new long[] { 0, 1 }, 3); },
                    "two weights, three classes (untyped call, mml_explain)", "weight has");
                Assert.Equal(MmlArgument.Weight, e.Argument, "argument");
            }
            Assert.Status(Status.InvalidArgument,
                delegate { new MultiMarginLossOptions(); new MultiMarginLoss(new MultiMarginLossOptions { Weight = new[] { 1f }, Weight64 = new[] { 1.0 } }); },
                "both weights", "not both");
        }
    }
}
