using System;
using System.Globalization;

namespace Mml
{
    /// <summary>
    /// PyTorch's <c>torch.nn.MultiMarginLoss</c>, bit-exact, computed by the native mml library.
    /// <para>
    /// Input is row-major <c>n × c</c> scores, targets are <c>n</c> class indices in <c>[0, c)</c>.
    /// Immutable after construction: one instance may be used by any number of threads at once.
    /// Dispose it to free the native handle (a finalizer on the handle is the safety net).
    /// </para>
    /// <para>
    /// Every method validates that the arrays really hold the lengths it will pass to the library,
    /// then lets the library decide everything else (shapes against the reduction, targets,
    /// aliasing). Failures throw <see cref="MmlException"/>; on failure no output element changes.
    /// Overloads taking explicit offsets and lengths pass those lengths as given, so a wrong length
    /// is reported by the library as <see cref="Status.ShapeMismatch"/>. An n·c above
    /// <see cref="int.MaxValue"/> (more than any array holds) is <see cref="Status.InvalidArgument"/>,
    /// the library's status for a size it cannot address.
    /// </para>
    /// <para>
    /// After <see cref="Dispose"/>, every Forward, Backward and ForwardBackward overload throws
    /// <see cref="ObjectDisposedException"/> before it looks at its arguments. The configuration
    /// (<see cref="P"/>, <see cref="Margin"/>, <see cref="Reduction"/>, <see cref="Weight"/>,
    /// <see cref="OutputLength"/>) stays readable.
    /// </para>
    /// </summary>
    public sealed partial class MultiMarginLoss : IDisposable
    {
        private readonly MmlLossHandle handle;
        private readonly int p;
        private readonly double margin;
        private readonly float[] weight;
        private readonly double[] weight64;
        private readonly Reduction reduction;

        /// <summary>Creates a loss; the defaults are PyTorch's (p = 1, margin = 1, no weight, mean).</summary>
        /// <param name="p">1 or 2.</param>
        /// <param name="margin">The margin.</param>
        /// <param name="weight">Per-class weights (copied), or null / empty for none.</param>
        /// <param name="reduction">None, Mean or Sum.</param>
        public MultiMarginLoss(int p = 1, double margin = 1.0, float[] weight = null,
                               Reduction reduction = Reduction.Mean)
            : this(p, margin, weight, null, reduction)
        {
        }

        /// <summary>Creates a loss from options (null means the defaults).</summary>
        public MultiMarginLoss(MultiMarginLossOptions options)
            : this(options == null ? 1 : options.P,
                   options == null ? 1.0 : options.Margin,
                   options == null ? null : options.Weight,
                   options == null ? null : options.Weight64,
                   options == null ? Reduction.Mean : options.Reduction)
        {
        }

        /// <summary>Creates a loss with double-precision class weights (mml_create_f64): the double entry
        /// points use them as given, the float and 16-bit ones round them to float.</summary>
        public static MultiMarginLoss WithWeight64(int p, double margin, double[] weight64,
                                                   Reduction reduction = Reduction.Mean)
        {
            return new MultiMarginLoss(p, margin, null, weight64, reduction);
        }

        private unsafe MultiMarginLoss(int p, double margin, float[] weight, double[] weight64, Reduction reduction)
        {
            float[] w = weight == null ? new float[0] : (float[])weight.Clone();
            double[] w64 = weight64 == null ? new double[0] : (double[])weight64.Clone();
            if (w.Length != 0 && w64.Length != 0)
                throw MmlException.Create(Status.InvalidArgument, MmlArgument.Weight, 0, 0,
                                          "set Weight or Weight64, not both");
            MmlLossHandle created;
            uint status;
            if (w64.Length != 0)
            {
                fixed (double* pw = w64)
                {
                    status = NativeMethods.mml_create_f64(unchecked((uint)p), margin, pw,
                                                          new UIntPtr((uint)w64.Length), (uint)reduction, out created);
                }
            }
            else
            {
                fixed (float* pw = w)
                {
                    status = NativeMethods.mml_create(unchecked((uint)p), margin, w.Length == 0 ? null : pw,
                                                      new UIntPtr((uint)w.Length), (uint)reduction, out created);
                }
            }
            if (status != 0)
            {
                if (created != null)
                    created.Dispose();
                string detail = null;
                if ((Status)status == Status.InvalidArgument)
                {
                    if (p != 1 && p != 2)
                        detail = "p = " + p.ToString(CultureInfo.InvariantCulture) + ", must be 1 or 2";
                    else if (reduction != Reduction.None && reduction != Reduction.Mean && reduction != Reduction.Sum)
                        detail = "reduction = " + ((uint)reduction).ToString(CultureInfo.InvariantCulture)
                                 + " is not None (0), Mean (1) or Sum (2)";
                }
                throw MmlException.Create(status, detail);
            }
            handle = created;
            this.p = p;
            this.margin = margin;
            this.weight = w;
            this.weight64 = w64;
            this.reduction = reduction;
        }

        /// <summary>The power of the hinge, 1 or 2.</summary>
        public int P { get { return p; } }

        /// <summary>The margin.</summary>
        public double Margin { get { return margin; } }

        /// <summary>The reduction.</summary>
        public Reduction Reduction { get { return reduction; } }

        /// <summary>A copy of the per-class weights, or null when the loss has none.</summary>
        public float[] Weight { get { return weight.Length == 0 ? null : (float[])weight.Clone(); } }

        /// <summary>A copy of the double-precision class weights, or null when the loss has none.</summary>
        public double[] Weight64 { get { return weight64.Length == 0 ? null : (double[])weight64.Clone(); } }

        /// <summary>The native handle (for interop); closed once the loss is disposed.</summary>
        public MmlLossHandle Handle { get { return handle; } }

        /// <summary>True once <see cref="Dispose"/> has run.</summary>
        public bool IsDisposed { get { return handle.IsClosed; } }

        /// <summary>The number of loss values for a batch of <paramref name="n"/>: n for None, else 1.</summary>
        public int OutputLength(int n)
        {
            if (n < 0)
                throw new ArgumentOutOfRangeException("n", n, "the batch size cannot be negative");
            return reduction == Reduction.None ? n : 1;
        }

        /// <summary>Frees the native loss. Idempotent; any later Forward, Backward or ForwardBackward
        /// call throws ObjectDisposedException, whatever its arguments.</summary>
        public void Dispose()
        {
            handle.Dispose();
        }

        private void ThrowIfDisposed()
        {
            if (handle.IsClosed)
                throw new ObjectDisposedException(typeof(MultiMarginLoss).FullName);
        }

        // ---- argument checks (only what the library cannot check: real array sizes) ----

        /// <summary>n·c as an element count, or an InvalidArgument (the library's status for a size
        /// overflow) when no array could hold it.</summary>
        private static int Elements(int n, int c)
        {
            if (n < 0)
                throw new ArgumentOutOfRangeException("n", n, "the batch size cannot be negative");
            if (c < 0)
                throw new ArgumentOutOfRangeException("classes", c, "the class count cannot be negative");
            long elements = (long)n * c;
            if (elements > int.MaxValue)
                throw MmlException.Create(Status.InvalidArgument, string.Format(CultureInfo.InvariantCulture,
                    "n·c = {0}·{1} = {2} elements do not fit in an array", n, c, elements));
            return (int)elements;
        }

        /// <summary>The array must hold <paramref name="count"/> elements from <paramref name="offset"/>
        /// (an input whose length the shape fixes).</summary>
        private static void Shaped(Array array, string name, int offset, int count, string what)
        {
            if (array == null)
                throw new ArgumentNullException(name);
            if (offset < 0 || offset > array.Length)
                throw new ArgumentOutOfRangeException(name + "Offset", offset, "offset outside the array");
            if (array.Length - offset < count)
                throw MmlException.Create(Status.ShapeMismatch, string.Format(CultureInfo.InvariantCulture,
                    "{0} needs {1} = {2} elements from offset {3}, but the array has {4}",
                    name, what, count, offset, array.Length));
        }

        /// <summary>A caller-chosen region [offset, offset + length) that must lie inside the array.</summary>
        private static void Region(Array array, string name, int offset, int length)
        {
            if (array == null)
                throw new ArgumentNullException(name);
            if (offset < 0 || offset > array.Length)
                throw new ArgumentOutOfRangeException(name + "Offset", offset, "offset outside the array");
            if (length < 0 || array.Length - offset < length)
                throw new ArgumentOutOfRangeException(name + "Length", length,
                    string.Format(CultureInfo.InvariantCulture,
                        "{0}: offset {1} + length {2} exceeds the array length {3}", name, offset, length, array.Length));
        }

        /// <summary>The whole-array overloads: the input must be exactly n·c long.</summary>
        private static void ExactInput(Array input, int n, int c)
        {
            if (input == null)
                throw new ArgumentNullException("input");
            int elements = Elements(n, c);
            if (input.Length != elements)
                throw MmlException.Create(Status.ShapeMismatch, string.Format(CultureInfo.InvariantCulture,
                    "input has {0} elements, expected n·c = {1}·{2} = {3}", input.Length, n, c, elements));
        }

        private static int TargetCount(long[] target)
        {
            if (target == null)
                throw new ArgumentNullException("target");
            return target.Length;
        }

        private static unsafe float* At(float* start, int offset, int count)
        {
            return count == 0 ? null : start + offset;
        }

        private static unsafe double* At(double* start, int offset, int count)
        {
            return count == 0 ? null : start + offset;
        }

        private static unsafe long* At(long* start, int offset, int count)
        {
            return count == 0 ? null : start + offset;
        }

        private static UIntPtr Size(int value)
        {
            return new UIntPtr((uint)value);
        }

        // ---- the native calls ----

        /// <summary>
        /// Every Forward, Backward and ForwardBackward ends here, its buffers pinned. float or double scores
        /// with long targets and a gradient of the scores' type call the untyped entry points (mml_forward
        /// etc.), which check every length they are given; mml_explain then says what was wrong. Every other
        /// combination calls the typed entry points (rows contiguous: pitch c) with an MmlError, after the
        /// one check only the binding can make: the gradient region holds n·c values (the typed call knows
        /// it by its pitch). A failure throws what mml said. n·c fits an int (the callers' Elements).
        /// </summary>
        private unsafe void Invoke(uint op, uint dtype, void* input, uint targetDtype, void* target, int n, int c,
                                   void* gradOutput, int gradOutputLength, void* output, int outputLength,
                                   uint gradDtype, void* gradInput, int gradInputLength)
        {
            MmlError error;
            uint status;
            bool untyped = (dtype == NativeMethods.DtypeFloat32 || dtype == NativeMethods.DtypeFloat64)
                           && targetDtype == NativeMethods.DtypeInt64 && gradDtype == dtype;
            if (untyped)
            {
                status = Untyped(op, dtype == NativeMethods.DtypeFloat64, input, (long*)target, n, c,
                                 gradOutput, gradOutputLength, output, outputLength, gradInput, gradInputLength);
                if (status == 0)
                    return;
                uint explained = NativeMethods.mml_explain(handle, op, dtype, input, (long*)target, Size(n), Size(c),
                                                           gradOutput, Size(gradOutputLength), output, Size(outputLength),
                                                           gradInput, Size(gradInputLength), &error);
                if (explained != status)
                    error = new MmlError();
                throw MmlException.FromNative(status, &error);
            }
            if (op != NativeMethods.OpForward && gradInputLength != n * c)
                throw MmlException.Create(Status.ShapeMismatch, MmlArgument.GradInput, (ulong)(n * c),
                                          (ulong)gradInputLength, string.Format(CultureInfo.InvariantCulture,
                                              "grad_input has {0} elements, expected {1}", gradInputLength, n * c));
            UIntPtr pitch = Size(c);
            if (op == NativeMethods.OpForward)
                status = NativeMethods.mml_forward_typed(handle, dtype, input, pitch, targetDtype, target, Size(n), pitch,
                                                         output, Size(outputLength), &error);
            else if (op == NativeMethods.OpBackward)
                status = NativeMethods.mml_backward_typed(handle, dtype, input, pitch, targetDtype, target, Size(n), pitch,
                                                          gradOutput, Size(gradOutputLength), gradDtype, gradInput, pitch,
                                                          &error);
            else
                status = NativeMethods.mml_forward_backward_typed(handle, dtype, input, pitch, targetDtype, target,
                                                                  Size(n), pitch, gradOutput, Size(gradOutputLength),
                                                                  output, Size(outputLength), gradDtype, gradInput,
                                                                  pitch, &error);
            if (status != 0)
                throw MmlException.FromNative(status, &error);
        }

        private unsafe uint Untyped(uint op, bool f64, void* input, long* target, int n, int c,
                                    void* gradOutput, int gradOutputLength, void* output, int outputLength,
                                    void* gradInput, int gradInputLength)
        {
            UIntPtr sn = Size(n), sc = Size(c), go = Size(gradOutputLength), o = Size(outputLength), gi = Size(gradInputLength);
            if (op == NativeMethods.OpForward)
                return f64 ? NativeMethods.mml_forward_f64(handle, (double*)input, target, sn, sc, (double*)output, o)
                           : NativeMethods.mml_forward(handle, (float*)input, target, sn, sc, (float*)output, o);
            if (op == NativeMethods.OpBackward)
                return f64 ? NativeMethods.mml_backward_f64(handle, (double*)input, target, sn, sc, (double*)gradOutput, go,
                                                            (double*)gradInput, gi)
                           : NativeMethods.mml_backward(handle, (float*)input, target, sn, sc, (float*)gradOutput, go,
                                                        (float*)gradInput, gi);
            return f64 ? NativeMethods.mml_forward_backward_f64(handle, (double*)input, target, sn, sc, (double*)gradOutput, go,
                                                                (double*)output, o, (double*)gradInput, gi)
                       : NativeMethods.mml_forward_backward(handle, (float*)input, target, sn, sc, (float*)gradOutput, go,
                                                            (float*)output, o, (float*)gradInput, gi);
        }
    }
}
