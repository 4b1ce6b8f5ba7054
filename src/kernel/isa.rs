//! Which instruction set the kernels use: detected once, overridable with `MML_ISA`.

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

    /// The path [`crate::kernel::run`] uses: `MML_ISA` (clamped) if set and valid, else the best
    /// available. Decided at first use and kept for the life of the process.
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
    let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
    // The AVX-512 path also runs AVX2 code (rows of c <= 8, long-row gradients), and
    // `MML_ISA=avx2` must work wherever `avx512` does.
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
