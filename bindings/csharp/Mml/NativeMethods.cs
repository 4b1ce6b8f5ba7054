// P/Invoke declarations mirroring include/mml.h one to one. size_t is UIntPtr, uint32_t is uint,
// int64_t is long, const char* is IntPtr (static strings owned by the library, never freed).
using System;
using System.Runtime.InteropServices;
using System.Security;

namespace Mml
{
    /// <summary>mml's MmlError: the detail of a call's status, written by the library into
    /// caller-owned memory (no thread-local state).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct MmlError
    {
        internal const int MessageLength = 256;
        public uint Status;
        public uint Argument;
        public ulong Expected;
        public ulong Actual;
        public ulong Row;
        public long Value;
        public fixed byte Message[MessageLength];
    }

    [SuppressUnmanagedCodeSecurity]
    internal static unsafe class NativeMethods
    {
        internal const string Library = "mml";

        // MML_DTYPE_* and MML_OP_*.
        internal const uint DtypeFloat32 = 0, DtypeFloat64 = 1, DtypeBFloat16 = 2, DtypeFloat16 = 3,
                            DtypeInt64 = 4, DtypeInt32 = 5;
        internal const uint OpForward = 0, OpBackward = 1, OpForwardBackward = 2;

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_create_f64(uint p, double margin, double* weight, UIntPtr weightLen,
                                                   uint reduction, out MmlLossHandle loss);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_forward_typed(MmlLossHandle loss, uint dtype, void* input, UIntPtr inputPitch,
                                                      uint targetDtype, void* target, UIntPtr n, UIntPtr c,
                                                      void* output, UIntPtr outputLen, MmlError* error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_backward_typed(MmlLossHandle loss, uint dtype, void* input, UIntPtr inputPitch,
                                                       uint targetDtype, void* target, UIntPtr n, UIntPtr c,
                                                       void* gradOutput, UIntPtr gradOutputLen,
                                                       uint gradDtype, void* gradInput, UIntPtr gradInputPitch,
                                                       MmlError* error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_forward_backward_typed(MmlLossHandle loss, uint dtype, void* input,
                                                               UIntPtr inputPitch, uint targetDtype, void* target,
                                                               UIntPtr n, UIntPtr c,
                                                               void* gradOutput, UIntPtr gradOutputLen,
                                                               void* output, UIntPtr outputLen,
                                                               uint gradDtype, void* gradInput, UIntPtr gradInputPitch,
                                                               MmlError* error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_explain(MmlLossHandle loss, uint op, uint dtype, void* input, long* target,
                                                UIntPtr n, UIntPtr c, void* gradOutput, UIntPtr gradOutputLen,
                                                void* output, UIntPtr outputLen, void* gradInput, UIntPtr gradInputLen,
                                                MmlError* error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_create(uint p, double margin, float* weight, UIntPtr weightLen,
                                               uint reduction, out MmlLossHandle loss);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void mml_destroy(IntPtr loss);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_forward(MmlLossHandle loss, float* input, long* target,
                                                UIntPtr n, UIntPtr c, float* output, UIntPtr outputLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_backward(MmlLossHandle loss, float* input, long* target,
                                                 UIntPtr n, UIntPtr c,
                                                 float* gradOutput, UIntPtr gradOutputLen,
                                                 float* gradInput, UIntPtr gradInputLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_forward_backward(MmlLossHandle loss, float* input, long* target,
                                                         UIntPtr n, UIntPtr c,
                                                         float* gradOutput, UIntPtr gradOutputLen,
                                                         float* output, UIntPtr outputLen,
                                                         float* gradInput, UIntPtr gradInputLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_forward_f64(MmlLossHandle loss, double* input, long* target,
                                                    UIntPtr n, UIntPtr c, double* output, UIntPtr outputLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_backward_f64(MmlLossHandle loss, double* input, long* target,
                                                     UIntPtr n, UIntPtr c,
                                                     double* gradOutput, UIntPtr gradOutputLen,
                                                     double* gradInput, UIntPtr gradInputLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_forward_backward_f64(MmlLossHandle loss, double* input, long* target,
                                                             UIntPtr n, UIntPtr c,
                                                             double* gradOutput, UIntPtr gradOutputLen,
                                                             double* output, UIntPtr outputLen,
                                                             double* gradInput, UIntPtr gradInputLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_check_targets(long* target, UIntPtr n, UIntPtr c,
                                                      out UIntPtr badRow, out long badValue);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr mml_status_message(uint status);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr mml_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_abi_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint mml_set_num_threads(UIntPtr n);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern UIntPtr mml_get_num_threads();

        /// <summary>A static ASCII string from the library; never NULL by contract.</summary>
        internal static string StaticString(IntPtr p)
        {
            return p == IntPtr.Zero ? string.Empty : Marshal.PtrToStringAnsi(p);
        }
    }
}
