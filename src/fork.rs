//! Which fork of the process this is: a count of the `fork()`s the process went through since
//! [`generation`] was first called, kept by a `pthread_atfork` child handler.
//!
//! The pool (`parallel`) records the generation it was built in; a different generation means
//! that the process is a child of the one that built it, whose worker threads were not copied.
//! A process id cannot tell: a worker of a prefork daemon may receive the pool builder's old pid
//! once pids wrap around, and the first child forked into a new PID namespace is pid 1, like its
//! parent when that parent was a container's init. The handler runs in every child that
//! `fork()` creates through the C library, whatever its pid.
//!
//! This module is the one place outside the C ABI (`ffi`) and the SIMD backends that holds
//! `unsafe`: it imports one C library function. It cannot live in `ffi`, which is mml's own
//! exported interface and sits above the pool (modules import each other as a DAG).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Forks since the handler was registered.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Whether the handler is registered.
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// The child handler: one atomic add, which is async-signal-safe, in the single thread that the
/// child starts with.
extern "C" fn forked() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

#[cfg(unix)]
unsafe extern "C" {
    // POSIX. With glibc the linker takes it from libc_nonshared.a, which registers the handler
    // for this shared object: unloading libmml.so (dlclose) unregisters it.
    fn pthread_atfork(
        prepare: Option<unsafe extern "C" fn()>,
        parent: Option<unsafe extern "C" fn()>,
        child: Option<unsafe extern "C" fn()>,
    ) -> std::ffi::c_int;
}

/// The current fork generation. The first call registers the handler (a later call tries
/// again if that failed); the pool calls this before it builds its threads, so every fork after
/// a pool exists is counted. Two racing first calls may both register it: each fork then adds
/// two, and only a change of the count matters. A process that forks without the C library's
/// `fork()` (a raw `clone` system call) runs no handler: the pool also compares process ids,
/// which catches that case outside PID namespaces.
pub fn generation() -> u64 {
    if !REGISTERED.load(Ordering::Acquire) {
        register();
    }
    GENERATION.load(Ordering::Relaxed)
}

#[cold]
fn register() {
    #[cfg(unix)]
    {
        // SAFETY: registers a plain function that captures nothing; `forked` only adds to an
        // atomic, which is sound in the child of a multithreaded process. It fails only for
        // lack of memory (ENOMEM), and then the next call tries again.
        if unsafe { pthread_atfork(None, None, Some(forked)) } == 0 {
            REGISTERED.store(true, Ordering::Release);
        }
    }
    #[cfg(not(unix))]
    REGISTERED.store(true, Ordering::Release);
}
