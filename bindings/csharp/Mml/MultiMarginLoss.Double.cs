// The float64 entry points: a mirror of MultiMarginLoss.Single.cs with double for float and the
// *_f64 native functions (the handle's float weights are promoted to double, the margin is used
// as is). Keep the two in step.
using System;

namespace Mml
{
    public sealed partial class MultiMarginLoss
    {
        // ---- forward ----

        /// <summary>The loss of <c>target.Length</c> samples of <paramref name="classes"/> scores:
        /// n values for <see cref="Reduction.None"/>, else one.</summary>
        public double[] Forward(double[] input, long[] target, int classes)
        {
            ThrowIfDisposed();
            int n = TargetCount(target);
            ExactInput(input, n, classes);
            double[] output = new double[OutputLength(n)];
            Forward(input, 0, target, 0, n, classes, output, 0, output.Length);
            return output;
        }

        /// <summary>The loss of one sample: 1-D <paramref name="scores"/> (c = its length) and a scalar target.</summary>
        public double Forward(double[] scores, long target)
        {
            ThrowIfDisposed();
            if (scores == null)
                throw new ArgumentNullException("scores");
            double[] output = new double[1];
            Forward(scores, 0, new[] { target }, 0, 1, scores.Length, output, 0, 1);
            return output[0];
        }

        /// <summary>Writes the loss into <paramref name="output"/>, whose whole length is passed on.</summary>
        public void Forward(double[] input, long[] target, int classes, double[] output)
        {
            ThrowIfDisposed();
            int n = TargetCount(target);
            ExactInput(input, n, classes);
            if (output == null)
                throw new ArgumentNullException("output");
            Forward(input, 0, target, 0, n, classes, output, 0, output.Length);
        }

        /// <summary>
        /// The loss of <paramref name="n"/> samples whose <c>n·c</c> scores start at
        /// <paramref name="inputOffset"/> and targets at <paramref name="targetOffset"/>, written to
        /// <c>output[outputOffset .. outputOffset + outputLength)</c>.
        /// </summary>
        public unsafe void Forward(double[] input, int inputOffset, long[] target, int targetOffset, int n, int classes,
                                   double[] output, int outputOffset, int outputLength)
        {
            ThrowIfDisposed();
            int elements = Elements(n, classes);
            Shaped(input, "input", inputOffset, elements, "n·c");
            Shaped(target, "target", targetOffset, n, "n");
            Region(output, "output", outputOffset, outputLength);
            fixed (double* pi = input)
            fixed (long* pt = target)
            fixed (double* po = output)
            {
                long* t = At(pt, targetOffset, n);
                Invoke(NativeMethods.OpForward, NativeMethods.DtypeFloat64, At(pi, inputOffset, elements),
                       NativeMethods.DtypeInt64, t, n, classes, null, 0,
                       At(po, outputOffset, outputLength), outputLength, NativeMethods.DtypeFloat64, null, 0);
            }
        }

        // ---- backward ----

        /// <summary>The gradient with respect to <paramref name="input"/> (n·c values), given the
        /// upstream gradient (n values for <see cref="Reduction.None"/>, else one).</summary>
        public double[] Backward(double[] input, long[] target, int classes, double[] gradOutput)
        {
            ThrowIfDisposed();
            int n = TargetCount(target);
            ExactInput(input, n, classes);
            if (gradOutput == null)
                throw new ArgumentNullException("gradOutput");
            double[] gradInput = new double[input.Length];
            Backward(input, 0, target, 0, n, classes, gradOutput, 0, gradOutput.Length, gradInput, 0, gradInput.Length);
            return gradInput;
        }

        /// <summary>The gradient for one sample: 1-D <paramref name="scores"/> and a scalar target.</summary>
        public double[] Backward(double[] scores, long target, double gradOutput)
        {
            ThrowIfDisposed();
            if (scores == null)
                throw new ArgumentNullException("scores");
            double[] gradInput = new double[scores.Length];
            Backward(scores, 0, new[] { target }, 0, 1, scores.Length, new[] { gradOutput }, 0, 1,
                     gradInput, 0, gradInput.Length);
            return gradInput;
        }

        /// <summary>Writes the gradient into <paramref name="gradInput"/>, whose whole length is passed on.</summary>
        public void Backward(double[] input, long[] target, int classes, double[] gradOutput, double[] gradInput)
        {
            ThrowIfDisposed();
            int n = TargetCount(target);
            ExactInput(input, n, classes);
            if (gradOutput == null)
                throw new ArgumentNullException("gradOutput");
            if (gradInput == null)
                throw new ArgumentNullException("gradInput");
            Backward(input, 0, target, 0, n, classes, gradOutput, 0, gradOutput.Length, gradInput, 0, gradInput.Length);
        }

        /// <summary>The gradient, with every buffer given as array, offset and (for the caller-sized
        /// ones) length.</summary>
        public unsafe void Backward(double[] input, int inputOffset, long[] target, int targetOffset, int n, int classes,
                                    double[] gradOutput, int gradOutputOffset, int gradOutputLength,
                                    double[] gradInput, int gradInputOffset, int gradInputLength)
        {
            ThrowIfDisposed();
            int elements = Elements(n, classes);
            Shaped(input, "input", inputOffset, elements, "n·c");
            Shaped(target, "target", targetOffset, n, "n");
            Region(gradOutput, "gradOutput", gradOutputOffset, gradOutputLength);
            Region(gradInput, "gradInput", gradInputOffset, gradInputLength);
            fixed (double* pi = input)
            fixed (long* pt = target)
            fixed (double* pg = gradOutput)
            fixed (double* pgi = gradInput)
            {
                long* t = At(pt, targetOffset, n);
                Invoke(NativeMethods.OpBackward, NativeMethods.DtypeFloat64, At(pi, inputOffset, elements),
                       NativeMethods.DtypeInt64, t, n, classes,
                       At(pg, gradOutputOffset, gradOutputLength), gradOutputLength, null, 0,
                       NativeMethods.DtypeFloat64, At(pgi, gradInputOffset, gradInputLength), gradInputLength);
            }
        }

        // ---- forward and backward in one pass ----

        /// <summary>The loss (returned) and its gradient (<paramref name="gradInput"/>) in one pass,
        /// bit-identical to <see cref="Forward(double[], long[], int)"/> then
        /// <see cref="Backward(double[], long[], int, double[])"/>.</summary>
        public double[] ForwardBackward(double[] input, long[] target, int classes, double[] gradOutput,
                                       out double[] gradInput)
        {
            ThrowIfDisposed();
            int n = TargetCount(target);
            ExactInput(input, n, classes);
            if (gradOutput == null)
                throw new ArgumentNullException("gradOutput");
            double[] output = new double[OutputLength(n)];
            double[] grad = new double[input.Length];
            ForwardBackward(input, 0, target, 0, n, classes, gradOutput, 0, gradOutput.Length,
                            output, 0, output.Length, grad, 0, grad.Length);
            gradInput = grad;
            return output;
        }

        /// <summary>Loss and gradient for one sample: 1-D <paramref name="scores"/> and a scalar target.</summary>
        public double ForwardBackward(double[] scores, long target, double gradOutput, out double[] gradInput)
        {
            ThrowIfDisposed();
            if (scores == null)
                throw new ArgumentNullException("scores");
            double[] output = new double[1];
            double[] grad = new double[scores.Length];
            ForwardBackward(scores, 0, new[] { target }, 0, 1, scores.Length, new[] { gradOutput }, 0, 1,
                            output, 0, 1, grad, 0, grad.Length);
            gradInput = grad;
            return output[0];
        }

        /// <summary>Writes the loss and its gradient into caller arrays, whose whole lengths are passed on.</summary>
        public void ForwardBackward(double[] input, long[] target, int classes, double[] gradOutput,
                                    double[] output, double[] gradInput)
        {
            ThrowIfDisposed();
            int n = TargetCount(target);
            ExactInput(input, n, classes);
            if (gradOutput == null)
                throw new ArgumentNullException("gradOutput");
            if (output == null)
                throw new ArgumentNullException("output");
            if (gradInput == null)
                throw new ArgumentNullException("gradInput");
            ForwardBackward(input, 0, target, 0, n, classes, gradOutput, 0, gradOutput.Length,
                            output, 0, output.Length, gradInput, 0, gradInput.Length);
        }

        /// <summary>Loss and gradient with every buffer given as array, offset and (for the
        /// caller-sized ones) length.</summary>
        public unsafe void ForwardBackward(double[] input, int inputOffset, long[] target, int targetOffset,
                                           int n, int classes,
                                           double[] gradOutput, int gradOutputOffset, int gradOutputLength,
                                           double[] output, int outputOffset, int outputLength,
                                           double[] gradInput, int gradInputOffset, int gradInputLength)
        {
            ThrowIfDisposed();
            int elements = Elements(n, classes);
            Shaped(input, "input", inputOffset, elements, "n·c");
            Shaped(target, "target", targetOffset, n, "n");
            Region(gradOutput, "gradOutput", gradOutputOffset, gradOutputLength);
            Region(output, "output", outputOffset, outputLength);
            Region(gradInput, "gradInput", gradInputOffset, gradInputLength);
            fixed (double* pi = input)
            fixed (long* pt = target)
            fixed (double* pg = gradOutput)
            fixed (double* po = output)
            fixed (double* pgi = gradInput)
            {
                long* t = At(pt, targetOffset, n);
                Invoke(NativeMethods.OpForwardBackward, NativeMethods.DtypeFloat64, At(pi, inputOffset, elements),
                       NativeMethods.DtypeInt64, t, n, classes,
                       At(pg, gradOutputOffset, gradOutputLength), gradOutputLength,
                       At(po, outputOffset, outputLength), outputLength, NativeMethods.DtypeFloat64,
                       At(pgi, gradInputOffset, gradInputLength), gradInputLength);
            }
        }
    }
}
