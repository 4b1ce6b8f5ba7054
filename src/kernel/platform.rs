//! The one module naming every kernel path: the instruction set calls use (detected once,
//! `MML_ISA` overrides), and the table that picks, once per call, the backend entry and schedule
//! (its [`Plan`]; docs/DESIGN.md, "Dispatch"). Backends implement the same few entries.

use super::element::{Element, Targets};
use super::real::Real;
use super::schedule::{Entries, Entry, Schedule, by_reference};
use super::sum;
use super::task::{Params, Task};
use super::vector::{MAX_LANES, NEXT_BLOCK_L1_MAX_CLASSES, PREFETCH_MIN_CLASSES};
use super::wide;
#[cfg(target_arch = "x86_64")]
use super::{avx2, avx512};

use std::sync::atomic::{AtomicU8, Ordering};

/// Environment variable that forces a kernel path: `scalar`, `wide`, `avx2` or `avx512`. A path
/// the CPU lacks is clamped down to the best one it has; an unknown value is ignored.
pub const ISA_ENV: &str = "MML_ISA";

/// A kernel path, from the slowest to the fastest. Every path gives the same bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// The scalar reference, PyTorch's loops transcribed.
    Scalar,
    /// Portable vectors from the `wide` crate: SSE2 on baseline x86-64, NEON on aarch64.
    Wide,
    /// 256-bit AVX2 vectors (entry points also enable FMA, which the arithmetic never uses).
    Avx2,
    /// 512-bit AVX-512F vectors with mask registers.
    Avx512,
}

// Not part of the C ABI (the header is generated from every public item).
/// cbindgen:ignore
impl Isa {
    /// Every path, slowest first.
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Wide, Isa::Avx2, Isa::Avx512];

    /// The name `MML_ISA` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Wide => "wide",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Parses an `MML_ISA` value (case-insensitive, surrounding blanks ignored).
    pub fn from_name(name: &str) -> Option<Isa> {
        let name = name.trim();
        Isa::ALL
            .into_iter()
            .find(|isa| isa.name().eq_ignore_ascii_case(name))
    }

    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        self <= best()
    }

    /// The paths this CPU can run, slowest first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL
            .into_iter()
            .filter(|isa| isa.is_available())
            .collect()
    }

    /// The best available path not above this one.
    #[inline]
    pub fn clamped(self) -> Isa {
        self.min(best())
    }

    /// The path calls use: `MML_ISA` (clamped) if set and valid, else the best available; decided
    /// at first use, for the life of the process. Inlined: one load and a predictable branch.
    #[inline]
    pub fn selected() -> Isa {
        static SELECTED: AtomicU8 = AtomicU8::new(UNKNOWN);
        #[cold]
        #[inline(never)]
        fn select(selected: &AtomicU8) -> Isa {
            let isa = std::env::var(ISA_ENV)
                .ok()
                .and_then(|v| Isa::from_name(&v))
                .map_or_else(best, Isa::clamped);
            // Racing first calls compute the same value, so a plain store is enough.
            selected.store(isa as u8, Ordering::Relaxed);
            isa
        }
        from_code(SELECTED.load(Ordering::Relaxed)).unwrap_or_else(|| select(&SELECTED))
    }
}

const UNKNOWN: u8 = u8::MAX;

#[inline]
fn from_code(code: u8) -> Option<Isa> {
    Isa::ALL.get(usize::from(code)).copied()
}

/// The best path this CPU supports, detected once.
#[inline]
fn best() -> Isa {
    static BEST: AtomicU8 = AtomicU8::new(UNKNOWN);
    #[cold]
    #[inline(never)]
    fn detect_once(best: &AtomicU8) -> Isa {
        let isa = detect();
        best.store(isa as u8, Ordering::Relaxed);
        isa
    }
    from_code(BEST.load(Ordering::Relaxed)).unwrap_or_else(|| detect_once(&BEST))
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Isa {
    // F16C (every AVX2 CPU has it) widens `f16` scores on the AVX2 path.
    let avx2 = std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c");
    // The AVX-512 path also runs AVX2 code (see the table below), and `MML_ISA=avx2` must work
    // wherever `avx512` does.
    if avx2 && std::is_x86_feature_detected!("avx512f") {
        Isa::Avx512
    } else if avx2 {
        Isa::Avx2
    } else {
        Isa::Wide
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Isa {
    Isa::Wide
}

/// What a task computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The loss alone.
    Forward,
    /// The gradient alone.
    Backward,
    /// Both, in one pass.
    Fused,
}

impl Op {
    /// The operation `task` asks for.
    #[inline(always)]
    pub fn of<S: Element>(task: &Task<'_, S>) -> Op {
        match (&task.loss, &task.grad) {
            (_, None) => Op::Forward,
            (super::task::LossOut::Skip, Some(_)) => Op::Backward,
            (_, Some(_)) => Op::Fused,
        }
    }
}

/// How a call runs: the backend entry (none: the scalar reference) and the schedule; once per
/// call from path, `c`, operation, size, element type.
#[derive(Clone, Copy)]
pub struct Plan<S: Element> {
    isa: Isa,
    entry: Option<Entry<S>>,
    schedule: Schedule,
}

impl<S: Kernels> Plan<S> {
    /// The plan for one task (a call below the parallel threshold, or a block) on `isa`
    /// (clamped to the best path this CPU has).
    #[inline(always)]
    pub fn new(isa: Isa, c: usize, op: Op) -> Self {
        let isa = isa.clamped();
        Plan {
            isa,
            entry: entry::<S>(isa, c, op),
            schedule: Schedule::default(),
        }
    }

    /// The plan for a large call's blocks (`n` rows, blocks of `block_rows`): from
    /// [`MEMORY_SCHEDULE_MIN_BYTES`] of scores, long forward rows in streams and rows too short
    /// for the block's own hints prefetched far ahead; summed forward blocks check their own
    /// targets (docs/DESIGN.md, schedule table).
    pub fn for_blocks(isa: Isa, c: usize, op: Op, (n, block_rows): (usize, usize)) -> Self {
        let isa = isa.clamped();
        let mut plan = Plan::new(isa, c, op);
        let bytes = n.saturating_mul(c).saturating_mul(size_of::<S>());
        let large = bytes >= MEMORY_SCHEDULE_MIN_BYTES;
        let simd = matches!(isa, Isa::Avx2 | Isa::Avx512) && plan.entry.is_some();
        plan.schedule = Schedule {
            streams: large
                && simd
                && op == Op::Forward
                && c > NEXT_BLOCK_L1_MAX_CLASSES
                && block_rows.min(n) >= 2 * MAX_LANES,
            ahead: large && simd && c < PREFETCH_MIN_CLASSES,
            checks_targets: op == Op::Forward,
        };
        plan
    }

    /// A plan with the schedule of the caller's choosing (for tests and benchmarks).
    #[doc(hidden)]
    pub fn with_schedule(isa: Isa, c: usize, op: Op, schedule: Schedule) -> Self {
        Plan {
            schedule,
            ..Plan::new(isa, c, op)
        }
    }

    /// How the plan's blocks run.
    #[inline(always)]
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// The path the plan runs on (clamped to what this CPU has).
    #[inline(always)]
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Whether a summed call of `n` rows on one thread adds its row losses in any order where
    /// that provably gives the chain's bits (`engine::sum_by_blocks`): from the widest vector's
    /// rows on (fewer adds cost less than the pass), on every path but the scalar one (PyTorch's
    /// loops, chain and all), for losses computed in `f32` (the proof declines `f64` ones; their
    /// kernel keeps its chain beside its arithmetic).
    #[inline(always)]
    pub fn sums_in_any_order(&self, n: usize) -> bool {
        n >= MAX_LANES && self.isa != Isa::Scalar && size_of::<S::Real>() == size_of::<f32>()
    }

    /// Runs `task` as planned, where the caller wrote it. Every plan gives the reference's bits.
    #[inline(always)]
    pub fn run(&self, params: &Params<S::Real>, c: usize, task: &mut Task<'_, S>) {
        match self.entry {
            // SAFETY: `entry` names only entries of an available path (`isa.clamped()`), whose
            // CPU features were detected.
            Some(entry) => unsafe { entry(self.schedule, params, c, task) },
            None => by_reference(params, c, task),
        }
    }
}

/// From this many bytes of scores on, a large call's blocks are planned for memory: streams,
/// prefetches far ahead (smaller inputs stay in cache between calls, where these gain nothing or
/// lose).
pub const MEMORY_SCHEDULE_MIN_BYTES: usize = 16 << 20;

/// An element type's entries on every backend: `wide`'s, AVX2's and AVX-512's.
pub trait Kernels: Element + Sized {
    #[doc(hidden)]
    const BACKENDS: [Entries<Self>; 3];
}

/// `wide`'s, AVX2's and AVX-512's constant `$name` (elsewhere than x86, none for the x86 paths,
/// which are never available there).
macro_rules! backends {
    ($name:ident) => {
        [
            wide::$name,
            #[cfg(target_arch = "x86_64")]
            avx2::$name,
            #[cfg(target_arch = "x86_64")]
            avx512::$name,
            #[cfg(not(target_arch = "x86_64"))]
            Entries::NONE,
            #[cfg(not(target_arch = "x86_64"))]
            Entries::NONE,
        ]
    };
}

impl Kernels for f32 {
    const BACKENDS: [Entries<f32>; 3] = backends!(F32);
}
impl Kernels for f64 {
    const BACKENDS: [Entries<f64>; 3] = backends!(F64);
}
impl Kernels for half::bf16 {
    const BACKENDS: [Entries<half::bf16>; 3] = backends!(BF16);
}
impl Kernels for half::f16 {
    const BACKENDS: [Entries<half::f16>; 3] = backends!(F16);
}

/// The table: which backend entry runs a task of `c` classes and operation `op` on `isa` (an
/// available path); `None`: the scalar reference.
#[inline(always)]
fn entry<S: Kernels>(isa: Isa, c: usize, op: Op) -> Option<Entry<S>> {
    let [wide, avx2, avx512] = &S::BACKENDS;
    let forward = op == Op::Forward;
    let f64 = size_of::<S::Real>() == size_of::<f64>();
    let backend = match isa {
        Isa::Scalar => return None,
        Isa::Wide => wide,
        Isa::Avx2 => avx2,
        Isa::Avx512 if f64 => avx512,
        // `f32` rows of 9 to 16 classes are one AVX-512 tile; shorter ones fill at most half of
        // it, and 17 to 256 classes (and long rows with a gradient) run faster in AVX2's 8-row
        // blocks; from 257 on, forward blocks are AVX-512's again (docs/DESIGN.md).
        Isa::Avx512 if (9..=16).contains(&c) => avx512,
        Isa::Avx512 if forward && c > NEXT_BLOCK_L1_MAX_CLASSES => avx512,
        Isa::Avx512 => avx2,
    };
    backend.get(forward, c)
}

/// PyTorch's serial float64 sum `((total + l0) + l1) + …` of `losses`, in any order with the
/// vectors of `isa` (an available path) where that provably gives its bits, else `None` (`sum`).
#[inline]
pub fn sum_in_any_order<T: Real>(isa: Isa, total: f64, losses: &[T]) -> Option<f64> {
    let losses = T::as_f32s(losses)?;
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is available, so the CPU has AVX-512F, AVX2 and FMA.
        Isa::Avx512 => unsafe { avx512::sum_in_any_order(total, losses) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is available, so the CPU has AVX2 and FMA.
        Isa::Avx2 => unsafe { avx2::sum_in_any_order(total, losses) },
        _ => portable_sum_in_any_order(total, losses),
    }
}

/// The portable pass, out of line (callers inline only the dispatch above).
#[inline(never)]
fn portable_sum_in_any_order(total: f64, losses: &[f32]) -> Option<f64> {
    sum::sum_in_any_order(total, losses)
}

/// The first row whose target lies outside `[0, c)`, read once with the vector compares of
/// `isa` (an available path); the same answer on every path.
#[inline(always)]
pub fn first_bad_target(isa: Isa, target: Targets<'_>, c: usize) -> Option<usize> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is available, so the CPU has AVX-512F, AVX2 and FMA.
        Isa::Avx512 => unsafe { avx512::first_bad_target(target, c) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is available, so the CPU has AVX2 and FMA.
        Isa::Avx2 => unsafe { avx2::first_bad_target(target, c) },
        _ => super::element::first_bad_target(target, c),
    }
}
