// Behaviour of the binding itself: defaults, every reachable error status, nothing written on
// error, offsets, empty batches, disposal, threads, thread count and version.
using System;
using System.Collections.Generic;
using System.Threading;

namespace Mml.Tests
{
    internal static class ApiTests
    {
        // A NaN with a payload mml never produces: compared bit by bit, any write shows.
        private const int CanaryBits = 0x7fc0dead;
        private const long CanaryBits64 = 0x7ff8dead0000beefL;

        private static float[] FloatCanaries(int length)
        {
            float[] a = new float[length];
            float canary = BitConverter.ToSingle(BitConverter.GetBytes(CanaryBits), 0);
            for (int k = 0; k < length; k++) a[k] = canary;
            return a;
        }

        private static double[] DoubleCanaries(int length)
        {
            double[] a = new double[length];
            for (int k = 0; k < length; k++) a[k] = BitConverter.Int64BitsToDouble(CanaryBits64);
            return a;
        }

        private static void Untouched(float[] a, string what)
        {
            for (int k = 0; k < a.Length; k++)
                Assert.True(BitConverter.ToInt32(BitConverter.GetBytes(a[k]), 0) == CanaryBits,
                            what + "[" + k + "] was written on error");
        }

        private static void Untouched(double[] a, string what)
        {
            for (int k = 0; k < a.Length; k++)
                Assert.True(BitConverter.DoubleToInt64Bits(a[k]) == CanaryBits64,
                            what + "[" + k + "] was written on error");
        }

        /// <summary>Deterministic pseudo-random scores in [-2, 2) and targets in [0, c).</summary>
        private static void Data(int n, int c, int seed, out float[] input, out long[] target)
        {
            Random r = new Random(seed);
            input = new float[n * c];
            target = new long[n];
            for (int k = 0; k < input.Length; k++) input[k] = (float)(r.NextDouble() * 4 - 2);
            for (int k = 0; k < n; k++) target[k] = r.Next(c);
        }

        private static double[] Promote(float[] a)
        {
            double[] d = new double[a.Length];
            for (int k = 0; k < a.Length; k++) d[k] = a[k];
            return d;
        }

        private static readonly float[] Example = { 0.1f, 0.2f, 0.4f, 0.8f };

        /// <summary>The arguments of one call of every overload (see <see cref="EveryOverload"/>).</summary>
        private sealed class CallArgs
        {
            public float[] F, FGradOutput, FOutput, FGradInput;
            public double[] D, DGradOutput, DOutput, DGradInput;
            public long[] Target;
            public long Target1D;
            public int N, C, Offset, OutputLength, GradOutputLength, GradInputLength;
        }

        /// <summary>Every Forward, Backward and ForwardBackward overload of the array API, float and
        /// double (24), each called with <paramref name="a"/>, by name.</summary>
        private static List<KeyValuePair<string, Action>> EveryOverload(MultiMarginLoss loss, CallArgs a)
        {
            float[] fg;
            double[] dg;
            int o = a.Offset;
            var calls = new List<KeyValuePair<string, Action>>();
            Action<string, Action> add = (name, call) => calls.Add(new KeyValuePair<string, Action>(name, call));
            add("Forward(float[], long[], int)", () => loss.Forward(a.F, a.Target, a.C));
            add("Forward(float[], long)", () => loss.Forward(a.F, a.Target1D));
            add("Forward(float[], long[], int, float[])", () => loss.Forward(a.F, a.Target, a.C, a.FOutput));
            add("Forward(float[] offsets)", () => loss.Forward(a.F, o, a.Target, o, a.N, a.C, a.FOutput, o, a.OutputLength));
            add("Backward(float[], long[], int, float[])", () => loss.Backward(a.F, a.Target, a.C, a.FGradOutput));
            add("Backward(float[], long, float)", () => loss.Backward(a.F, a.Target1D, 1f));
            add("Backward(float[], long[], int, float[], float[])",
                () => loss.Backward(a.F, a.Target, a.C, a.FGradOutput, a.FGradInput));
            add("Backward(float[] offsets)", () => loss.Backward(a.F, o, a.Target, o, a.N, a.C,
                a.FGradOutput, o, a.GradOutputLength, a.FGradInput, o, a.GradInputLength));
            add("ForwardBackward(float[], long[], int, float[], out float[])",
                () => loss.ForwardBackward(a.F, a.Target, a.C, a.FGradOutput, out fg));
            add("ForwardBackward(float[], long, float, out float[])", () => loss.ForwardBackward(a.F, a.Target1D, 1f, out fg));
            add("ForwardBackward(float[], long[], int, float[], float[], float[])",
                () => loss.ForwardBackward(a.F, a.Target, a.C, a.FGradOutput, a.FOutput, a.FGradInput));
            add("ForwardBackward(float[] offsets)", () => loss.ForwardBackward(a.F, o, a.Target, o, a.N, a.C,
                a.FGradOutput, o, a.GradOutputLength, a.FOutput, o, a.OutputLength, a.FGradInput, o, a.GradInputLength));
            add("Forward(double[], long[], int)", () => loss.Forward(a.D, a.Target, a.C));
            add("Forward(double[], long)", () => loss.Forward(a.D, a.Target1D));
            add("Forward(double[], long[], int, double[])", () => loss.Forward(a.D, a.Target, a.C, a.DOutput));
            add("Forward(double[] offsets)", () => loss.Forward(a.D, o, a.Target, o, a.N, a.C, a.DOutput, o, a.OutputLength));
            add("Backward(double[], long[], int, double[])", () => loss.Backward(a.D, a.Target, a.C, a.DGradOutput));
            add("Backward(double[], long, double)", () => loss.Backward(a.D, a.Target1D, 1.0));
            add("Backward(double[], long[], int, double[], double[])",
                () => loss.Backward(a.D, a.Target, a.C, a.DGradOutput, a.DGradInput));
            add("Backward(double[] offsets)", () => loss.Backward(a.D, o, a.Target, o, a.N, a.C,
                a.DGradOutput, o, a.GradOutputLength, a.DGradInput, o, a.GradInputLength));
            add("ForwardBackward(double[], long[], int, double[], out double[])",
                () => loss.ForwardBackward(a.D, a.Target, a.C, a.DGradOutput, out dg));
            add("ForwardBackward(double[], long, double, out double[])", () => loss.ForwardBackward(a.D, a.Target1D, 1.0, out dg));
            add("ForwardBackward(double[], long[], int, double[], double[], double[])",
                () => loss.ForwardBackward(a.D, a.Target, a.C, a.DGradOutput, a.DOutput, a.DGradInput));
            add("ForwardBackward(double[] offsets)", () => loss.ForwardBackward(a.D, o, a.Target, o, a.N, a.C,
                a.DGradOutput, o, a.GradOutputLength, a.DOutput, o, a.OutputLength, a.DGradInput, o, a.GradInputLength));
            return calls;
        }

        public static void Register()
        {
            Program.Add("test support: the JSON number parser rounds correctly", delegate
            {
                // Expected bits from a correctly rounding parser (CPython's float()).
                string[] texts = { "0.2759547829627991", "0.1", "5e-324", "2.2250738585072011e-308",
                                   "2.2250738585072014e-308", "1.7976931348623157e308", "9007199254740993",
                                   "1e23", "-1.1237496137619019", "2.4703282292062328e-324",
                                   "2.4703282292062327e-324", "1e400", "0" };
                long[] bits = { 0x3fd1a93e40000000L, 0x3fb999999999999aL, 0x1L, 0xfffffffffffffL,
                                0x10000000000000L, 0x7fefffffffffffffL, 0x4340000000000000L,
                                0x44b52d02c7e14af6L, unchecked((long)0xbff1fae0e0000000UL), 0x1L,
                                0x0L, 0x7ff0000000000000L, 0x0L };
                for (int k = 0; k < texts.Length; k++)
                    Assert.Equal(bits[k], BitConverter.DoubleToInt64Bits(DecimalParser.Parse(texts[k])), texts[k]);
            });

            Program.Add("version: library 0.1.0, ABI 1, matches the binding", delegate
            {
                Assert.Equal(MmlLibrary.BindingVersion, MmlLibrary.Version, "mml_version");
                Assert.Equal("0.1.0", MmlLibrary.Version, "mml_version");
                Assert.Equal(1u, MmlLibrary.AbiVersion, "mml_abi_version");
                Assert.True(MmlLibrary.IsCompatible, "IsCompatible");
            });

            Program.Add("status messages come from the library", delegate
            {
                Assert.Equal("ok", MmlException.StatusMessage(Status.Ok), "message of OK");
                Assert.Equal("a target is outside [0, c)", MmlException.StatusMessage(Status.TargetOutOfRange),
                             "message of TARGET_OUT_OF_RANGE");
                Assert.True(MmlException.StatusMessage((Status)99).Length > 0, "unknown codes get a text");
                Assert.Equal(0u, (uint)Status.Ok, "OK");
                Assert.Equal(1u, (uint)Status.NullPointer, "NULL_POINTER");
                Assert.Equal(2u, (uint)Status.InvalidArgument, "INVALID_ARGUMENT");
                Assert.Equal(3u, (uint)Status.ShapeMismatch, "SHAPE_MISMATCH");
                Assert.Equal(4u, (uint)Status.TargetOutOfRange, "TARGET_OUT_OF_RANGE");
                Assert.Equal(5u, (uint)Status.AliasedBuffers, "ALIASED_BUFFERS");
                Assert.Equal(6u, (uint)Status.InternalError, "INTERNAL_ERROR");
                Assert.Equal(7u, (uint)Status.OutOfMemory, "OUT_OF_MEMORY");
            });

            Program.Add("status 7 (MML_STATUS_OUT_OF_MEMORY) becomes Status.OutOfMemory", delegate
            {
                // The library's allocations cannot be made to fail from here: the binding's own
                // status-to-exception mapping is tested instead.
                Assert.Equal("OutOfMemory", ((Status)7).ToString(), "the enum member of 7");
                MmlException e = MmlException.Create(7u, "the weights' copy");
                Assert.Equal(Status.OutOfMemory, e.Status, "status");
                Assert.True(e.Message.EndsWith(": the weights' copy (MML_STATUS_OUT_OF_MEMORY)", StringComparison.Ordinal),
                            "message \"" + e.Message + "\"");
                Assert.True(e.Message.StartsWith(MmlException.StatusMessage(Status.OutOfMemory), StringComparison.Ordinal),
                            "message starts with the library's text: \"" + e.Message + "\"");
                Assert.True(e.Message.Length > 0, "message");
                e = MmlException.Create(Status.OutOfMemory, null);
                Assert.True(e.Message.EndsWith(" (MML_STATUS_OUT_OF_MEMORY)", StringComparison.Ordinal),
                            "message without detail \"" + e.Message + "\"");
                // A code the binding does not know keeps its number.
                e = MmlException.Create(99u, null);
                Assert.Equal((Status)99, e.Status, "unknown status");
                Assert.True(e.Message.EndsWith("(status 99)", StringComparison.Ordinal), "unknown status message \"" + e.Message + "\"");
            });

            Program.Add("defaults are PyTorch's: p 1, margin 1, no weight, mean", delegate
            {
                MultiMarginLossOptions o = new MultiMarginLossOptions();
                Assert.Equal(1, o.P, "options P");
                Assert.Equal(1.0, o.Margin, "options Margin");
                Assert.True(o.Weight == null, "options Weight");
                Assert.Equal(Reduction.Mean, o.Reduction, "options Reduction");
                using (MultiMarginLoss loss = new MultiMarginLoss())
                using (MultiMarginLoss fromOptions = new MultiMarginLoss(o))
                {
                    Assert.Equal(1, loss.P, "P");
                    Assert.Equal(1.0, loss.Margin, "Margin");
                    Assert.True(loss.Weight == null, "Weight");
                    Assert.Equal(Reduction.Mean, loss.Reduction, "Reduction");
                    // PyTorch's documented example: x = [0.1, 0.2, 0.4, 0.8], y = 3 gives 0.3250.
                    float v = loss.Forward(Example, 3);
                    Assert.True(Math.Abs(v - 0.325f) < 1e-6f, "documented example gives 0.325, got " + v);
                    Assert.Equal(v, fromOptions.Forward(Example, 3), "options loss agrees");
                    Assert.Equal(v, loss.Forward(Example, new long[] { 3 }, 4)[0], "2-D call agrees with 1-D");
                }
            });

            Program.Add("weights are copied at creation", delegate
            {
                float[] w = { 1f, 2f, 3f, 4f };
                using (MultiMarginLoss loss = new MultiMarginLoss(weight: w, reduction: Reduction.Sum))
                {
                    float before = loss.Forward(Example, 3);
                    w[3] = 100f;
                    Assert.Equal(before, loss.Forward(Example, 3), "loss after changing the caller's array");
                    Assert.Equal(4f, loss.Weight[3], "Weight property");
                    float[] copy = loss.Weight;
                    copy[0] = 9f;
                    Assert.Equal(1f, loss.Weight[0], "Weight returns a copy");
                    using (MultiMarginLoss unweighted = new MultiMarginLoss(reduction: Reduction.Sum))
                        Assert.Equal(4f * unweighted.Forward(Example, 3), before, "weight[y] = 4 scales the loss");
                }
            });

            Program.Add("error: bad p (0, 3, -1) is INVALID_ARGUMENT", delegate
            {
                foreach (int p in new[] { 0, 3, -1 })
                {
                    int q = p;
                    Assert.Status(Status.InvalidArgument, delegate { new MultiMarginLoss(q); }, "p = " + q,
                                  "p = " + q, "must be 1 or 2", "MML_STATUS_INVALID_ARGUMENT");
                }
            });

            Program.Add("error: bad reduction is INVALID_ARGUMENT", delegate
            {
                Assert.Status(Status.InvalidArgument, delegate { new MultiMarginLoss(reduction: (Reduction)7); },
                              "reduction 7", "reduction = 7");
                Assert.Status(Status.InvalidArgument,
                              delegate { new MultiMarginLoss(new MultiMarginLossOptions { Reduction = (Reduction)3 }); },
                              "reduction 3 via options", "reduction = 3");
            });

            Program.Add("error: c = 0 is INVALID_ARGUMENT, nothing written", delegate
            {
                using (MultiMarginLoss loss = new MultiMarginLoss(reduction: Reduction.Sum))
                {
                    float[] output = FloatCanaries(1);
                    Assert.Status(Status.InvalidArgument,
                                  delegate { loss.Forward(new float[0], new long[] { 0 }, 0, output); }, "c = 0", "classes c must be at least 1");
                    Untouched(output, "output");
                    Assert.Status(Status.InvalidArgument, delegate { loss.Forward(new float[0], 0L); }, "1-D, c = 0");
                }
            });

            Program.Add("error: output length mismatch is SHAPE_MISMATCH, nothing written", delegate
            {
                float[] input; long[] target;
                Data(4, 5, 1, out input, out target);
                using (MultiMarginLoss mean = new MultiMarginLoss())
                using (MultiMarginLoss none = new MultiMarginLoss(reduction: Reduction.None))
                {
                    float[] output = FloatCanaries(2);
                    Assert.Status(Status.ShapeMismatch, delegate { mean.Forward(input, target, 5, output); },
                                  "mean with 2 outputs", "output has 2 elements, expected 1");
                    Untouched(output, "output");
                    float[] three = FloatCanaries(3);
                    Assert.Status(Status.ShapeMismatch, delegate { none.Forward(input, target, 5, three); },
                                  "none with 3 outputs", "output has 3 elements, expected 4");
                    Untouched(three, "output");
                    double[] d = DoubleCanaries(5);
                    Assert.Status(Status.ShapeMismatch, delegate { none.Forward(Promote(input), target, 5, d); },
                                  "f64 none with 5 outputs", "output has 5 elements, expected 4");
                    Untouched(d, "f64 output");
                    // Offsets: the given length is passed on, the library rejects it.
                    float[] big = FloatCanaries(10);
                    Assert.Status(Status.ShapeMismatch,
                                  delegate { mean.Forward(input, 0, target, 0, 4, 5, big, 2, 0); },
                                  "mean with an empty output region", "output has 0 elements, expected 1");
                    Untouched(big, "output");
                }
            });

            Program.Add("error: grad_output and grad_input lengths are SHAPE_MISMATCH, nothing written", delegate
            {
                float[] input; long[] target;
                Data(3, 4, 2, out input, out target);
                using (MultiMarginLoss none = new MultiMarginLoss(reduction: Reduction.None))
                using (MultiMarginLoss sum = new MultiMarginLoss(reduction: Reduction.Sum))
                {
                    float[] grad = FloatCanaries(12);
                    Assert.Status(Status.ShapeMismatch, delegate { none.Backward(input, target, 4, new float[] { 1f }, grad); },
                                  "none with one grad_output", "grad_output has 1 elements, expected 3");
                    Assert.Status(Status.ShapeMismatch, delegate { sum.Backward(input, target, 4, new float[] { 1f, 1f }, grad); },
                                  "sum with two grad_outputs", "grad_output has 2 elements, expected 1");
                    Untouched(grad, "gradInput");
                    float[] shortGrad = FloatCanaries(11);
                    Assert.Status(Status.ShapeMismatch, delegate { sum.Backward(input, target, 4, new float[] { 1f }, shortGrad); },
                                  "grad_input of 11", "grad_input has 11 elements, expected 12");
                    Untouched(shortGrad, "gradInput");
                    float[] output = FloatCanaries(1);
                    float[] longGrad = FloatCanaries(13);
                    Assert.Status(Status.ShapeMismatch,
                                  delegate { sum.ForwardBackward(input, target, 4, new float[] { 1f }, output, longGrad); },
                                  "fused, grad_input of 13", "grad_input has 13 elements");
                    Untouched(output, "output");
                    Untouched(longGrad, "gradInput");
                    double[] dOut = DoubleCanaries(1);
                    double[] dGrad = DoubleCanaries(12);
                    Assert.Status(Status.ShapeMismatch,
                                  delegate { none.ForwardBackward(Promote(input), target, 4, new double[] { 1 }, DoubleCanaries(3), dGrad); },
                                  "f64 fused, one grad_output", "grad_output has 1 elements, expected 3");
                    Untouched(dGrad, "f64 gradInput");
                    Untouched(dOut, "f64 output");
                }
            });

            Program.Add("error: n·c above int.MaxValue is INVALID_ARGUMENT in every overload, nothing written", delegate
            {
                using (MultiMarginLoss loss = new MultiMarginLoss())
                {
                    CallArgs a = new CallArgs
                    {
                        F = new float[12], D = new double[12], Target = new long[3], N = 3, C = int.MaxValue,
                        FGradOutput = new float[] { 1f }, DGradOutput = new double[] { 1 },
                        FOutput = FloatCanaries(1), DOutput = DoubleCanaries(1),
                        FGradInput = FloatCanaries(12), DGradInput = DoubleCanaries(12),
                        OutputLength = 1, GradOutputLength = 1, GradInputLength = 12,
                    };
                    int checkedCalls = 0;
                    foreach (KeyValuePair<string, Action> call in EveryOverload(loss, a))
                    {
                        if (call.Key.Contains(", long)") || call.Key.Contains(", long, "))
                            continue;  // the 1-D overloads: c is the scores' length, n is 1
                        Assert.Status(Status.InvalidArgument, call.Value, call.Key,
                                      "n·c = 3·2147483647 = 6442450941 elements do not fit in an array",
                                      "MML_STATUS_INVALID_ARGUMENT");
                        checkedCalls++;
                    }
                    Assert.Equal(18, checkedCalls, "overloads checked");
                    Untouched(a.FOutput, "output");
                    Untouched(a.DOutput, "f64 output");
                    Untouched(a.FGradInput, "gradInput");
                    Untouched(a.DGradInput, "f64 gradInput");
                    // Large n times large c, through the offsets overload.
                    Assert.Status(Status.InvalidArgument,
                                  delegate { loss.Forward(new float[4], 0, new long[4], 0, 65536, 65536, a.FOutput, 0, 1); },
                                  "65536·65536", "n·c = 65536·65536");
                }
            });

            Program.Add("error: input not n·c long is SHAPE_MISMATCH (checked before the call)", delegate
            {
                using (MultiMarginLoss loss = new MultiMarginLoss())
                {
                    Assert.Status(Status.ShapeMismatch, delegate { loss.Forward(new float[7], new long[] { 0, 1 }, 4); },
                                  "7 scores for 2x4", "input has 7 elements, expected n·c = 2·4 = 8");
                    Assert.Status(Status.ShapeMismatch, delegate { loss.Backward(new double[9], new long[] { 0, 1 }, 4, new double[] { 1 }); },
                                  "9 scores for 2x4 (f64)", "input has 9 elements");
                    // With offsets the array must still hold n·c scores: never read past its end.
                    float[] output = FloatCanaries(1);
                    Assert.Status(Status.ShapeMismatch,
                                  delegate { loss.Forward(new float[8], 1, new long[] { 0, 1 }, 0, 2, 4, output, 0, 1); },
                                  "offset 1 in 8 scores for 2x4", "input needs n·c = 8 elements from offset 1");
                    Assert.Status(Status.ShapeMismatch,
                                  delegate { loss.Forward(new float[8], 0, new long[] { 0, 1 }, 1, 2, 4, output, 0, 1); },
                                  "targets from offset 1", "target needs n = 2 elements from offset 1");
                    Untouched(output, "output");
                }
            });

            Program.Add("error: weight length mismatch is SHAPE_MISMATCH, nothing written", delegate
            {
                float[] input; long[] target;
                Data(2, 4, 3, out input, out target);
                using (MultiMarginLoss loss = new MultiMarginLoss(weight: new float[] { 1f, 2f, 3f }))
                {
                    float[] output = FloatCanaries(1);
                    Assert.Status(Status.ShapeMismatch, delegate { loss.Forward(input, target, 4, output); },
                                  "3 weights, 4 classes", "weight has");
                    Untouched(output, "output");
                    double[] grad = DoubleCanaries(8);
                    Assert.Status(Status.ShapeMismatch,
                                  delegate { loss.Backward(Promote(input), target, 4, new double[] { 1 }, grad); },
                                  "3 weights, 4 classes (f64 backward)", "weight has");
                    Untouched(grad, "gradInput");
                }
            });

            Program.Add("error: negative target is TARGET_OUT_OF_RANGE naming the row, nothing written", delegate
            {
                float[] input; long[] target;
                Data(5, 4, 4, out input, out target);
                target[2] = -1;
                using (MultiMarginLoss loss = new MultiMarginLoss(reduction: Reduction.None))
                {
                    float[] output = FloatCanaries(5);
                    Assert.Status(Status.TargetOutOfRange, delegate { loss.Forward(input, target, 4, output); },
                                  "forward", "target[2] = -1 is outside [0, 4)", "MML_STATUS_TARGET_OUT_OF_RANGE");
                    Untouched(output, "output");
                    float[] grad = FloatCanaries(20);
                    Assert.Status(Status.TargetOutOfRange,
                                  delegate { loss.ForwardBackward(input, target, 4, new float[5], output, grad); },
                                  "fused", "target[2] = -1");
                    Untouched(output, "output");
                    Untouched(grad, "gradInput");
                    Assert.Status(Status.TargetOutOfRange, delegate { loss.Forward(Example, -3L); }, "1-D", "target[0] = -3");
                }
            });

            Program.Add("error: target >= c is TARGET_OUT_OF_RANGE naming the row, nothing written", delegate
            {
                float[] input; long[] target;
                Data(5, 4, 5, out input, out target);
                target[1] = 4;
                target[3] = long.MaxValue;
                using (MultiMarginLoss loss = new MultiMarginLoss(p: 2, reduction: Reduction.Sum))
                {
                    float[] grad = FloatCanaries(20);
                    Assert.Status(Status.TargetOutOfRange,
                                  delegate { loss.Backward(input, target, 4, new float[] { 1f }, grad); },
                                  "backward", "target[1] = 4 is outside [0, 4)");
                    Untouched(grad, "gradInput");
                    double[] dOut = DoubleCanaries(1);
                    target[1] = 0;
                    Assert.Status(Status.TargetOutOfRange, delegate { loss.Forward(Promote(input), target, 4, dOut); },
                                  "f64 forward", "target[3] = 9223372036854775807");
                    Untouched(dOut, "f64 output");
                    // With offsets the reported row is relative to the first target passed.
                    long[] shifted = new long[7];
                    Array.Copy(target, 0, shifted, 2, 5);
                    float[] output = FloatCanaries(1);
                    Assert.Status(Status.TargetOutOfRange,
                                  delegate { loss.Forward(input, 0, shifted, 2, 5, 4, output, 0, 1); },
                                  "targets at an offset", "target[3] = 9223372036854775807");
                    Untouched(output, "output");
                }
            });

            Program.Add("error: output aliasing an input is ALIASED_BUFFERS, nothing written", delegate
            {
                float[] input; long[] target;
                Data(3, 4, 6, out input, out target);
                float[] saved = (float[])input.Clone();
                using (MultiMarginLoss loss = new MultiMarginLoss(reduction: Reduction.None))
                using (MultiMarginLoss mean = new MultiMarginLoss())
                {
                    // The same array as input and gradient.
                    Assert.Status(Status.AliasedBuffers,
                                  delegate { loss.Backward(input, target, 4, new float[] { 1f, 1f, 1f }, input); },
                                  "gradInput is input", "MML_STATUS_ALIASED_BUFFERS");
                    Assert.Bits(saved, input, "input after the aliased call");
                    // Loss written into the scores it is computed from.
                    Assert.Status(Status.AliasedBuffers,
                                  delegate { mean.Forward(input, 0, target, 0, 3, 4, input, 11, 1); },
                                  "output inside input");
                    Assert.Bits(saved, input, "input after the aliased call");
                    // Output overlapping grad_output, and output overlapping grad_input.
                    float[] shared = FloatCanaries(20);
                    float[] gradOut = { 1f, 1f, 1f };
                    Assert.Status(Status.AliasedBuffers,
                                  delegate { loss.ForwardBackward(input, 0, target, 0, 3, 4, gradOut, 0, 3, gradOut, 0, 3, shared, 0, 12); },
                                  "output is grad_output");
                    Assert.Status(Status.AliasedBuffers,
                                  delegate { loss.ForwardBackward(input, 0, target, 0, 3, 4, gradOut, 0, 3, shared, 10, 3, shared, 0, 12); },
                                  "output overlaps grad_input");
                    Untouched(shared, "shared output");
                    Assert.Bits(new[] { 1f, 1f, 1f }, gradOut, "grad_output after the aliased call");
                    // Adjacent but disjoint regions of one array are fine.
                    loss.ForwardBackward(input, 0, target, 0, 3, 4, gradOut, 0, 3, shared, 12, 3, shared, 0, 12);
                    float[] expectedGrad;
                    float[] expected = loss.ForwardBackward(input, target, 4, gradOut, out expectedGrad);
                    float[] got = new float[3];
                    Array.Copy(shared, 12, got, 0, 3);
                    Assert.Bits(expected, got, "loss in the shared array");
                    float[] gotGrad = new float[12];
                    Array.Copy(shared, 0, gotGrad, 0, 12);
                    Assert.Bits(expectedGrad, gotGrad, "gradient in the shared array");
                    // f64
                    double[] d = Promote(input);
                    double[] dSaved = (double[])d.Clone();
                    Assert.Status(Status.AliasedBuffers,
                                  delegate { loss.Backward(d, target, 4, new double[] { 1, 1, 1 }, d); }, "f64 gradInput is input");
                    Assert.Bits(dSaved, d, "f64 input after the aliased call");
                }
            });

            Program.Add("error: bad offsets and lengths are argument exceptions, nothing written", delegate
            {
                float[] input; long[] target;
                Data(2, 3, 7, out input, out target);
                using (MultiMarginLoss loss = new MultiMarginLoss())
                {
                    float[] output = FloatCanaries(2);
                    Assert.Throws<ArgumentOutOfRangeException>(
                        delegate { loss.Forward(input, 0, target, 0, 2, 3, output, 1, 2); }, "region past the end");
                    Assert.Throws<ArgumentOutOfRangeException>(
                        delegate { loss.Forward(input, 0, target, 0, 2, 3, output, -1, 1); }, "negative offset");
                    Assert.Throws<ArgumentOutOfRangeException>(
                        delegate { loss.Forward(input, 0, target, 0, 2, 3, output, 0, -1); }, "negative length");
                    Assert.Throws<ArgumentOutOfRangeException>(
                        delegate { loss.Forward(input, 0, target, 0, -1, 3, output, 0, 1); }, "negative n");
                    Assert.Throws<ArgumentOutOfRangeException>(
                        delegate { loss.Forward(input, target, -3); }, "negative c");
                    Assert.Throws<ArgumentNullException>(delegate { loss.Forward((float[])null, target, 3); }, "null input");
                    Assert.Throws<ArgumentNullException>(delegate { loss.Forward(input, (long[])null, 3); }, "null target");
                    Assert.Throws<ArgumentNullException>(delegate { loss.Forward(input, target, 3, null); }, "null output");
                    Assert.Throws<ArgumentNullException>(delegate { loss.Backward(input, target, 3, null); }, "null grad_output");
                    Untouched(output, "output");
                }
            });

            Program.Add("offsets: results land in the region, neighbours untouched", delegate
            {
                float[] input; long[] target;
                Data(6, 5, 8, out input, out target);
                using (MultiMarginLoss loss = new MultiMarginLoss(p: 2, margin: 0.5, reduction: Reduction.None))
                {
                    float[] big = new float[40];
                    Array.Copy(input, 0, big, 7, 30);
                    long[] bigTarget = new long[9];
                    Array.Copy(target, 0, bigTarget, 3, 6);
                    float[] output = FloatCanaries(10);
                    loss.Forward(big, 7, bigTarget, 3, 6, 5, output, 2, 6);
                    float[] expected = loss.Forward(input, target, 5);
                    float[] got = new float[6];
                    Array.Copy(output, 2, got, 0, 6);
                    Assert.Bits(expected, got, "loss region");
                    Untouched(new[] { output[0], output[1], output[8], output[9] }, "outside the region");
                    float[] go = { 1f, -2f, 0.5f, 3f, 0f, 1f };
                    float[] grad = FloatCanaries(34);
                    loss.Backward(big, 7, bigTarget, 3, 6, 5, go, 0, 6, grad, 4, 30);
                    float[] expectedGrad = loss.Backward(input, target, 5, go);
                    float[] gotGrad = new float[30];
                    Array.Copy(grad, 4, gotGrad, 0, 30);
                    Assert.Bits(expectedGrad, gotGrad, "gradient region");
                    Untouched(new[] { grad[0], grad[1], grad[2], grad[3] }, "before the gradient region");
                }
            });

            Program.Add("empty batch: sum 0, mean NaN, none empty; empty arrays pass as NULL", delegate
            {
                using (MultiMarginLoss sum = new MultiMarginLoss(reduction: Reduction.Sum))
                using (MultiMarginLoss mean = new MultiMarginLoss(reduction: Reduction.Mean))
                using (MultiMarginLoss none = new MultiMarginLoss(reduction: Reduction.None))
                {
                    Assert.Bits(new[] { 0f }, sum.Forward(new float[0], new long[0], 3), "sum");
                    Assert.True(float.IsNaN(mean.Forward(new float[0], new long[0], 3)[0]), "mean is NaN");
                    Assert.Equal(0, none.Forward(new float[0], new long[0], 3).Length, "none output length");
                    Assert.Equal(0, sum.Backward(new float[0], new long[0], 3, new float[] { 1f }).Length, "gradient length");
                    Assert.Equal(0, none.Backward(new double[0], new long[0], 3, new double[0]).Length, "f64 gradient length");
                    double[] g;
                    Assert.Bits(new[] { 0.0 }, sum.ForwardBackward(new double[0], new long[0], 3, new double[] { 1 }, out g), "f64 fused sum");
                }
            });

            Program.Add("fused call equals forward then backward (float and double, all options)", delegate
            {
                float[] input; long[] target;
                Data(33, 7, 9, out input, out target);
                input[5] = float.NaN;
                input[20] = float.PositiveInfinity;
                double[] dInput = Promote(input);
                float[] weight = { 0.5f, 1f, 2f, 0.25f, 3f, 1.5f, 1f };
                foreach (Reduction red in new[] { Reduction.None, Reduction.Mean, Reduction.Sum })
                    foreach (int p in new[] { 1, 2 })
                        foreach (float[] w in new[] { null, weight })
                            using (MultiMarginLoss loss = new MultiMarginLoss(p, 0.75, w, red))
                            {
                                int m = loss.OutputLength(33);
                                float[] go = new float[m];
                                for (int k = 0; k < m; k++) go[k] = 0.5f + k;
                                float[] grad;
                                float[] l = loss.ForwardBackward(input, target, 7, go, out grad);
                                string what = red + " p" + p + (w == null ? "" : " weighted");
                                Assert.Bits(loss.Forward(input, target, 7), l, what + " loss");
                                Assert.Bits(loss.Backward(input, target, 7, go), grad, what + " gradient");
                                double[] dgo = Promote(go);
                                double[] dgrad;
                                double[] dl = loss.ForwardBackward(dInput, target, 7, dgo, out dgrad);
                                Assert.Bits(loss.Forward(dInput, target, 7), dl, what + " f64 loss");
                                Assert.Bits(loss.Backward(dInput, target, 7, dgo), dgrad, what + " f64 gradient");
                            }
            });

            Program.Add("dispose: idempotent, handle closed, later use throws ObjectDisposedException", delegate
            {
                MultiMarginLoss loss = new MultiMarginLoss();
                MmlLossHandle h = loss.Handle;
                Assert.True(!h.IsInvalid, "a created handle is valid");
                Assert.True(!h.IsClosed, "a live handle is open");
                Assert.True(!loss.IsDisposed, "IsDisposed before");
                loss.Dispose();
                Assert.True(h.IsClosed, "handle closed after Dispose");
                Assert.True(loss.IsDisposed, "IsDisposed after");
                loss.Dispose();
                ((IDisposable)loss).Dispose();
                Assert.True(new MmlLossHandle().IsInvalid, "a fresh handle is invalid");
                // The examples: a null input after Dispose.
                Assert.Throws<ObjectDisposedException>(delegate { loss.Forward((float[])null, new long[4], 5); },
                                                       "null input after Dispose");
                Assert.Throws<ObjectDisposedException>(delegate { loss.Forward((double[])null, new long[4], 5); },
                                                       "null f64 input after Dispose");
                // Every overload, with good arguments and with arguments wrong in every way the
                // binding checks itself: ObjectDisposedException comes first.
                CallArgs good = new CallArgs
                {
                    F = Example, D = Promote(Example), Target = new long[] { 3 }, Target1D = 3, N = 1, C = 4,
                    FGradOutput = new float[] { 1f }, DGradOutput = new double[] { 1 },
                    FOutput = FloatCanaries(1), DOutput = DoubleCanaries(1),
                    FGradInput = FloatCanaries(4), DGradInput = DoubleCanaries(4),
                    OutputLength = 1, GradOutputLength = 1, GradInputLength = 4,
                };
                CallArgs nulls = new CallArgs { N = 4, C = 5, Target1D = 3 };
                CallArgs negative = new CallArgs
                {
                    F = new float[3], D = new double[3], Target = new long[4], Target1D = -1, N = -1, C = -1, Offset = -1,
                    FGradOutput = new float[0], DGradOutput = new double[0], FOutput = FloatCanaries(1),
                    DOutput = DoubleCanaries(1), FGradInput = FloatCanaries(2), DGradInput = DoubleCanaries(2),
                    OutputLength = -1, GradOutputLength = -1, GradInputLength = -1,
                };
                CallArgs shapes = new CallArgs
                {
                    F = new float[3], D = new double[3], Target = new long[] { 0, 1, 2, 3 }, Target1D = 9, N = 4, C = 5,
                    Offset = 7, FGradOutput = new float[0], DGradOutput = new double[0], FOutput = FloatCanaries(1),
                    DOutput = DoubleCanaries(1), FGradInput = FloatCanaries(2), DGradInput = DoubleCanaries(2),
                    OutputLength = 5, GradOutputLength = 5, GradInputLength = 50,
                };
                CallArgs overflow = new CallArgs
                {
                    F = new float[3], D = new double[3], Target = new long[3], N = 3, C = int.MaxValue,
                    FGradOutput = new float[] { 1f }, DGradOutput = new double[] { 1 }, FOutput = FloatCanaries(1),
                    DOutput = DoubleCanaries(1), FGradInput = FloatCanaries(3), DGradInput = DoubleCanaries(3),
                    OutputLength = 1, GradOutputLength = 1, GradInputLength = 3,
                };
                foreach (KeyValuePair<string, CallArgs> set in new[] {
                    new KeyValuePair<string, CallArgs>("good arguments", good),
                    new KeyValuePair<string, CallArgs>("null arrays", nulls),
                    new KeyValuePair<string, CallArgs>("negative sizes and offsets", negative),
                    new KeyValuePair<string, CallArgs>("wrong lengths and offsets", shapes),
                    new KeyValuePair<string, CallArgs>("n·c overflow", overflow) })
                {
                    List<KeyValuePair<string, Action>> calls = EveryOverload(loss, set.Value);
                    Assert.Equal(24, calls.Count, "overloads");
                    foreach (KeyValuePair<string, Action> call in calls)
                        Assert.Throws<ObjectDisposedException>(call.Value, set.Key + ": " + call.Key);
                }
                foreach (CallArgs a in new[] { good, negative, shapes, overflow })
                {
                    Untouched(a.FOutput, "output");
                    Untouched(a.DOutput, "f64 output");
                    Untouched(a.FGradInput, "gradInput");
                    Untouched(a.DGradInput, "f64 gradInput");
                }
                // The configuration stays readable.
                Assert.Equal(1, loss.P, "P after Dispose");
                Assert.Equal(Reduction.Mean, loss.Reduction, "Reduction after Dispose");
                Assert.Equal(1, loss.OutputLength(5), "OutputLength after Dispose");
                float[] grad = FloatCanaries(4);
                Assert.Throws<ObjectDisposedException>(delegate { loss.Forward(Example, 3); }, "1-D forward");
                Assert.Throws<ObjectDisposedException>(delegate { loss.Forward(Example, new long[] { 3 }, 4); }, "forward");
                Assert.Throws<ObjectDisposedException>(delegate { loss.Backward(Example, new long[] { 3 }, 4, new float[] { 1f }, grad); }, "backward");
                float[] g;
                Assert.Throws<ObjectDisposedException>(delegate { loss.ForwardBackward(Example, new long[] { 3 }, 4, new float[] { 1f }, out g); }, "fused");
                Assert.Throws<ObjectDisposedException>(delegate { loss.Forward(Promote(Example), new long[] { 3 }, 4); }, "f64 forward");
                Assert.Throws<ObjectDisposedException>(delegate { loss.Backward(Promote(Example), 3, 1.0); }, "f64 backward");
                Untouched(grad, "gradInput");
                using (MultiMarginLoss scoped = new MultiMarginLoss())
                {
                    h = scoped.Handle;
                    scoped.Forward(Example, 3);
                }
                Assert.True(h.IsClosed, "using closes the handle");
            });

            Program.Add("finalization: undisposed losses are freed by the GC without harm", delegate
            {
                for (int k = 0; k < 2000; k++)
                    new MultiMarginLoss(p: 1 + k % 2).Forward(Example, 3);
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                using (MultiMarginLoss loss = new MultiMarginLoss())
                    Assert.True(Math.Abs(loss.Forward(Example, 3) - 0.325f) < 1e-6f, "still computes");
            });

            Program.Add("thread count: set, get, limit, restore default", delegate
            {
                int original = MmlLibrary.NumThreads;
                Assert.True(original >= 1, "default thread count >= 1, got " + original);
                try
                {
                    MmlLibrary.NumThreads = 3;
                    Assert.Equal(3, MmlLibrary.NumThreads, "after setting 3");
                    MmlLibrary.SetNumThreads(1);
                    Assert.Equal(1, MmlLibrary.GetNumThreads(), "after setting 1");
                    MmlLibrary.NumThreads = MmlLibrary.MaxThreads;
                    Assert.Equal(MmlLibrary.MaxThreads, MmlLibrary.NumThreads, "the maximum is accepted");
                    MmlLibrary.NumThreads = 2;
                    Assert.Status(Status.InvalidArgument, delegate { MmlLibrary.NumThreads = MmlLibrary.MaxThreads + 1; },
                                  "above the limit", "thread count 1025 is above MML_MAX_THREADS = 1024");
                    Assert.Equal(2, MmlLibrary.NumThreads, "unchanged after a rejected value");
                    Assert.Throws<ArgumentOutOfRangeException>(delegate { MmlLibrary.NumThreads = -1; }, "negative");
                    MmlLibrary.NumThreads = 0;
                    Assert.True(MmlLibrary.NumThreads >= 1, "0 restores a default >= 1");
                }
                finally
                {
                    MmlLibrary.NumThreads = 0;
                }
            });

            Program.Add("determinism: identical bits with 1, 2 and 3 library threads", delegate
            {
                float[] input; long[] target;
                Data(4096, 37, 10, out input, out target);
                using (MultiMarginLoss loss = new MultiMarginLoss(p: 2, reduction: Reduction.Mean))
                {
                    float[] refLoss = null, refGrad = null;
                    try
                    {
                        foreach (int t in new[] { 1, 2, 3 })
                        {
                            MmlLibrary.NumThreads = t;
                            float[] grad;
                            float[] l = loss.ForwardBackward(input, target, 37, new float[] { 1f }, out grad);
                            if (refLoss == null) { refLoss = l; refGrad = grad; continue; }
                            Assert.Bits(refLoss, l, t + " threads: loss");
                            Assert.Bits(refGrad, grad, t + " threads: gradient");
                        }
                    }
                    finally
                    {
                        MmlLibrary.NumThreads = 0;
                    }
                }
            });

            Program.Add("threads: 8 threads share one loss and get identical bits", delegate
            {
                const int threads = 8, rounds = 6, n = 2048, c = 19;
                float[] input; long[] target;
                Data(n, c, 11, out input, out target);
                double[] dInput = Promote(input);
                float[] go = new float[n];
                for (int k = 0; k < n; k++) go[k] = 1f + k % 3;
                using (MultiMarginLoss loss = new MultiMarginLoss(p: 1, margin: 0.9, reduction: Reduction.None))
                {
                    float[] refGrad;
                    float[] refLoss = loss.ForwardBackward(input, target, c, go, out refGrad);
                    double[] refD = loss.Forward(dInput, target, c);
                    string[] errors = new string[threads];
                    Thread[] workers = new Thread[threads];
                    for (int t = 0; t < threads; t++)
                    {
                        int id = t;
                        workers[t] = new Thread(delegate()
                        {
                            try
                            {
                                for (int r = 0; r < rounds; r++)
                                {
                                    float[] grad;
                                    float[] l = loss.ForwardBackward(input, target, c, go, out grad);
                                    Assert.Bits(refLoss, l, "thread " + id + " loss");
                                    Assert.Bits(refGrad, grad, "thread " + id + " gradient");
                                    Assert.Bits(refD, loss.Forward(dInput, target, c), "thread " + id + " f64 loss");
                                    if (id % 2 == 0)
                                        Assert.Bits(refGrad, loss.Backward(input, target, c, go), "thread " + id + " backward");
                                }
                            }
                            catch (Exception e)
                            {
                                errors[id] = e.Message;
                            }
                        });
                        workers[t].Start();
                    }
                    foreach (Thread w in workers)
                        w.Join();
                    for (int t = 0; t < threads; t++)
                        Assert.True(errors[t] == null, errors[t]);
                }
            });
        }
    }
}
