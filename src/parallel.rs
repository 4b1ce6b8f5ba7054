//! The library's own thread pool, and the one way work is spread over it.
//!
//! Work is always cut into fixed blocks by the caller (their size depends only on the shape), so
//! the thread count changes who computes a block, never what a block computes: results are
//! identical for every thread count. The pool is not rayon's global pool, nor rayon at all: a
//! host's own parallel work must not queue behind ours, nor ours behind it, and a call must not
//! allocate (rayon boxes every spawned job and grows its queues as it goes, and Rust aborts the
//! process when such an allocation fails). It is built lazily, holds `threads - 1` workers
//! because the calling thread takes part, and is rebuilt in a child process after `fork()`,
//! where the parent's workers do not exist.
//!
//! A call posts its work (a loop that takes items from a shared iterator under a lock until
//! none is left) to the idle workers and runs the same loop itself, then waits until every
//! worker that joined has left it. Nothing of this allocates. One call at a time uses the
//! workers; a call that finds them busy with another runs on its own thread, with the same
//! bits. Idle workers wait a little (yielding the CPU) before they sleep, so that back-to-back
//! calls do not pay for waking them.
//!
//! This module holds the one `unsafe` that a pool of threads which run borrowed work needs (see
//! [`Workers::run`]).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

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
    /// `threads - 1` workers; `None` when `threads == 1` or the OS refused to start them.
    workers: Option<Arc<Workers>>,
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
        // Its workers exit once the calls still running on it end.
        *pool = None;
    }
    Ok(())
}

/// The number of threads (the calling thread included) that large calls use.
pub fn num_threads() -> usize {
    resolved_threads()
}

/// Drops an inherited pool without touching it: in a forked child its workers do not exist, and
/// its lock may have been held by one of them at the moment of `fork()`. Leaked (a few hundred
/// bytes, once per fork).
fn forget_if_inherited(pool: &mut Option<Pool>) {
    if pool.as_ref().is_some_and(|p| !p.is_ours()) {
        std::mem::forget(pool.take());
    }
}

/// Returns the current pool, building it if it is missing, stale, or inherited through `fork()`.
fn current_pool() -> (usize, Option<Arc<Workers>>) {
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
        Workers::start(threads - 1)
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

/// The threads one call runs on: the calling thread, and the pool's workers where the call has
/// more than one work item and the pool has workers.
pub struct Team {
    /// The workers the call may use, at most one fewer than its items.
    helpers: usize,
    workers: Option<Arc<Workers>>,
}

impl Team {
    /// The team for a call of `items` work items; builds the pool if it is needed and missing.
    pub fn for_items(items: usize) -> Team {
        let (threads, workers) = if items > 1 { current_pool() } else { (1, None) };
        Team {
            helpers: (threads - 1).min(items.saturating_sub(1)),
            workers,
        }
    }

    /// The threads that run the call's items, the calling thread included.
    pub fn threads(&self) -> usize {
        if self.workers.is_some() {
            self.helpers + 1
        } else {
            1
        }
    }

    /// Whether the calling thread runs every item, one after another.
    pub fn is_alone(&self) -> bool {
        self.workers.is_none()
    }

    /// Runs `f` once on every item. The items are taken in order, one at a time, by the calling
    /// thread and the team's workers; without workers the calling thread runs them all. A
    /// panic in `f` reaches the caller once every item taken has finished. Allocates nothing.
    pub fn for_each<I>(&self, items: I, f: impl Fn(I::Item) + Sync)
    where
        I: Iterator + Send,
        I::Item: Send,
    {
        let Some(workers) = &self.workers else {
            items.for_each(f);
            return;
        };
        let queue = Mutex::new(items);
        let drain = || {
            loop {
                // The lock is held only while the iterator makes the next item.
                let item = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                let Some(item) = item else { break };
                f(item);
            }
        };
        workers.run(self.helpers, &drain);
    }
}

/// Runs `f` once on every item, on the calling thread and up to `threads - 1` pool workers
/// (see [`Team::for_each`]).
pub fn for_each<I>(items: I, f: impl Fn(I::Item) + Sync)
where
    I: IntoIterator,
    I::IntoIter: ExactSizeIterator + Send,
    I::Item: Send,
{
    let items = items.into_iter();
    Team::for_items(items.len()).for_each(items, f)
}

/// A call's work as the workers see it: its drain loop, borrowed from the calling thread for as
/// long as the call waits (see [`Workers::run`]).
type Job = &'static (dyn Fn() + Sync);

/// How many times an idle worker yields the CPU, looking for the next call, before it sleeps.
/// Waking a sleeping thread takes microseconds, as long as the smallest large call takes.
const IDLE_ROUNDS: usize = 64;

/// The workers of one pool. Dropping the last handle (the pool's, or a running call's once the
/// pool was replaced) tells them to exit.
struct Workers {
    shared: Arc<Shared>,
}

/// What the workers and the calls share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Idle workers wait here for a call, or for the end.
    wake: Condvar,
    /// A call waits here for the workers that joined it to leave.
    done: Condvar,
    /// The number of the last call posted, or `u64::MAX` at the end: what idle workers watch
    /// before they sleep, without the lock.
    posted: AtomicU64,
}

#[derive(Default)]
struct State {
    /// The running call's work, while it takes helpers.
    job: Option<Job>,
    /// The number of the last call posted (from 1).
    call: u64,
    /// Workers that call may use, and those that joined it.
    wanted: usize,
    joined: usize,
    /// Workers inside a call's work.
    running: usize,
    /// Workers that have started.
    started: usize,
    /// Whether the work panicked on a worker.
    panicked: bool,
    /// Set once the last handle is gone.
    exit: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one would still hold a sound state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the running call: no worker joins it any more, and those that did have left it.
    /// Returns whether the work panicked on one of them.
    fn retire(&self) -> bool {
        let mut state = self.lock();
        state.job = None;
        while state.running > 0 {
            state = self
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        std::mem::take(&mut state.panicked)
    }
}

impl Workers {
    /// Starts `count` workers and waits until each runs; `None` if the OS refuses one (those
    /// started then exit). Everything a worker's start allocates (the standard library's thread
    /// bookkeeping, on the new thread) is done when this returns, so that it happens within the
    /// call that builds the pool, never during a later one.
    fn start(count: usize) -> Option<Arc<Workers>> {
        let shared = Arc::new(Shared::default());
        let workers = Arc::new(Workers {
            shared: Arc::clone(&shared),
        });
        for i in 0..count {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("mml-worker-{i}"))
                .spawn(move || work(&shared))
                .ok()?;
        }
        let mut state = shared.lock();
        while state.started < count {
            state = shared
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        drop(state);
        Some(workers)
    }

    /// Runs `drain` on the calling thread and on up to `helpers` idle workers at once, and
    /// returns once every one of them has returned from it. If another call has the workers,
    /// the calling thread runs it alone. A panic on a worker panics here afterwards.
    fn run(&self, helpers: usize, drain: &(dyn Fn() + Sync)) {
        let shared = &*self.shared;
        let mut state = shared.lock();
        if state.job.is_some() || state.running > 0 {
            drop(state);
            drain();
            return;
        }
        // SAFETY: only the lifetime changes. The reference is stored in `state.job` from here
        // until `retire` clears it, and `retire` returns only once every worker that took it
        // has returned from it (`running`, counted under the same lock as the taking); it runs
        // before this function returns or unwinds (`Retire` below), so no worker uses `drain`
        // after its borrow ends.
        let job: Job = unsafe { std::mem::transmute::<&(dyn Fn() + Sync), Job>(drain) };
        state.call += 1;
        state.job = Some(job);
        state.wanted = helpers;
        state.joined = 0;
        shared.posted.store(state.call, Ordering::Release);
        drop(state);
        shared.wake.notify_all();

        /// Retires the call if `drain` unwinds on the calling thread.
        struct Retire<'a>(&'a Shared);
        impl Drop for Retire<'_> {
            fn drop(&mut self) {
                self.0.retire();
            }
        }
        let retire = Retire(shared);
        drain();
        std::mem::forget(retire);
        if shared.retire() {
            panic!("mml's work panicked on a pool worker");
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.exit = true;
        self.shared.posted.store(u64::MAX, Ordering::Release);
        drop(state);
        self.shared.wake.notify_all();
    }
}

/// A worker: takes each posted call's work while the call wants helpers, until the end.
fn work(shared: &Shared) {
    shared.lock().started += 1;
    shared.done.notify_all();
    let mut seen = 0;
    loop {
        // Yield a while before sleeping: the next call often follows at once.
        for _ in 0..IDLE_ROUNDS {
            if shared.posted.load(Ordering::Acquire) != seen {
                break;
            }
            std::thread::yield_now();
        }
        let job = {
            let mut state = shared.lock();
            loop {
                if state.exit {
                    return;
                }
                if state.call != seen {
                    seen = state.call;
                    if let Some(job) = state.job
                        && state.joined < state.wanted
                    {
                        state.joined += 1;
                        state.running += 1;
                        break job;
                    }
                }
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let finished = catch_unwind(AssertUnwindSafe(job)).is_ok();
        let mut state = shared.lock();
        state.panicked |= !finished;
        state.running -= 1;
        if state.running == 0 {
            shared.done.notify_all();
        }
    }
}
