// Span overloads, compiled only for targets that have Span<T> in the framework (netstandard2.1,
// .NET Core 2.1+). Same rules as the array overloads; an empty span is passed as a NULL pointer.
#if NETSTANDARD2_1 || NETSTANDARD2_1_OR_GREATER || NETCOREAPP2_1_OR_GREATER
using System;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Mml
{
    public sealed partial class MultiMarginLoss
    {
        private static void SpanInput(int inputLength, int n, int c)
        {
            int elements = Elements(n, c);
            if (inputLength != elements)
                throw MmlException.Create(Status.ShapeMismatch, string.Format(CultureInfo.InvariantCulture,
                    "input has {0} elements, expected n·c = {1}·{2} = {3}", inputLength, n, c, elements));
        }

        /// <summary>Span overload of <see cref="Forward(float[], long[], int, float[])"/>: n = target.Length,
        /// input must hold exactly n·c scores, output's whole length is passed on.</summary>
        public unsafe void Forward(ReadOnlySpan<float> input, ReadOnlySpan<long> target, int classes, Span<float> output)
        {
            ThrowIfDisposed();
            int n = target.Length;
            SpanInput(input.Length, n, classes);
            fixed (float* pi = &MemoryMarshal.GetReference(input))
            fixed (long* pt = &MemoryMarshal.GetReference(target))
            fixed (float* po = &MemoryMarshal.GetReference(output))
            {
                long* t = At(pt, 0, n);
                Invoke(NativeMethods.OpForward, NativeMethods.DtypeFloat32, At(pi, 0, input.Length),
                       NativeMethods.DtypeInt64, t, n, classes, null, 0, At(po, 0, output.Length), output.Length,
                       NativeMethods.DtypeFloat32, null, 0);
            }
        }

        /// <summary>Span overload of <see cref="Backward(float[], long[], int, float[], float[])"/>.</summary>
        public unsafe void Backward(ReadOnlySpan<float> input, ReadOnlySpan<long> target, int classes,
                                    ReadOnlySpan<float> gradOutput, Span<float> gradInput)
        {
            ThrowIfDisposed();
            int n = target.Length;
            SpanInput(input.Length, n, classes);
            fixed (float* pi = &MemoryMarshal.GetReference(input))
            fixed (long* pt = &MemoryMarshal.GetReference(target))
            fixed (float* pg = &MemoryMarshal.GetReference(gradOutput))
            fixed (float* pgi = &MemoryMarshal.GetReference(gradInput))
            {
                long* t = At(pt, 0, n);
                Invoke(NativeMethods.OpBackward, NativeMethods.DtypeFloat32, At(pi, 0, input.Length),
                       NativeMethods.DtypeInt64, t, n, classes, At(pg, 0, gradOutput.Length), gradOutput.Length,
                       null, 0, NativeMethods.DtypeFloat32, At(pgi, 0, gradInput.Length), gradInput.Length);
            }
        }

        /// <summary>Span overload of <see cref="ForwardBackward(float[], long[], int, float[], float[], float[])"/>.</summary>
        public unsafe void ForwardBackward(ReadOnlySpan<float> input, ReadOnlySpan<long> target, int classes,
                                           ReadOnlySpan<float> gradOutput, Span<float> output, Span<float> gradInput)
        {
            ThrowIfDisposed();
            int n = target.Length;
            SpanInput(input.Length, n, classes);
            fixed (float* pi = &MemoryMarshal.GetReference(input))
            fixed (long* pt = &MemoryMarshal.GetReference(target))
            fixed (float* pg = &MemoryMarshal.GetReference(gradOutput))
            fixed (float* po = &MemoryMarshal.GetReference(output))
            fixed (float* pgi = &MemoryMarshal.GetReference(gradInput))
            {
                long* t = At(pt, 0, n);
                Invoke(NativeMethods.OpForwardBackward, NativeMethods.DtypeFloat32, At(pi, 0, input.Length),
                       NativeMethods.DtypeInt64, t, n, classes, At(pg, 0, gradOutput.Length), gradOutput.Length,
                       At(po, 0, output.Length), output.Length, NativeMethods.DtypeFloat32,
                       At(pgi, 0, gradInput.Length), gradInput.Length);
            }
        }

        /// <summary>Span overload of <see cref="Forward(double[], long[], int, double[])"/>: n = target.Length,
        /// input must hold exactly n·c scores, output's whole length is passed on.</summary>
        public unsafe void Forward(ReadOnlySpan<double> input, ReadOnlySpan<long> target, int classes, Span<double> output)
        {
            ThrowIfDisposed();
            int n = target.Length;
            SpanInput(input.Length, n, classes);
            fixed (double* pi = &MemoryMarshal.GetReference(input))
            fixed (long* pt = &MemoryMarshal.GetReference(target))
            fixed (double* po = &MemoryMarshal.GetReference(output))
            {
                long* t = At(pt, 0, n);
                Invoke(NativeMethods.OpForward, NativeMethods.DtypeFloat64, At(pi, 0, input.Length),
                       NativeMethods.DtypeInt64, t, n, classes, null, 0, At(po, 0, output.Length), output.Length,
                       NativeMethods.DtypeFloat64, null, 0);
            }
        }

        /// <summary>Span overload of <see cref="Backward(double[], long[], int, double[], double[])"/>.</summary>
        public unsafe void Backward(ReadOnlySpan<double> input, ReadOnlySpan<long> target, int classes,
                                    ReadOnlySpan<double> gradOutput, Span<double> gradInput)
        {
            ThrowIfDisposed();
            int n = target.Length;
            SpanInput(input.Length, n, classes);
            fixed (double* pi = &MemoryMarshal.GetReference(input))
            fixed (long* pt = &MemoryMarshal.GetReference(target))
            fixed (double* pg = &MemoryMarshal.GetReference(gradOutput))
            fixed (double* pgi = &MemoryMarshal.GetReference(gradInput))
            {
                long* t = At(pt, 0, n);
                Invoke(NativeMethods.OpBackward, NativeMethods.DtypeFloat64, At(pi, 0, input.Length),
                       NativeMethods.DtypeInt64, t, n, classes, At(pg, 0, gradOutput.Length), gradOutput.Length,
                       null, 0, NativeMethods.DtypeFloat64, At(pgi, 0, gradInput.Length), gradInput.Length);
            }
        }

        /// <summary>Span overload of <see cref="ForwardBackward(double[], long[], int, double[], double[], double[])"/>.</summary>
        public unsafe void ForwardBackward(ReadOnlySpan<double> input, ReadOnlySpan<long> target, int classes,
                                           ReadOnlySpan<double> gradOutput, Span<double> output, Span<double> gradInput)
        {
            ThrowIfDisposed();
            int n = target.Length;
            SpanInput(input.Length, n, classes);
            fixed (double* pi = &MemoryMarshal.GetReference(input))
            fixed (long* pt = &MemoryMarshal.GetReference(target))
            fixed (double* pg = &MemoryMarshal.GetReference(gradOutput))
            fixed (double* po = &MemoryMarshal.GetReference(output))
            fixed (double* pgi = &MemoryMarshal.GetReference(gradInput))
            {
                long* t = At(pt, 0, n);
                Invoke(NativeMethods.OpForwardBackward, NativeMethods.DtypeFloat64, At(pi, 0, input.Length),
                       NativeMethods.DtypeInt64, t, n, classes, At(pg, 0, gradOutput.Length), gradOutput.Length,
                       At(po, 0, output.Length), output.Length, NativeMethods.DtypeFloat64,
                       At(pgi, 0, gradInput.Length), gradInput.Length);
            }
        }
    }
}
#endif
