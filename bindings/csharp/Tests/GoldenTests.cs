// Every case of tests/data/multi_margin_loss.json, bit-exact through the float API (against
// the *_torch_f32 fields) and the double API (against the *_f64 fields, inputs promoted).
using System;
using System.Collections.Generic;
using System.IO;

namespace Mml.Tests
{
    internal static class GoldenTests
    {
        private sealed class Case
        {
            public string Name;
            public int N, C, P;
            public bool OneD;
            public double Margin;
            public float[] Weight;
            public Reduction Reduction;
            public float[] Input, GradOutput, ForwardF32, GradInputF32;
            public long[] Target;
            public double[] ForwardF64, GradInputF64;
        }

        public static void Register(string path)
        {
            if (path == null || !File.Exists(path))
            {
                Program.Add("golden cases", delegate
                {
                    Assert.True(false, "golden file not found at '" + (path ?? "(no path given)")
                                + "'; pass the path of multi_margin_loss.json as the first argument");
                });
                return;
            }
            List<Case> cases = Load(path);
            Program.Add("golden file: " + cases.Count + " cases parsed, every float32 field exact", delegate
            {
                Assert.True(cases.Count > 0, "the golden file has no cases");
            });
            foreach (Case k in cases)
            {
                Case c = k;
                Program.Add("golden f32 " + c.Name, delegate { CheckSingle(c); });
                Program.Add("golden f64 " + c.Name, delegate { CheckDouble(c); });
            }
        }

        private static List<Case> Load(string path)
        {
            List<Case> cases = new List<Case>();
            foreach (object o in Json.List(JsonReader.Parse(File.ReadAllText(path))))
            {
                Dictionary<string, object> d = (Dictionary<string, object>)o;
                Case c = new Case();
                c.Name = (string)d["name"];
                c.N = Json.Int(d["n"]);
                c.C = Json.Int(d["c"]);
                c.P = Json.Int(d["p"]);
                c.OneD = (bool)d["one_d"];
                c.Margin = Json.ToDouble(d["margin"]);
                c.Weight = d["weight"] == null ? null : Json.Singles(d["weight"]);
                switch ((string)d["reduction"])
                {
                    case "none": c.Reduction = Reduction.None; break;
                    case "mean": c.Reduction = Reduction.Mean; break;
                    case "sum": c.Reduction = Reduction.Sum; break;
                    default: throw new FormatException(c.Name + ": unknown reduction");
                }
                c.Input = Json.Singles(d["input"]);
                c.Target = Json.Longs(d["target"]);
                c.GradOutput = Json.Singles(d["grad_output"]);
                c.ForwardF32 = Json.Singles(d["forward_torch_f32"]);
                c.GradInputF32 = Json.Singles(d["grad_input_torch_f32"]);
                c.ForwardF64 = Json.Doubles(d["forward_f64"]);
                c.GradInputF64 = Json.Doubles(d["grad_input_f64"]);
                if (c.Input.Length != c.N * c.C || c.Target.Length != c.N)
                    throw new FormatException(c.Name + ": inconsistent shape");
                cases.Add(c);
            }
            return cases;
        }

        private static void CheckSingle(Case c)
        {
            using (MultiMarginLoss loss = new MultiMarginLoss(c.P, c.Margin, c.Weight, c.Reduction))
            {
                Assert.Bits(c.ForwardF32, loss.Forward(c.Input, c.Target, c.C), "forward");
                Assert.Bits(c.GradInputF32, loss.Backward(c.Input, c.Target, c.C, c.GradOutput), "backward");
                float[] grad;
                Assert.Bits(c.ForwardF32, loss.ForwardBackward(c.Input, c.Target, c.C, c.GradOutput, out grad),
                            "fused loss");
                Assert.Bits(c.GradInputF32, grad, "fused gradient");

                // Into caller arrays at offsets, with canaries around every written region.
                const int pad = 3;
                float[] input = Padded(c.Input, pad);
                long[] target = new long[c.Target.Length + 2];
                Array.Copy(c.Target, 0, target, 2, c.Target.Length);
                float[] gradOut = Padded(c.GradOutput, pad);
                float[] output = Canaries(c.ForwardF32.Length + 2 * pad);
                float[] gradIn = Canaries(c.GradInputF32.Length + 2 * pad);
                loss.ForwardBackward(input, pad, target, 2, c.N, c.C, gradOut, pad, c.GradOutput.Length,
                                     output, pad, c.ForwardF32.Length, gradIn, pad, c.GradInputF32.Length);
                Assert.Bits(Padded(c.ForwardF32, pad, Canary), output, "fused loss at an offset");
                Assert.Bits(Padded(c.GradInputF32, pad, Canary), gradIn, "fused gradient at an offset");

                if (c.OneD)
                {
                    Assert.Equal(1, c.N, "one_d case has n = 1");
                    Assert.Bits(c.ForwardF32, new[] { loss.Forward(c.Input, c.Target[0]) }, "1-D forward");
                    Assert.Bits(c.GradInputF32, loss.Backward(c.Input, c.Target[0], c.GradOutput[0]), "1-D backward");
                    float[] g1;
                    float l1 = loss.ForwardBackward(c.Input, c.Target[0], c.GradOutput[0], out g1);
                    Assert.Bits(c.ForwardF32, new[] { l1 }, "1-D fused loss");
                    Assert.Bits(c.GradInputF32, g1, "1-D fused gradient");
                }
            }
        }

        private static void CheckDouble(Case c)
        {
            double[] input = Promote(c.Input);
            double[] gradOutput = Promote(c.GradOutput);
            using (MultiMarginLoss loss = new MultiMarginLoss(c.P, c.Margin, c.Weight, c.Reduction))
            {
                Assert.Bits(c.ForwardF64, loss.Forward(input, c.Target, c.C), "forward");
                Assert.Bits(c.GradInputF64, loss.Backward(input, c.Target, c.C, gradOutput), "backward");
                double[] output = new double[c.ForwardF64.Length];
                double[] grad = new double[c.GradInputF64.Length];
                loss.ForwardBackward(input, c.Target, c.C, gradOutput, output, grad);
                Assert.Bits(c.ForwardF64, output, "fused loss");
                Assert.Bits(c.GradInputF64, grad, "fused gradient");
                if (c.OneD)
                {
                    Assert.Bits(c.ForwardF64, new[] { loss.Forward(input, c.Target[0]) }, "1-D forward");
                    Assert.Bits(c.GradInputF64, loss.Backward(input, c.Target[0], gradOutput[0]), "1-D backward");
                }
            }
        }

        // Finite, so that the NaN-tolerant comparison still checks these elements bit by bit.
        internal const float Canary = -7777.25f;

        private static float[] Canaries(int length)
        {
            float[] a = new float[length];
            for (int k = 0; k < length; k++) a[k] = Canary;
            return a;
        }

        private static float[] Padded(float[] values, int pad, float fill = 12345.0f)
        {
            float[] a = new float[values.Length + 2 * pad];
            for (int k = 0; k < a.Length; k++) a[k] = fill;
            Array.Copy(values, 0, a, pad, values.Length);
            return a;
        }

        private static double[] Promote(float[] values)
        {
            double[] a = new double[values.Length];
            for (int k = 0; k < a.Length; k++) a[k] = values[k];
            return a;
        }
    }
}
