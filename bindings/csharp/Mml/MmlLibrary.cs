using System;
using System.Globalization;

namespace Mml
{
    /// <summary>Process-wide settings and version information of the native library.</summary>
    public static class MmlLibrary
    {
        /// <summary>The mml version this binding was written for (MML_VERSION_STRING).</summary>
        public const string BindingVersion = "0.1.0";

        /// <summary>The C ABI version this binding was written for (MML_ABI_VERSION).</summary>
        public const uint BindingAbiVersion = 1;

        /// <summary>The largest thread count the library accepts (MML_MAX_THREADS).</summary>
        public const int MaxThreads = 1024;

        /// <summary>The loaded library's version, "MAJOR.MINOR.PATCH" (mml_version).</summary>
        public static string Version
        {
            get { return NativeMethods.StaticString(NativeMethods.mml_version()); }
        }

        /// <summary>The loaded library's C ABI version (mml_abi_version).</summary>
        public static uint AbiVersion
        {
            get { return NativeMethods.mml_abi_version(); }
        }

        /// <summary>True when the loaded library speaks the ABI this binding was written for.</summary>
        public static bool IsCompatible
        {
            get { return AbiVersion == BindingAbiVersion; }
        }

        /// <summary>
        /// Threads (the calling one included) that large calls use. Setting 0 restores the default
        /// (MML_NUM_THREADS from the environment, else the available parallelism). Process-wide.
        /// </summary>
        public static int NumThreads
        {
            get { return GetNumThreads(); }
            set { SetNumThreads(value); }
        }

        /// <summary>mml_get_num_threads.</summary>
        public static int GetNumThreads()
        {
            ulong n = NativeMethods.mml_get_num_threads().ToUInt64();
            return n > int.MaxValue ? int.MaxValue : (int)n;
        }

        /// <summary>mml_set_num_threads; throws <see cref="MmlException"/> above <see cref="MaxThreads"/>.</summary>
        public static void SetNumThreads(int threads)
        {
            if (threads < 0)
                throw new ArgumentOutOfRangeException("threads", threads, "the thread count cannot be negative");
            uint status = NativeMethods.mml_set_num_threads(new UIntPtr((uint)threads));
            if (status != 0)
            {
                string detail = (Status)status == Status.InvalidArgument
                    ? string.Format(CultureInfo.InvariantCulture,
                                    "thread count {0} is above MML_MAX_THREADS = {1}", threads, MaxThreads)
                    : null;
                throw MmlException.Create(status, detail);
            }
        }
    }
}
