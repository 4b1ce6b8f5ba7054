using System;
using System.Runtime.InteropServices;

namespace Mml
{
    /// <summary>
    /// Owns one native <c>MmlLoss*</c>. Releasing it calls <c>mml_destroy</c> exactly once, and the
    /// P/Invoke marshaller add-refs it for the duration of every call, so disposing a loss while
    /// another thread is inside a call defers the destruction until that call returns.
    /// </summary>
    public sealed class MmlLossHandle : SafeHandle
    {
        /// <summary>An invalid (NULL) handle; <c>mml_create</c> fills it through P/Invoke.</summary>
        public MmlLossHandle() : base(IntPtr.Zero, true)
        {
        }

        /// <summary>True while the handle is NULL (never created, or creation failed).</summary>
        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        /// <summary>Destroys the native loss.</summary>
        protected override bool ReleaseHandle()
        {
            NativeMethods.mml_destroy(handle);
            return true;
        }
    }
}
