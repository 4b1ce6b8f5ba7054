// The typed overloads: int[] targets beside long[], and 16-bit scores (BFloat16, Float16) with long[]
// or int[] targets. Scores are n·c values, row-major, n = target.Length. The loss and gradOutput are
// float (double for double scores); the gradient is of the scores' type (for 16-bit scores the float
// gradient rounded to nearest even, as PyTorch's autocast returns it) or, into a float[], the float
// gradient itself. Every one goes through the typed entry points with mml's error detail.
using System;
using System.Runtime.InteropServices;

namespace Mml
{
    public sealed partial class MultiMarginLoss
    {
        // ---- float[] scores, int[] targets ----

        /// <summary>The loss: n values for <see cref="Reduction.None"/>, else one.</summary>
        public float[] Forward(float[] input, int[] target, int classes)
        {
            float[] output = new float[OutputLength(Count(input, target, classes))];
            Typed(NativeMethods.OpForward, input, NativeMethods.DtypeFloat32, target, NativeMethods.DtypeInt32, classes, null, output, null, NativeMethods.DtypeFloat32);
            return output;
        }

        /// <summary>Writes the loss into <paramref name="output"/>, whose whole length is passed on.</summary>
        public void Forward(float[] input, int[] target, int classes, float[] output)
        {
            Typed(NativeMethods.OpForward, input, NativeMethods.DtypeFloat32, target, NativeMethods.DtypeInt32, classes, null, Required(output, "output"), null, NativeMethods.DtypeFloat32);
        }

        /// <summary>The gradient with respect to <paramref name="input"/> (n·c values of its type).</summary>
        public float[] Backward(float[] input, int[] target, int classes, float[] gradOutput)
        {
            float[] gradInput = new float[Count(input, target, classes) * classes];
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeFloat32, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"), null,
                  gradInput, NativeMethods.DtypeFloat32);
            return gradInput;
        }

        /// <summary>The loss, and its gradient (n·c values of the scores' type) in <paramref name="gradInput"/>.</summary>
        public float[] ForwardBackward(float[] input, int[] target, int classes, float[] gradOutput, out float[] gradInput)
        {
            int n = Count(input, target, classes);
            float[] output = new float[OutputLength(n)];
            float[] grad = new float[n * classes];
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeFloat32, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"),
                  output, grad, NativeMethods.DtypeFloat32);
            gradInput = grad;
            return output;
        }

        /// <summary>Writes the gradient into <paramref name="gradInput"/> (exactly n·c values).</summary>
        public void Backward(float[] input, int[] target, int classes, float[] gradOutput, float[] gradInput)
        {
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeFloat32, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"), null,
                  Required(gradInput, "gradInput"), NativeMethods.DtypeFloat32);
        }

        /// <summary>Writes the loss and its gradient (exactly n·c values) in one pass.</summary>
        public void ForwardBackward(float[] input, int[] target, int classes, float[] gradOutput, float[] output,
                                    float[] gradInput)
        {
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeFloat32, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"),
                  Required(output, "output"), Required(gradInput, "gradInput"), NativeMethods.DtypeFloat32);
        }

        // ---- double[] scores, int[] targets ----

        /// <summary>The loss: n values for <see cref="Reduction.None"/>, else one.</summary>
        public double[] Forward(double[] input, int[] target, int classes)
        {
            double[] output = new double[OutputLength(Count(input, target, classes))];
            Typed(NativeMethods.OpForward, input, NativeMethods.DtypeFloat64, target, NativeMethods.DtypeInt32, classes, null, output, null, NativeMethods.DtypeFloat64);
            return output;
        }

        /// <summary>Writes the loss into <paramref name="output"/>, whose whole length is passed on.</summary>
        public void Forward(double[] input, int[] target, int classes, double[] output)
        {
            Typed(NativeMethods.OpForward, input, NativeMethods.DtypeFloat64, target, NativeMethods.DtypeInt32, classes, null, Required(output, "output"), null, NativeMethods.DtypeFloat64);
        }

        /// <summary>The gradient with respect to <paramref name="input"/> (n·c values of its type).</summary>
        public double[] Backward(double[] input, int[] target, int classes, double[] gradOutput)
        {
            double[] gradInput = new double[Count(input, target, classes) * classes];
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeFloat64, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"), null,
                  gradInput, NativeMethods.DtypeFloat64);
            return gradInput;
        }

        /// <summary>The loss, and its gradient (n·c values of the scores' type) in <paramref name="gradInput"/>.</summary>
        public double[] ForwardBackward(double[] input, int[] target, int classes, double[] gradOutput, out double[] gradInput)
        {
            int n = Count(input, target, classes);
            double[] output = new double[OutputLength(n)];
            double[] grad = new double[n * classes];
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeFloat64, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"),
                  output, grad, NativeMethods.DtypeFloat64);
            gradInput = grad;
            return output;
        }

        /// <summary>Writes the gradient into <paramref name="gradInput"/> (exactly n·c values).</summary>
        public void Backward(double[] input, int[] target, int classes, double[] gradOutput, double[] gradInput)
        {
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeFloat64, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"), null,
                  Required(gradInput, "gradInput"), NativeMethods.DtypeFloat64);
        }

        /// <summary>Writes the loss and its gradient (exactly n·c values) in one pass.</summary>
        public void ForwardBackward(double[] input, int[] target, int classes, double[] gradOutput, double[] output,
                                    double[] gradInput)
        {
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeFloat64, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"),
                  Required(output, "output"), Required(gradInput, "gradInput"), NativeMethods.DtypeFloat64);
        }

        // ---- BFloat16[] scores, long[] targets ----

        /// <summary>The loss: n values for <see cref="Reduction.None"/>, else one.</summary>
        public float[] Forward(BFloat16[] input, long[] target, int classes)
        {
            float[] output = new float[OutputLength(Count(input, target, classes))];
            Typed(NativeMethods.OpForward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt64, classes, null, output, null, NativeMethods.DtypeBFloat16);
            return output;
        }

        /// <summary>Writes the loss into <paramref name="output"/>, whose whole length is passed on.</summary>
        public void Forward(BFloat16[] input, long[] target, int classes, float[] output)
        {
            Typed(NativeMethods.OpForward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt64, classes, null, Required(output, "output"), null, NativeMethods.DtypeBFloat16);
        }

        /// <summary>The gradient with respect to <paramref name="input"/> (n·c values of its type).</summary>
        public BFloat16[] Backward(BFloat16[] input, long[] target, int classes, float[] gradOutput)
        {
            BFloat16[] gradInput = new BFloat16[Count(input, target, classes) * classes];
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt64, classes, Required(gradOutput, "gradOutput"), null,
                  gradInput, NativeMethods.DtypeBFloat16);
            return gradInput;
        }

        /// <summary>The loss, and its gradient (n·c values of the scores' type) in <paramref name="gradInput"/>.</summary>
        public float[] ForwardBackward(BFloat16[] input, long[] target, int classes, float[] gradOutput, out BFloat16[] gradInput)
        {
            int n = Count(input, target, classes);
            float[] output = new float[OutputLength(n)];
            BFloat16[] grad = new BFloat16[n * classes];
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt64, classes, Required(gradOutput, "gradOutput"),
                  output, grad, NativeMethods.DtypeBFloat16);
            gradInput = grad;
            return output;
        }

        /// <summary>Writes the gradient into <paramref name="gradInput"/> (exactly n·c values).</summary>
        public void Backward(BFloat16[] input, long[] target, int classes, float[] gradOutput, BFloat16[] gradInput)
        {
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt64, classes, Required(gradOutput, "gradOutput"), null,
                  Required(gradInput, "gradInput"), NativeMethods.DtypeBFloat16);
        }

        /// <summary>Writes the loss and its gradient (exactly n·c values) in one pass.</summary>
        public void ForwardBackward(BFloat16[] input, long[] target, int classes, float[] gradOutput, float[] output,
                                    BFloat16[] gradInput)
        {
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt64, classes, Required(gradOutput, "gradOutput"),
                  Required(output, "output"), Required(gradInput, "gradInput"), NativeMethods.DtypeBFloat16);
        }

        /// <summary>Writes the gradient into <paramref name="gradInput"/> (exactly n·c values).</summary>
        public void Backward(BFloat16[] input, long[] target, int classes, float[] gradOutput, float[] gradInput)
        {
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt64, classes, Required(gradOutput, "gradOutput"), null,
                  Required(gradInput, "gradInput"), NativeMethods.DtypeFloat32);
        }

        /// <summary>Writes the loss and its gradient (exactly n·c values) in one pass.</summary>
        public void ForwardBackward(BFloat16[] input, long[] target, int classes, float[] gradOutput, float[] output,
                                    float[] gradInput)
        {
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt64, classes, Required(gradOutput, "gradOutput"),
                  Required(output, "output"), Required(gradInput, "gradInput"), NativeMethods.DtypeFloat32);
        }

        // ---- BFloat16[] scores, int[] targets ----

        /// <summary>The loss: n values for <see cref="Reduction.None"/>, else one.</summary>
        public float[] Forward(BFloat16[] input, int[] target, int classes)
        {
            float[] output = new float[OutputLength(Count(input, target, classes))];
            Typed(NativeMethods.OpForward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt32, classes, null, output, null, NativeMethods.DtypeBFloat16);
            return output;
        }

        /// <summary>Writes the loss into <paramref name="output"/>, whose whole length is passed on.</summary>
        public void Forward(BFloat16[] input, int[] target, int classes, float[] output)
        {
            Typed(NativeMethods.OpForward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt32, classes, null, Required(output, "output"), null, NativeMethods.DtypeBFloat16);
        }

        /// <summary>The gradient with respect to <paramref name="input"/> (n·c values of its type).</summary>
        public BFloat16[] Backward(BFloat16[] input, int[] target, int classes, float[] gradOutput)
        {
            BFloat16[] gradInput = new BFloat16[Count(input, target, classes) * classes];
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"), null,
                  gradInput, NativeMethods.DtypeBFloat16);
            return gradInput;
        }

        /// <summary>The loss, and its gradient (n·c values of the scores' type) in <paramref name="gradInput"/>.</summary>
        public float[] ForwardBackward(BFloat16[] input, int[] target, int classes, float[] gradOutput, out BFloat16[] gradInput)
        {
            int n = Count(input, target, classes);
            float[] output = new float[OutputLength(n)];
            BFloat16[] grad = new BFloat16[n * classes];
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"),
                  output, grad, NativeMethods.DtypeBFloat16);
            gradInput = grad;
            return output;
        }

        /// <summary>Writes the gradient into <paramref name="gradInput"/> (exactly n·c values).</summary>
        public void Backward(BFloat16[] input, int[] target, int classes, float[] gradOutput, BFloat16[] gradInput)
        {
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"), null,
                  Required(gradInput, "gradInput"), NativeMethods.DtypeBFloat16);
        }

        /// <summary>Writes the loss and its gradient (exactly n·c values) in one pass.</summary>
        public void ForwardBackward(BFloat16[] input, int[] target, int classes, float[] gradOutput, float[] output,
                                    BFloat16[] gradInput)
        {
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"),
                  Required(output, "output"), Required(gradInput, "gradInput"), NativeMethods.DtypeBFloat16);
        }

        /// <summary>Writes the gradient into <paramref name="gradInput"/> (exactly n·c values).</summary>
        public void Backward(BFloat16[] input, int[] target, int classes, float[] gradOutput, float[] gradInput)
        {
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"), null,
                  Required(gradInput, "gradInput"), NativeMethods.DtypeFloat32);
        }

        /// <summary>Writes the loss and its gradient (exactly n·c values) in one pass.</summary>
        public void ForwardBackward(BFloat16[] input, int[] target, int classes, float[] gradOutput, float[] output,
                                    float[] gradInput)
        {
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeBFloat16, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"),
                  Required(output, "output"), Required(gradInput, "gradInput"), NativeMethods.DtypeFloat32);
        }

        // ---- Float16[] scores, long[] targets ----

        /// <summary>The loss: n values for <see cref="Reduction.None"/>, else one.</summary>
        public float[] Forward(Float16[] input, long[] target, int classes)
        {
            float[] output = new float[OutputLength(Count(input, target, classes))];
            Typed(NativeMethods.OpForward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt64, classes, null, output, null, NativeMethods.DtypeFloat16);
            return output;
        }

        /// <summary>Writes the loss into <paramref name="output"/>, whose whole length is passed on.</summary>
        public void Forward(Float16[] input, long[] target, int classes, float[] output)
        {
            Typed(NativeMethods.OpForward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt64, classes, null, Required(output, "output"), null, NativeMethods.DtypeFloat16);
        }

        /// <summary>The gradient with respect to <paramref name="input"/> (n·c values of its type).</summary>
        public Float16[] Backward(Float16[] input, long[] target, int classes, float[] gradOutput)
        {
            Float16[] gradInput = new Float16[Count(input, target, classes) * classes];
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt64, classes, Required(gradOutput, "gradOutput"), null,
                  gradInput, NativeMethods.DtypeFloat16);
            return gradInput;
        }

        /// <summary>The loss, and its gradient (n·c values of the scores' type) in <paramref name="gradInput"/>.</summary>
        public float[] ForwardBackward(Float16[] input, long[] target, int classes, float[] gradOutput, out Float16[] gradInput)
        {
            int n = Count(input, target, classes);
            float[] output = new float[OutputLength(n)];
            Float16[] grad = new Float16[n * classes];
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt64, classes, Required(gradOutput, "gradOutput"),
                  output, grad, NativeMethods.DtypeFloat16);
            gradInput = grad;
            return output;
        }

        /// <summary>Writes the gradient into <paramref name="gradInput"/> (exactly n·c values).</summary>
        public void Backward(Float16[] input, long[] target, int classes, float[] gradOutput, Float16[] gradInput)
        {
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt64, classes, Required(gradOutput, "gradOutput"), null,
                  Required(gradInput, "gradInput"), NativeMethods.DtypeFloat16);
        }

        /// <summary>Writes the loss and its gradient (exactly n·c values) in one pass.</summary>
        public void ForwardBackward(Float16[] input, long[] target, int classes, float[] gradOutput, float[] output,
                                    Float16[] gradInput)
        {
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt64, classes, Required(gradOutput, "gradOutput"),
                  Required(output, "output"), Required(gradInput, "gradInput"), NativeMethods.DtypeFloat16);
        }

        /// <summary>Writes the gradient into <paramref name="gradInput"/> (exactly n·c values).</summary>
        public void Backward(Float16[] input, long[] target, int classes, float[] gradOutput, float[] gradInput)
        {
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt64, classes, Required(gradOutput, "gradOutput"), null,
                  Required(gradInput, "gradInput"), NativeMethods.DtypeFloat32);
        }

        /// <summary>Writes the loss and its gradient (exactly n·c values) in one pass.</summary>
        public void ForwardBackward(Float16[] input, long[] target, int classes, float[] gradOutput, float[] output,
                                    float[] gradInput)
        {
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt64, classes, Required(gradOutput, "gradOutput"),
                  Required(output, "output"), Required(gradInput, "gradInput"), NativeMethods.DtypeFloat32);
        }

        // ---- Float16[] scores, int[] targets ----

        /// <summary>The loss: n values for <see cref="Reduction.None"/>, else one.</summary>
        public float[] Forward(Float16[] input, int[] target, int classes)
        {
            float[] output = new float[OutputLength(Count(input, target, classes))];
            Typed(NativeMethods.OpForward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt32, classes, null, output, null, NativeMethods.DtypeFloat16);
            return output;
        }

        /// <summary>Writes the loss into <paramref name="output"/>, whose whole length is passed on.</summary>
        public void Forward(Float16[] input, int[] target, int classes, float[] output)
        {
            Typed(NativeMethods.OpForward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt32, classes, null, Required(output, "output"), null, NativeMethods.DtypeFloat16);
        }

        /// <summary>The gradient with respect to <paramref name="input"/> (n·c values of its type).</summary>
        public Float16[] Backward(Float16[] input, int[] target, int classes, float[] gradOutput)
        {
            Float16[] gradInput = new Float16[Count(input, target, classes) * classes];
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"), null,
                  gradInput, NativeMethods.DtypeFloat16);
            return gradInput;
        }

        /// <summary>The loss, and its gradient (n·c values of the scores' type) in <paramref name="gradInput"/>.</summary>
        public float[] ForwardBackward(Float16[] input, int[] target, int classes, float[] gradOutput, out Float16[] gradInput)
        {
            int n = Count(input, target, classes);
            float[] output = new float[OutputLength(n)];
            Float16[] grad = new Float16[n * classes];
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"),
                  output, grad, NativeMethods.DtypeFloat16);
            gradInput = grad;
            return output;
        }

        /// <summary>Writes the gradient into <paramref name="gradInput"/> (exactly n·c values).</summary>
        public void Backward(Float16[] input, int[] target, int classes, float[] gradOutput, Float16[] gradInput)
        {
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"), null,
                  Required(gradInput, "gradInput"), NativeMethods.DtypeFloat16);
        }

        /// <summary>Writes the loss and its gradient (exactly n·c values) in one pass.</summary>
        public void ForwardBackward(Float16[] input, int[] target, int classes, float[] gradOutput, float[] output,
                                    Float16[] gradInput)
        {
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"),
                  Required(output, "output"), Required(gradInput, "gradInput"), NativeMethods.DtypeFloat16);
        }

        /// <summary>Writes the gradient into <paramref name="gradInput"/> (exactly n·c values).</summary>
        public void Backward(Float16[] input, int[] target, int classes, float[] gradOutput, float[] gradInput)
        {
            Typed(NativeMethods.OpBackward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"), null,
                  Required(gradInput, "gradInput"), NativeMethods.DtypeFloat32);
        }

        /// <summary>Writes the loss and its gradient (exactly n·c values) in one pass.</summary>
        public void ForwardBackward(Float16[] input, int[] target, int classes, float[] gradOutput, float[] output,
                                    float[] gradInput)
        {
            Typed(NativeMethods.OpForwardBackward, input, NativeMethods.DtypeFloat16, target, NativeMethods.DtypeInt32, classes, Required(gradOutput, "gradOutput"),
                  Required(output, "output"), Required(gradInput, "gradInput"), NativeMethods.DtypeFloat32);
        }

        // ---- the typed core ----

        private static T Required<T>(T array, string name) where T : class
        {
            if (array == null)
                throw new ArgumentNullException(name);
            return array;
        }

        /// <summary>n = target.Length, after checking that input holds exactly n·c scores.</summary>
        private int Count(Array input, Array target, int classes)
        {
            ThrowIfDisposed();
            if (target == null)
                throw new ArgumentNullException("target");
            ExactInput(input, target.Length, classes);
            return target.Length;
        }

        /// <summary>Pins the arrays (an empty one is passed as NULL) and calls <see cref="Invoke"/>.</summary>
        private unsafe void Typed(uint op, Array input, uint dtype, Array target, uint targetDtype, int classes,
                                  Array gradOutput, Array output, Array gradInput, uint gradDtype)
        {
            int n = Count(input, target, classes);
            GCHandle[] pins = new GCHandle[5];
            Array[] arrays = { input, target, gradOutput, output, gradInput };
            void*[] at = new void*[5];
            try
            {
                for (int i = 0; i < arrays.Length; i++)
                {
                    if (arrays[i] == null || arrays[i].Length == 0)
                        continue;
                    pins[i] = GCHandle.Alloc(arrays[i], GCHandleType.Pinned);
                    at[i] = (void*)pins[i].AddrOfPinnedObject();
                }
                Invoke(op, dtype, at[0], targetDtype, at[1], n, classes,
                       at[2], gradOutput == null ? 0 : gradOutput.Length, at[3], output == null ? 0 : output.Length,
                       gradDtype, at[4], gradInput == null ? 0 : gradInput.Length);
            }
            finally
            {
                foreach (GCHandle pin in pins)
                    if (pin.IsAllocated)
                        pin.Free();
            }
        }
    }
}
