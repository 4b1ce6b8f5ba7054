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
        /// <summary>MML_STATUS_UNSUPPORTED_TENSOR: a dtype mml does not take for that role.</summary>
        UnsupportedTensor = 8,
        /// <summary>MML_STATUS_INVALID_LAYOUT: a stride or pitch that overflows, or a pitch below c.</summary>
        InvalidLayout = 9,
    }

    /// <summary>The <c>MML_ARG_*</c> codes: which argument a failure is about.</summary>
    public enum MmlArgument : uint
    {
        /// <summary>No argument in particular.</summary>
        None = 0,
        /// <summary>The loss handle.</summary>
        Loss = 1,
        /// <summary>The scores.</summary>
        Input = 2,
        /// <summary>The targets.</summary>
        Target = 3,
        /// <summary>The loss's class weights.</summary>
        Weight = 4,
        /// <summary>The loss output.</summary>
        Output = 5,
        /// <summary>The upstream gradient.</summary>
        GradOutput = 6,
        /// <summary>The gradient with respect to the scores.</summary>
        GradInput = 7,
        /// <summary>The power p.</summary>
        P = 8,
        /// <summary>The reduction.</summary>
        Reduction = 9,
        /// <summary>The number of classes c.</summary>
        Classes = 10,
        /// <summary>A dtype (of the scores, targets or gradient).</summary>
        Dtype = 11,
        /// <summary>The error detail itself (it overlapped a buffer).</summary>
        Error = 12,
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
    /// library's text for it followed by what exactly was wrong, in mml's own words
    /// (<see cref="LibraryMessage"/>), with mml's detail in <see cref="Argument"/>,
    /// <see cref="Expected"/>, <see cref="Actual"/>, <see cref="Row"/> and <see cref="Value"/>.
    /// </summary>
    public sealed class MmlException : Exception
    {
        /// <summary>The status code the library (or the binding's length checks) reported.</summary>
        public Status Status { get; private set; }

        /// <summary>The argument the failure is about.</summary>
        public MmlArgument Argument { get; private set; }

        /// <summary>The expected length (or value) where one is wrong, else 0.</summary>
        public ulong Expected { get; private set; }

        /// <summary>The actual one, else 0.</summary>
        public ulong Actual { get; private set; }

        /// <summary>For <see cref="Mml.Status.TargetOutOfRange"/>: the first bad target's row, else 0.</summary>
        public ulong Row { get; private set; }

        /// <summary>For <see cref="Mml.Status.TargetOutOfRange"/>: that target's value, else 0.</summary>
        public long Value { get; private set; }

        /// <summary>mml's own text for the failure (or the binding's, for a length only it can
        /// check), e.g. "target[3] = 12 is outside [0, 10)"; null when there is none.</summary>
        public string LibraryMessage { get; private set; }

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

        /// <summary>A failure the binding finds itself, with the same detail mml gives.</summary>
        internal static MmlException Create(Status status, MmlArgument argument, ulong expected, ulong actual,
                                            string detail)
        {
            MmlException e = Create(status, detail);
            e.Argument = argument;
            e.Expected = expected;
            e.Actual = actual;
            e.LibraryMessage = detail;
            return e;
        }

        /// <summary>What mml said in its MmlError about a failed call.</summary>
        internal static unsafe MmlException FromNative(uint status, MmlError* error)
        {
            int length = 0;
            byte* text = error->Message;
            while (length < MmlError.MessageLength && text[length] != 0)
                length++;
            string message = length == 0 ? null : System.Text.Encoding.UTF8.GetString(text, length);
            MmlException e = Create(status, message);
            e.Argument = (MmlArgument)error->Argument;
            e.Expected = error->Expected;
            e.Actual = error->Actual;
            e.Row = error->Row;
            e.Value = error->Value;
            e.LibraryMessage = message;
            return e;
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
                case Status.UnsupportedTensor: return "MML_STATUS_UNSUPPORTED_TENSOR";
                case Status.InvalidLayout: return "MML_STATUS_INVALID_LAYOUT";
                default: return "status " + ((uint)status).ToString(CultureInfo.InvariantCulture);
            }
        }
    }
}
