using System;
using System.Globalization;

namespace Mml
{
    /// <summary>The <c>MML_STATUS_*</c> codes of <c>mml.h</c>.</summary>
    public enum Status : uint
    {
        /// <summary>MML_STATUS_OK: the call succeeded.</summary>
        Ok = 0,
        /// <summary>MML_STATUS_NULL_POINTER: a pointer was NULL while its length requires memory.</summary>
        NullPointer = 1,
        /// <summary>MML_STATUS_INVALID_ARGUMENT: p, reduction, c == 0, size overflow, thread count, alignment.</summary>
        InvalidArgument = 2,
        /// <summary>MML_STATUS_SHAPE_MISMATCH: a buffer length does not match the shape.</summary>
        ShapeMismatch = 3,
        /// <summary>MML_STATUS_TARGET_OUT_OF_RANGE: a target is negative or not below c.</summary>
        TargetOutOfRange = 4,
        /// <summary>MML_STATUS_ALIASED_BUFFERS: an output buffer overlaps another buffer.</summary>
        AliasedBuffers = 5,
        /// <summary>MML_STATUS_INTERNAL_ERROR: a bug in mml (a caught panic).</summary>
        InternalError = 6,
        /// <summary>MML_STATUS_OUT_OF_MEMORY: the library could not allocate memory (in the
        /// constructor, for its copy of the weights; in a large call, for the call's buffers).
        /// Nothing was written to the outputs. Thrown as an <see cref="MmlException"/> like every
        /// other status, not as <see cref="System.OutOfMemoryException"/>, which is the managed
        /// heap's.</summary>
        OutOfMemory = 7,
    }

    /// <summary>The <c>MML_REDUCTION_*</c> values: how per-sample losses are combined.</summary>
    public enum Reduction : uint
    {
        /// <summary>MML_REDUCTION_NONE: n per-sample losses.</summary>
        None = 0,
        /// <summary>MML_REDUCTION_MEAN: their sum divided by n (PyTorch's default).</summary>
        Mean = 1,
        /// <summary>MML_REDUCTION_SUM: their sum.</summary>
        Sum = 2,
    }

    /// <summary>
    /// A failed mml call. <see cref="Status"/> is the library's status code; the message is the
    /// library's text for it followed by what exactly was wrong.
    /// </summary>
    public sealed class MmlException : Exception
    {
        /// <summary>The status code the library (or the binding's length checks) reported.</summary>
        public Status Status { get; private set; }

        /// <summary>Creates an exception for a status with a detailed message.</summary>
        public MmlException(Status status, string message) : base(message)
        {
            Status = status;
        }

        /// <summary>The library's text for a status code (unknown codes get a text too).</summary>
        public static string StatusMessage(Status status)
        {
            return NativeMethods.StaticString(NativeMethods.mml_status_message((uint)status));
        }

        internal static MmlException Create(Status status, string detail)
        {
            string text = StatusMessage(status);
            if (!string.IsNullOrEmpty(detail))
                text = text + ": " + detail;
            return new MmlException(status, text + " (" + StatusName(status) + ")");
        }

        internal static MmlException Create(uint status, string detail)
        {
            return Create((Status)status, detail);
        }

        private static string StatusName(Status status)
        {
            switch (status)
            {
                case Status.Ok: return "MML_STATUS_OK";
                case Status.NullPointer: return "MML_STATUS_NULL_POINTER";
                case Status.InvalidArgument: return "MML_STATUS_INVALID_ARGUMENT";
                case Status.ShapeMismatch: return "MML_STATUS_SHAPE_MISMATCH";
                case Status.TargetOutOfRange: return "MML_STATUS_TARGET_OUT_OF_RANGE";
                case Status.AliasedBuffers: return "MML_STATUS_ALIASED_BUFFERS";
                case Status.InternalError: return "MML_STATUS_INTERNAL_ERROR";
                case Status.OutOfMemory: return "MML_STATUS_OUT_OF_MEMORY";
                default: return "status " + ((uint)status).ToString(CultureInfo.InvariantCulture);
            }
        }
    }
}
