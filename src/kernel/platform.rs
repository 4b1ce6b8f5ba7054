//! The one module that names every kernel path: which instruction set a call uses (detected
//! once, overridable with `MML_ISA`), and the table that picks, once per call, which backend
//! entry runs it and in which schedule (its [`Plan`]). Each backend file implements the same few
//! entries (`schedule::entries!`); the rules between them live here, one `match` per operation.

use super::element::{Element, Targets};
use super::real::Real;
use super::reference;
use super::schedule::{Entry, Schedule, Work};
use super::sum;
use super::task::{Params, Task};
use super::vector::{MAX_LANES, NEXT_BLOCK_L1_MAX_CLASSES};
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
    /// 512-bit AVX-512F vectors with mask registers and hardware scatter.
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

    /// The path calls use: `MML_ISA` (clamped) if set and valid, else the best available. Decided at first use and kept for the life of the process.
    /// Inlined, as every call asks: one load and a predictable branch.
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

/// How a call runs: which backend entry (none: the scalar reference), in which schedule, and
/// whether a large call's blocks go in pairs. Computed once per call from the path, the class
/// count, the operation, the size and the element type.
#[derive(Clone, Copy)]
pub struct Plan<S: Element> {
    isa: Isa,
    entry: Option<Entry<S>>,
    schedule: Schedule,
    pairs: bool,
}

impl<S: Kernels> Plan<S> {
    /// The plan for one task (a call below the parallel threshold, or a block) on `isa`
    /// (clamped to the best path this CPU has).
    #[inline(always)]
    pub fn new(isa: Isa, c: usize, op: Op) -> Self {
        let isa = isa.clamped();
        Plan {
            isa,
            entry: S::entry(isa, c, op),
            schedule: Schedule::default(),
            pairs: false,
        }
    }

    /// The plan for the blocks of a large call of `n` rows, `blocks` blocks of `block_rows`, on
    /// `threads` threads: from [`STREAMED_MIN_BYTES`] of scores, forward blocks of long rows
    /// read their rows in streams, and blocks of 9 to 31 classes run in pairs (see
    /// `docs/DESIGN.md`); a summed forward call's blocks check their own targets.
    pub fn for_blocks(
        isa: Isa,
        c: usize,
        op: Op,
        (n, block_rows, threads): (usize, usize, usize),
    ) -> Self {
        let isa = isa.clamped();
        let mut plan = Plan::new(isa, c, op);
        let large = n.saturating_mul(c).saturating_mul(size_of::<S>()) >= STREAMED_MIN_BYTES;
        let simd = matches!(isa, Isa::Avx2 | Isa::Avx512) && plan.entry.is_some();
        plan.schedule = Schedule {
            streams: large
                && simd
                && op == Op::Forward
                && c > NEXT_BLOCK_L1_MAX_CLASSES
                && block_rows.min(n) >= 2 * MAX_LANES,
            checks_targets: op == Op::Forward,
        };
        plan.pairs = large
            && simd
            && op == Op::Forward
            && PAIRED_CLASSES.contains(&c)
            && n.div_ceil(block_rows) >= PAIRED_MIN_BLOCKS_PER_THREAD * threads;
        plan
    }

    /// A plan with the schedule of the caller's choosing (for tests and benchmarks): long forward
    /// rows in streams, summed forward tasks checking their own targets.
    #[doc(hidden)]
    pub fn with_schedule(isa: Isa, c: usize, op: Op, streams: bool, checks_targets: bool) -> Self {
        Plan {
            schedule: Schedule {
                streams,
                checks_targets,
            },
            ..Plan::new(isa, c, op)
        }
    }

    /// Whether forward blocks of long rows read their rows in streams.
    #[inline(always)]
    pub fn streams(&self) -> bool {
        self.schedule.streams
    }

    /// The path the plan runs on (clamped to what this CPU has).
    #[inline(always)]
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Whether a large call's blocks go to [`Plan::run`] in pairs of neighbours.
    #[inline(always)]
    pub fn pairs(&self) -> bool {
        self.pairs
    }

    /// Whether summed forward blocks check their own targets (see `Partials::bad_target`).
    #[inline(always)]
    pub fn checks_targets(&self) -> bool {
        self.schedule.checks_targets
    }

    /// Runs `work` as planned. Every plan gives the reference's bits.
    #[inline(always)]
    pub fn run(&self, params: &Params<S::Real>, c: usize, work: Work<'_, '_, S>) {
        match self.entry {
            // SAFETY: `S::entry` names only entries of an available path (`isa.clamped()`), whose
            // CPU features were detected.
            Some(entry) => unsafe { entry(self.schedule, params, c, work) },
            None => {
                reference::run(params, c, work.first.reborrow());
                if let Some(second) = work.second {
                    reference::run(params, c, second.reborrow());
                }
            }
        }
    }

    /// Runs one task as planned.
    #[inline(always)]
    pub fn run_one(&self, params: &Params<S::Real>, c: usize, mut task: Task<'_, S>) {
        let work = Work {
            first: &mut task,
            second: None,
        };
        self.run(params, c, work)
    }
}

/// From this many bytes of scores on, a large call's blocks are planned for memory: streams,
/// pairs (smaller inputs stay in cache between calls, where these gain nothing or lose).
pub const STREAMED_MIN_BYTES: usize = 16 << 20;
/// Rows of these many classes run in pairs: shorter rows gained nothing, longer ones prefetch
/// the next block themselves.
const PAIRED_CLASSES: std::ops::RangeInclusive<usize> = 9..=31;
/// Pairs also need this many blocks per thread: they halve the work items.
pub const PAIRED_MIN_BLOCKS_PER_THREAD: usize = 8;

/// The table: which entry of which backend runs a task of `c` classes and operation `op` on an
/// available path, for one element type.
pub trait Kernels: Element + Sized {
    #[doc(hidden)]
    fn entry(isa: Isa, c: usize, op: Op) -> Option<Entry<Self>>;
}

/// One element type's entries on one backend: the four kinds of block body.
struct Entries<S: Element> {
    forward_short: Entry<S>,
    forward_long: Entry<S>,
    gradient_short: Entry<S>,
    gradient_long: Entry<S>,
}

/// A backend's four entries for one element type, by their name suffix.
macro_rules! entries_of {
    ($backend:ident, $forward_short:ident, $forward_long:ident, $gradient_short:ident,
     $gradient_long:ident) => {
        Entries {
            forward_short: $backend::$forward_short,
            forward_long: $backend::$forward_long,
            gradient_short: $backend::$gradient_short,
            gradient_long: $backend::$gradient_long,
        }
    };
}

/// The table for scores computed in `f32` (stored as `f32`, `bf16` or `f16`), given each
/// backend's entries for the storage type (AVX-512's `gradient_long` is never chosen).
#[inline(always)]
fn f32_entry<S: Element>(
    isa: Isa,
    c: usize,
    op: Op,
    [wide, avx2, avx512]: [Entries<S>; 3],
) -> Option<Entry<S>> {
    let forward = op == Op::Forward;
    let short = |tile: usize| c <= tile;
    Some(match isa {
        Isa::Scalar => return None,
        Isa::Wide => match (forward, short(8)) {
            (true, true) => wide.forward_short,
            (true, false) => wide.forward_long,
            (false, true) => wide.gradient_short,
            (false, false) => wide.gradient_long,
        },
        // Rows of 9 to 16 classes are one AVX-512 tile; shorter ones fill at most half of it,
        // whose transpose costs the same whatever the width (AVX2's 8×8 tiles: forward 1.7×,
        // backward and fused 1.3× faster at c = 3). Longer rows up to 256 classes ran
        // 1.05–1.6× faster with AVX2's 8-row blocks, whose next block fits L1 better; from
        // 257 on, forward blocks are AVX-512's again (1.24× at 65536x257). Long rows with a
        // gradient are AVX2's (16 rows of 64-byte loads and stores, each a stream of its
        // own, ran 15–50% slower).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if (9..=16).contains(&c) => {
            if forward {
                avx512.forward_short
            } else {
                avx512.gradient_short
            }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if forward && c > NEXT_BLOCK_L1_MAX_CLASSES => avx512.forward_long,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 => match (forward, short(8)) {
            (true, true) => avx2.forward_short,
            (true, false) => avx2.forward_long,
            (false, true) => avx2.gradient_short,
            (false, false) => avx2.gradient_long,
        },
        #[cfg(not(target_arch = "x86_64"))]
        Isa::Avx2 | Isa::Avx512 => unreachable!("x86 paths are never available elsewhere"),
    })
}

/// Each backend's entries for one storage type computed in `f32`, by name: wide's, AVX2's and
/// AVX-512's (elsewhere than x86, wide's stand in for the x86 paths, never chosen there).
macro_rules! f32_backends {
    ($fs:ident, $fl:ident, $gs:ident, $gl:ident) => {{
        let wide = entries_of!(wide, $fs, $fl, $gs, $gl);
        #[cfg(target_arch = "x86_64")]
        let x86 = [
            entries_of!(avx2, $fs, $fl, $gs, $gl),
            // AVX-512 has no long gradient body (the table never picks one): AVX2's stands in.
            Entries {
                gradient_long: avx2::$gl,
                ..entries_of!(avx512, $fs, $fl, $gs, $gs)
            },
        ];
        #[cfg(not(target_arch = "x86_64"))]
        let x86 = [
            entries_of!(wide, $fs, $fl, $gs, $gl),
            entries_of!(wide, $fs, $fl, $gs, $gl),
        ];
        let [avx2, avx512] = x86;
        [wide, avx2, avx512]
    }};
}

impl Kernels for f32 {
    #[inline(always)]
    fn entry(isa: Isa, c: usize, op: Op) -> Option<Entry<f32>> {
        let backends = f32_backends!(
            forward_short_f32,
            forward_long_f32,
            gradient_short_f32,
            gradient_long_f32
        );
        f32_entry(isa, c, op, backends)
    }
}

impl Kernels for half::bf16 {
    #[inline(always)]
    fn entry(isa: Isa, c: usize, op: Op) -> Option<Entry<half::bf16>> {
        let backends = f32_backends!(
            forward_short_bf16,
            forward_long_bf16,
            gradient_short_bf16,
            gradient_long_bf16
        );
        f32_entry(isa, c, op, backends)
    }
}

impl Kernels for half::f16 {
    #[inline(always)]
    fn entry(isa: Isa, c: usize, op: Op) -> Option<Entry<half::f16>> {
        let backends = f32_backends!(
            forward_short_f16,
            forward_long_f16,
            gradient_short_f16,
            gradient_long_f16
        );
        f32_entry(isa, c, op, backends)
    }
}

impl Kernels for f64 {
    #[inline(always)]
    fn entry(isa: Isa, c: usize, op: Op) -> Option<Entry<f64>> {
        let forward = op == Op::Forward;
        Some(match isa {
            Isa::Scalar => return None,
            Isa::Wide => match (forward, c <= 8) {
                (true, true) => wide::forward_short_f64,
                (true, false) => wide::forward_long_f64,
                (false, true) => wide::gradient_short_f64,
                (false, false) => wide::gradient_long_f64,
            },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => match (forward, c <= 4) {
                (true, true) => avx2::forward_short_f64,
                (true, false) => avx2::forward_long_f64,
                (false, true) => avx2::gradient_short_f64,
                (false, false) => avx2::gradient_long_f64,
            },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => match (forward, c <= 8) {
                (true, true) => avx512::forward_short_f64,
                (true, false) => avx512::forward_long_f64,
                (false, true) => avx512::gradient_short_f64,
                (false, false) => avx512::gradient_long_f64,
            },
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => unreachable!("x86 paths are never available elsewhere"),
        })
    }
}

/// PyTorch's serial float64 sum `((total + l0) + l1) + …` of `losses`, computed with the
/// vectors of `isa` (an available path) without the chain where that provably gives its bits; `None`
/// otherwise (see `sum`).
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
