//! The library's own thread pool, and the one way work is spread over it.
//!
//! Work is always cut into fixed blocks by the caller (their size depends only on the shape), so
//! the thread count changes who computes a block, never what a block computes: results are
//! identical for every thread count. The pool is not rayon's global pool (a host's own rayon work
//! must not queue behind ours, nor ours behind it); it is built lazily, holds `threads - 1`
//! workers because the calling thread takes part, and is rebuilt in a child process after
//! `fork()`, where the parent's workers do not exist. A fork is known by its generation
//! ([`crate::fork`]), never by a process id alone: ids repeat.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::fork;

/// Environment variable that sets the default thread count (the calling thread included).
pub const THREADS_ENV: &str = "MML_NUM_THREADS";

/// Upper bound accepted by [`set_num_threads`]; far above any machine this runs on, low enough
/// that a garbage value cannot ask the OS for millions of threads.
pub const MAX_THREADS: usize = 1024;

/// A thread-count request outside `0..=MAX_THREADS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyThreads(pub usize);

struct Pool {
    /// Threads in all, the caller included.
    threads: usize,
    /// `threads - 1` workers; `None` when `threads == 1` or the OS refused to spawn them.
    workers: Option<Arc<ThreadPool>>,
    /// The fork generation it was built in ([`fork::generation`]): a different one means that
    /// this process is a forked child of the one that built it.
    generation: u64,
    /// The process that built it: a second check, for a child made by a raw `clone` system
    /// call, which runs no fork handler. An equal id proves nothing (pid reuse, PID namespaces).
    pid: u32,
}

impl Pool {
    /// Whether this process is the one that built the pool, whose workers exist.
    fn is_ours(&self) -> bool {
        self.generation == fork::generation() && self.pid == std::process::id()
    }
}

/// Requested thread count; 0 means the default (environment, else available parallelism).
static REQUESTED: AtomicUsize = AtomicUsize::new(0);
static POOL: Mutex<Option<Pool>> = Mutex::new(None);

fn lock_pool() -> MutexGuard<'static, Option<Pool>> {
    // The guarded value is rebuilt from scratch when stale, so a poisoned lock is harmless.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The default thread count, worked out once, when first needed. Not on every call: `getenv`
/// racing a C host's `setenv` on another thread is undefined behaviour in glibc (Rust's own
/// environment lock does not cover C callers), and `available_parallelism` reads cgroup files.
fn default_threads() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        std::env::var(THREADS_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| (1..=MAX_THREADS).contains(&n))
            .unwrap_or_else(|| {
                // The same ceiling as an explicit request, even on machines with more CPUs.
                std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
            })
    })
}

fn resolved_threads() -> usize {
    match REQUESTED.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    }
}

/// Sets the number of threads (the calling thread included) that large calls use; 0 restores
/// the default. Calls already running finish on the pool they started with.
pub fn set_num_threads(n: usize) -> Result<(), TooManyThreads> {
    if n > MAX_THREADS {
        return Err(TooManyThreads(n));
    }
    REQUESTED.store(n, Ordering::Relaxed);
    let mut pool = lock_pool();
    forget_if_inherited(&mut pool);
    if pool
        .as_ref()
        .is_some_and(|p| p.threads != resolved_threads())
    {
        *pool = None;
    }
    Ok(())
}

/// The number of threads (the calling thread included) that large calls use.
pub fn num_threads() -> usize {
    resolved_threads()
}

/// Drops an inherited pool without touching it: in a forked child its workers do not exist, and
/// its locks may have been held by one of them at the moment of `fork()`. Leaked (a few hundred
/// bytes, once per fork).
fn forget_if_inherited(pool: &mut Option<Pool>) {
    if pool.as_ref().is_some_and(|p| !p.is_ours()) {
        std::mem::forget(pool.take());
    }
}

/// Returns the current pool, building it if it is missing, stale, or inherited through `fork()`.
fn current_pool() -> (usize, Option<Arc<ThreadPool>>) {
    let threads = resolved_threads();
    let mut guard = lock_pool();
    // The generation is read (and the fork handler registered) before a pool is built.
    forget_if_inherited(&mut guard);
    if let Some(pool) = guard.as_ref()
        && pool.threads == threads
    {
        return (threads, pool.workers.clone());
    }
    let generation = fork::generation();
    let workers = if threads > 1 {
        ThreadPoolBuilder::new()
            .num_threads(threads - 1)
            .thread_name(|i| format!("mml-worker-{i}"))
            .build()
            .ok()
            .map(Arc::new)
    } else {
        None
    };
    *guard = Some(Pool {
        threads,
        workers: workers.clone(),
        generation,
        pid: std::process::id(),
    });
    (threads, workers)
}

/// Runs `f` once on every item. Items are handed out in order to the calling thread and up to
/// `threads - 1` pool workers; with one thread, or when no worker could be started, the calling
/// thread runs them all. A panic in `f` reaches the caller once every started item has finished.
pub fn for_each<W: Send>(items: Vec<W>, f: impl Fn(W) + Sync) {
    let (threads, workers) = if items.len() > 1 {
        current_pool()
    } else {
        (1, None)
    };
    let Some(workers) = workers else {
        items.into_iter().for_each(f);
        return;
    };
    let helpers = (threads - 1).min(items.len() - 1);
    let slots: Vec<Mutex<Option<W>>> = items.into_iter().map(|w| Mutex::new(Some(w))).collect();
    let next = AtomicUsize::new(0);
    let drain = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = slots.get(i) else { break };
            let item = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(item) = item {
                f(item);
            }
        }
    };
    workers.in_place_scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|_| drain());
        }
        drain();
    });
}
