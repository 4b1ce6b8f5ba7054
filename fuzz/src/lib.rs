//! The fuzz driver behind every target in `fuzz_targets/`: it decodes the fuzzer's bytes into a
//! call of the C ABI (`mml::ffi`, called as `extern "C"` functions), makes it, and checks it.
//!
//! Every run:
//! - creates a handle (arbitrary `p`, margin, weights, reduction; in `Mode::Create` also NULL or
//!   misaligned `out`, NULL or misaligned weights with nonzero length, unknown `p`/reduction);
//! - lays out every buffer of the call in one allocation (the arena): aligned, misaligned, NULL
//!   (with zero and nonzero length), or carved over another buffer (overlap), with lengths that
//!   do and don't match, filled with NaN/Inf/subnormal/tie/raw-bit scores and in- and
//!   out-of-range (negative, `c`, `i64::MIN`, …) targets; NULL or misaligned handles;
//!   rarely an `n·c` that overflows with small real buffers;
//! - computes the set of statuses the call may return (every error that applies; none means
//!   `MML_STATUS_OK`), and asserts the status is in it;
//! - on an error, asserts that not one byte of the arena changed (canary);
//! - on success, asserts the outputs equal the scalar oracle (`tests/oracle/mod.rs`) bit for bit
//!   (NaN sign and payload included) and that no byte outside the outputs changed.
//!
//! Any failed assertion aborts the run: libFuzzer records it as a crash.

#[path = "../../tests/oracle/mod.rs"]
pub mod oracle;
pub mod tensors;

use std::collections::BTreeSet;
use std::ffi::CStr;
use std::mem::{align_of, size_of};

use mml::ffi::*;
use mml::{Power, Reduction};
use oracle::{Elem, Spec, same};

/// The fuzzer's bytes, read front to back; zeros once exhausted.
pub struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn uint(&mut self, bytes: usize) -> u64 {
        (0..bytes).fold(0u64, |acc, i| acc | (u64::from(self.u8()) << (8 * i)))
    }
    pub fn u16(&mut self) -> u16 {
        self.uint(2) as u16
    }
    pub fn u32(&mut self) -> u32 {
        self.uint(4) as u32
    }
    pub fn u64(&mut self) -> u64 {
        self.uint(8)
    }
    /// A value in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { self.u16() as usize % n }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Create,
    Forward,
    Backward,
    Fused,
}

/// Largest `n·c` a run allocates for real.
pub const MAX_ELEMENTS: usize = 4096;

pub fn run(data: &[u8], mode: Mode) {
    let mut r = Bytes(data);
    if r.u8() & 1 == 0 {
        run_typed::<f32>(&mut r, mode);
    } else {
        run_typed::<f64>(&mut r, mode);
    }
}

fn value<T: Elem>(r: &mut Bytes) -> T {
    match r.u8() {
        // Small integers and halves: exact ties z == 0 with integer margins.
        b @ 0..=95 => T::from_f64((b % 24) as f64 / 2.0 - 6.0),
        b @ 96..=159 => T::SPECIAL[b as usize % T::SPECIAL.len()],
        160..=223 => T::from_f64(f64::from(r.u16() as i16) / 1024.0),
        _ => T::from_raw(r.u64()),
    }
}

fn margin(r: &mut Bytes) -> f64 {
    match r.u8() {
        0..=99 => 1.0,
        100..=139 => f64::from(r.u8() % 9) / 2.0 - 2.0,
        140 => f64::NAN,
        141 => f64::INFINITY,
        142 => f64::NEG_INFINITY,
        143 => 1.0e-40, // subnormal as f32
        144 => 1.0e300, // inf as f32
        145 => -0.0,
        146..=200 => f64::from(r.u16() as i16) / 4096.0,
        _ => f64::from_bits(r.u64()),
    }
}

fn weight_values(r: &mut Bytes, len: usize) -> Vec<f32> {
    (0..len).map(|_| value::<f32>(r)).collect()
}

fn target(r: &mut Bytes, c: usize) -> i64 {
    match r.u8() {
        0..=219 => r.below(c.max(1)) as i64,
        220..=227 => -1,
        228..=235 => c as i64,
        236..=239 => i64::MIN,
        240..=243 => i64::MAX,
        244..=247 => c as i64 + 1 + r.below(1000) as i64,
        _ => r.u64() as i64,
    }
}

/// `mml_create` with arbitrary arguments; returns the handle and its spec on success.
fn fuzz_create(r: &mut Bytes) -> Option<(oracle::Handle, Spec)> {
    let p = match r.u8() {
        0..=99 => 1,
        100..=199 => 2,
        _ => r.u32(),
    };
    let reduction = match r.u8() {
        b @ 0..=209 => u32::from(b % 3),
        _ => r.u32(),
    };
    let margin = margin(r);
    let weight_len = match r.u8() {
        0..=127 => 0,
        _ => r.below(40),
    };
    let weight = weight_values(r, weight_len);
    // Backing store aligned for f32; a misaligned pointer starts one byte in.
    let mut backing = vec![0u32; weight_len + 1];
    let weight_mode = r.u8();
    let weight_ptr: *const f32 = match weight_mode {
        0..=219 => backing.as_ptr().cast(),
        220..=237 => std::ptr::null(),
        _ => backing.as_ptr().cast::<u8>().wrapping_add(1).cast(),
    };
    // SAFETY: `backing` holds `weight_len + 1` u32s, enough for `weight_len` floats at byte 0 or 1.
    unsafe {
        let base = backing.as_mut_ptr().cast::<u8>();
        let at = if weight_mode >= 238 { 1 } else { 0 };
        for (i, w) in weight.iter().enumerate() {
            base.add(at + 4 * i).cast::<f32>().write_unaligned(*w);
        }
    }
    let before = backing.clone();

    const CANARY: usize = 0xdead_beef_a5a5_5a5a;
    let mut slots = [CANARY; 2];
    let out_mode = r.u8();
    let out_ptr: *mut *mut MmlLoss = match out_mode {
        0..=239 => slots.as_mut_ptr().cast(),
        240..=247 => std::ptr::null_mut(),
        _ => slots
            .as_mut_ptr()
            .cast::<u8>()
            .wrapping_add(1 + (out_mode as usize % 7))
            .cast(),
    };

    let mut expected = BTreeSet::new();
    if out_ptr.is_null() {
        expected.insert(MML_STATUS_NULL_POINTER);
    } else if !out_ptr.is_aligned() {
        expected.insert(MML_STATUS_INVALID_ARGUMENT);
    }
    if p != 1 && p != 2 {
        expected.insert(MML_STATUS_INVALID_ARGUMENT);
    }
    if reduction > 2 {
        expected.insert(MML_STATUS_INVALID_ARGUMENT);
    }
    if weight_len > 0 && weight_ptr.is_null() {
        expected.insert(MML_STATUS_NULL_POINTER);
    } else if weight_len > 0 && !weight_ptr.is_aligned() {
        expected.insert(MML_STATUS_INVALID_ARGUMENT);
    }

    // SAFETY: every non-NULL pointer is valid for its length (misaligned ones are refused by
    // contract before any access, which is what is checked).
    let status = unsafe { mml_create(p, margin, weight_ptr, weight_len, reduction, out_ptr) };
    assert_eq!(backing, before, "mml_create wrote into the weights");
    if status != MML_STATUS_OK {
        assert!(
            expected.contains(&status),
            "mml_create(p={p}, reduction={reduction}, weight_len={weight_len}) gave {status}, expected one of {expected:?}"
        );
        assert_eq!(slots, [CANARY; 2], "mml_create wrote *out on failure");
        return None;
    }
    assert!(
        expected.is_empty(),
        "mml_create succeeded, expected one of {expected:?}"
    );
    assert_eq!(slots[1], CANARY, "mml_create wrote past *out");
    assert_ne!(slots[0], CANARY, "mml_create did not write *out");
    assert_ne!(slots[0], 0, "mml_create wrote a NULL handle");
    let spec = Spec {
        power: if p == 1 { Power::One } else { Power::Two },
        margin,
        weight: (weight_len > 0).then_some(weight),
        reduction: match reduction {
            MML_REDUCTION_NONE => Reduction::None,
            MML_REDUCTION_MEAN => Reduction::Mean,
            _ => Reduction::Sum,
        },
    };
    Some((oracle::Handle(slots[0] as *mut MmlLoss), spec))
}

/// A well-formed handle for the call targets, usually with weights that fit `c`.
fn plain_create(r: &mut Bytes, c: usize) -> (oracle::Handle, Spec) {
    let weight_len = match r.u8() {
        0..=159 => 0,
        160..=239 => c,
        _ => r.below(20),
    };
    let spec = Spec {
        power: if r.u8() & 1 == 0 {
            Power::One
        } else {
            Power::Two
        },
        margin: margin(r),
        reduction: match r.u8() % 3 {
            0 => Reduction::None,
            1 => Reduction::Mean,
            _ => Reduction::Sum,
        },
        weight: None,
    };
    let spec = Spec {
        weight: (weight_len > 0).then(|| weight_values(r, weight_len)),
        ..spec
    };
    let handle = spec.create();
    (handle, spec)
}

fn fuzz_check_targets(r: &mut Bytes) {
    let n = r.below(64);
    let c = match r.u8() {
        0..=15 => 0,
        _ => 1 + r.below(64),
    };
    let targets: Vec<i64> = (0..n).map(|_| target(r, c)).collect();
    let mode = r.u8();
    let ptr: *const i64 = match mode {
        0..=229 => targets.as_ptr(),
        230..=242 => std::ptr::null(),
        _ => targets.as_ptr().cast::<u8>().wrapping_add(4).cast(),
    };
    let misaligned = !ptr.is_null() && !ptr.is_aligned();
    let mut bad_row = [usize::MAX; 2];
    let mut bad_value = [0x5a5a_i64; 2];
    let want_row = r.u8() & 1 == 0;
    let want_value = r.u8() & 1 == 0;
    let row_ptr = if want_row {
        bad_row.as_mut_ptr()
    } else {
        std::ptr::null_mut()
    };
    let value_ptr = if want_value {
        bad_value.as_mut_ptr()
    } else {
        std::ptr::null_mut()
    };
    // A misaligned pointer with n > 0 would reach 4 bytes past `targets` if read (ASan would
    // catch it); the call must refuse it before reading.
    let len = n;
    // SAFETY: `ptr` is NULL, or valid for `n` targets (aligned), or misaligned (refused before
    // any read when n > 0; with n == 0 nothing is read).
    let status = unsafe { mml_check_targets(ptr, len, c, row_ptr, value_ptr) };
    let first_bad = targets.iter().position(|&t| t < 0 || t as u64 >= c as u64);
    let expected = if c == 0 {
        MML_STATUS_INVALID_ARGUMENT
    } else if n > 0 && ptr.is_null() {
        MML_STATUS_NULL_POINTER
    } else if n > 0 && misaligned {
        MML_STATUS_INVALID_ARGUMENT
    } else if let Some(row) = first_bad.filter(|_| n > 0) {
        assert_eq!(
            status, MML_STATUS_TARGET_OUT_OF_RANGE,
            "mml_check_targets status"
        );
        if want_row {
            assert_eq!(bad_row, [row, usize::MAX], "mml_check_targets bad_row");
        }
        if want_value {
            assert_eq!(
                bad_value,
                [targets[row], 0x5a5a],
                "mml_check_targets bad_value"
            );
        }
        return;
    } else {
        MML_STATUS_OK
    };
    assert_eq!(status, expected, "mml_check_targets(n={n}, c={c}) status");
    assert_eq!(
        bad_row,
        [usize::MAX; 2],
        "mml_check_targets wrote bad_row without a bad target"
    );
    assert_eq!(
        bad_value, [0x5a5a; 2],
        "mml_check_targets wrote bad_value without a bad target"
    );
}

fn fuzz_statics(r: &mut Bytes) {
    let status = match r.u8() {
        b @ 0..=199 => u32::from(b % 8),
        _ => r.u32(),
    };
    let msg = mml_status_message(status);
    assert!(!msg.is_null());
    // SAFETY: documented as a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(msg) };
    assert!(!text.to_bytes().is_empty());
    assert!(!mml_version().is_null());
    assert_eq!(mml_abi_version(), MML_ABI_VERSION);
    // SAFETY: NULL is documented as a no-op.
    unsafe { mml_destroy(std::ptr::null_mut()) };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Input,
    Target,
    GradOutput,
    Output,
    GradInput,
}

#[derive(Clone, Copy, Debug)]
enum Place {
    Aligned,
    Misaligned,
    Null,
}

#[derive(Clone, Copy, Debug)]
struct Buf {
    role: Role,
    size: usize,
    align: usize,
    len: usize,
    place: Place,
    /// Byte offset in the arena (meaningless for `Null`).
    off: usize,
}

impl Buf {
    fn bytes(&self) -> std::ops::Range<usize> {
        self.off..self.off + self.len * self.size
    }
    fn live(&self) -> bool {
        self.len > 0 && !matches!(self.place, Place::Null)
    }
    fn is_output(&self) -> bool {
        matches!(self.role, Role::Output | Role::GradInput)
    }
}

fn call_len(r: &mut Bytes, expected: usize) -> usize {
    match r.u8() {
        0..=223 => expected,
        b => match b % 4 {
            0 => 0,
            1 => expected + 1,
            2 => expected.saturating_sub(1),
            _ => r.below(8),
        },
    }
}

fn run_typed<T: Elem>(r: &mut Bytes, mode: Mode) {
    if mode == Mode::Create {
        fuzz_statics(r);
        fuzz_check_targets(r);
        let Some((handle, spec)) = fuzz_create(r) else {
            return;
        };
        let call = match r.u8() % 3 {
            0 => Mode::Forward,
            1 => Mode::Backward,
            _ => Mode::Fused,
        };
        let (n, c) = shape(r);
        fuzz_call::<T>(r, &handle, &spec, call, n, c);
        return;
    }
    let (n, c) = shape(r);
    let (handle, spec) = plain_create(r, c);
    fuzz_call::<T>(r, &handle, &spec, mode, n, c);
}

fn shape(r: &mut Bytes) -> (usize, usize) {
    let c = match r.u8() {
        0..=3 => 0,
        b @ 4..=199 => 1 + (b as usize % 12),
        _ => 1 + r.below(300),
    };
    let n = match r.u8() {
        b @ 0..=199 => b as usize % 17,
        _ => r.below(MAX_ELEMENTS + 1),
    };
    (n.min(MAX_ELEMENTS / c.max(1)), c)
}

fn fuzz_call<T: Elem>(
    r: &mut Bytes,
    handle: &oracle::Handle,
    spec: &Spec,
    mode: Mode,
    n: usize,
    c: usize,
) {
    let handle_mode = r.u8();
    let handle_ptr: *const MmlLoss = match handle_mode {
        0..=245 => handle.0,
        246..=250 => std::ptr::null(),
        _ => handle
            .0
            .cast::<u8>()
            .wrapping_add(1 + handle_mode as usize % 7)
            .cast(),
    };
    if r.u8() == 255 {
        overflow_call::<T>(r, handle_ptr, spec, mode);
        return;
    }
    let out_len = spec.output_len(n);
    let (fwd, bwd) = match mode {
        Mode::Forward => (true, false),
        Mode::Backward => (false, true),
        Mode::Fused | Mode::Create => (true, true),
    };
    let t = (size_of::<T>(), align_of::<T>());
    let mut bufs = vec![
        (Role::Input, t, n * c),
        (Role::Target, (size_of::<i64>(), align_of::<i64>()), n),
    ];
    if bwd {
        bufs.push((Role::GradOutput, t, call_len(r, out_len)));
    }
    if fwd {
        bufs.push((Role::Output, t, call_len(r, out_len)));
    }
    if bwd {
        bufs.push((Role::GradInput, t, call_len(r, n * c)));
    }

    // Place every buffer in the arena: fresh, misaligned, NULL, or over an earlier buffer.
    let mut cursor = 0usize;
    let mut placed: Vec<Buf> = Vec::new();
    for (role, (size, align), len) in bufs {
        let choice = r.u8();
        let mut buf = Buf {
            role,
            size,
            align,
            len,
            place: Place::Aligned,
            off: 0,
        };
        match choice {
            0..=211 => {
                buf.off = cursor + if choice & 1 == 0 { 0 } else { 8 };
            }
            212..=225 => {
                buf.place = Place::Misaligned;
                buf.off = cursor + 1 + r.below(size - 1);
            }
            226..=237 => buf.place = Place::Null,
            _ if !placed.is_empty() => {
                let other = placed[r.below(placed.len())];
                let shift = r.below(other.len + 2);
                buf.off = other.off + shift * size;
                if !buf.off.is_multiple_of(align) {
                    buf.place = Place::Misaligned;
                }
            }
            _ => buf.off = cursor,
        }
        if !matches!(buf.place, Place::Null) {
            cursor = cursor.max((buf.off + len * size).next_multiple_of(8) + 8);
        }
        placed.push(buf);
    }
    let arena_bytes = cursor + 16;
    let mut arena = vec![0xa5a5_a5a5_a5a5_a5a5u64; arena_bytes.div_ceil(8)];
    let base = arena.as_mut_ptr().cast::<u8>();
    let ptr = |b: &Buf| -> *mut u8 {
        match b.place {
            Place::Null => std::ptr::null_mut(),
            _ => base.wrapping_add(b.off),
        }
    };

    // Fill the inputs (later buffers win where they overlap; the snapshot is the truth).
    for b in &placed {
        if matches!(b.place, Place::Null) {
            continue;
        }
        for i in 0..b.len {
            let at = ptr(b).wrapping_add(i * b.size);
            // SAFETY: inside the arena, which covers every placed buffer.
            unsafe {
                match b.role {
                    Role::Input | Role::GradOutput => at.cast::<T>().write_unaligned(value::<T>(r)),
                    Role::Target => at.cast::<i64>().write_unaligned(target(r, c)),
                    Role::Output | Role::GradInput => {}
                }
            }
        }
    }
    // SAFETY: the arena is `arena.len() * 8` initialised bytes.
    let snapshot = unsafe { std::slice::from_raw_parts(base, arena.len() * 8) }.to_vec();

    // Every error that applies; the call must report one of them, or succeed if none.
    let mut expected = BTreeSet::new();
    if handle_ptr.is_null() {
        expected.insert(MML_STATUS_NULL_POINTER);
    } else if !handle_ptr.is_aligned() {
        expected.insert(MML_STATUS_INVALID_ARGUMENT);
    } else if let Some(w) = &spec.weight
        && w.len() != c
    {
        expected.insert(MML_STATUS_SHAPE_MISMATCH);
    }
    if c == 0 {
        expected.insert(MML_STATUS_INVALID_ARGUMENT);
    }
    for b in &placed {
        if b.len > 0 {
            match b.place {
                Place::Null => {
                    expected.insert(MML_STATUS_NULL_POINTER);
                }
                Place::Misaligned => {
                    expected.insert(MML_STATUS_INVALID_ARGUMENT);
                }
                Place::Aligned if !b.off.is_multiple_of(b.align) => {
                    expected.insert(MML_STATUS_INVALID_ARGUMENT);
                }
                Place::Aligned => {}
            }
        }
    }
    for (i, a) in placed.iter().enumerate() {
        for (j, b) in placed.iter().enumerate() {
            let (ra, rb) = (a.bytes(), b.bytes());
            if i != j
                && a.is_output()
                && a.live()
                && b.live()
                && ra.start < rb.end
                && rb.start < ra.end
            {
                expected.insert(MML_STATUS_ALIASED_BUFFERS);
            }
        }
    }
    let find = |role| placed.iter().find(|b| b.role == role).copied();
    for b in &placed {
        let want = match b.role {
            Role::Output | Role::GradOutput => out_len,
            Role::GradInput => n * c,
            Role::Input | Role::Target => continue,
        };
        if b.len != want {
            expected.insert(MML_STATUS_SHAPE_MISMATCH);
        }
    }
    let tb = find(Role::Target).expect("always present");
    let read_targets = |bytes: &[u8]| -> Vec<i64> {
        (0..tb.len)
            // SAFETY: inside the snapshot, which mirrors the arena.
            .map(|i| unsafe {
                bytes
                    .as_ptr()
                    .add(tb.off + 8 * i)
                    .cast::<i64>()
                    .read_unaligned()
            })
            .collect()
    };
    let targets = if tb.live() {
        read_targets(&snapshot)
    } else {
        Vec::new()
    };
    if targets.iter().any(|&t| t < 0 || t as u64 >= c as u64) {
        expected.insert(MML_STATUS_TARGET_OUT_OF_RANGE);
    }

    let p = |role| find(role).map_or(std::ptr::null_mut(), |b| ptr(&b));
    let l = |role| find(role).map_or(0, |b| b.len);
    let (input, tgt) = (p(Role::Input).cast::<T>(), p(Role::Target).cast::<i64>());
    // SAFETY: every non-NULL pointer lies in the arena with room for its length (misaligned
    // ones are refused before any access, which is what is checked); the handle is live.
    let status = unsafe {
        match mode {
            Mode::Forward => T::FORWARD(
                handle_ptr,
                input,
                tgt,
                n,
                c,
                p(Role::Output).cast(),
                l(Role::Output),
            ),
            Mode::Backward => T::BACKWARD(
                handle_ptr,
                input,
                tgt,
                n,
                c,
                p(Role::GradOutput).cast(),
                l(Role::GradOutput),
                p(Role::GradInput).cast(),
                l(Role::GradInput),
            ),
            Mode::Fused | Mode::Create => T::FUSED(
                handle_ptr,
                input,
                tgt,
                n,
                c,
                p(Role::GradOutput).cast(),
                l(Role::GradOutput),
                p(Role::Output).cast(),
                l(Role::Output),
                p(Role::GradInput).cast(),
                l(Role::GradInput),
            ),
        }
    };
    // SAFETY: as for the snapshot.
    let after = unsafe { std::slice::from_raw_parts(base, arena.len() * 8) }.to_vec();
    let ctx = || {
        format!(
            "{mode:?} {} n={n} c={c} spec={spec:?} bufs={placed:?}",
            std::any::type_name::<T>()
        )
    };
    if status != MML_STATUS_OK {
        assert!(
            expected.contains(&status),
            "status {status}, expected one of {expected:?}: {}",
            ctx()
        );
        assert!(after == snapshot, "a failed call changed memory: {}", ctx());
        return;
    }
    assert!(
        expected.is_empty(),
        "succeeded, expected one of {expected:?}: {}",
        ctx()
    );

    let read = |bytes: &[u8], b: &Buf| -> Vec<T> {
        (0..b.len)
            // SAFETY: inside the arena copy.
            .map(|i| unsafe {
                bytes
                    .as_ptr()
                    .add(b.off + b.size * i)
                    .cast::<T>()
                    .read_unaligned()
            })
            .collect()
    };
    let input = read(&snapshot, &find(Role::Input).expect("present"));
    let mut outside = snapshot.clone();
    let mut after_outside = after.clone();
    if let Some(ob) = find(Role::Output) {
        let want = oracle::forward::<T>(spec, &input, &targets, n, c);
        check(&read(&after, &ob), &want, "output", &ctx);
        outside[ob.bytes()].fill(0);
        after_outside[ob.bytes()].fill(0);
    }
    if let Some(gb) = find(Role::GradInput) {
        let up = read(
            &snapshot,
            &find(Role::GradOutput).expect("present with grad_input"),
        );
        let want = oracle::backward::<T>(spec, &input, &targets, n, c, &up);
        check(&read(&after, &gb), &want, "grad_input", &ctx);
        outside[gb.bytes()].fill(0);
        after_outside[gb.bytes()].fill(0);
    }
    assert!(
        outside == after_outside,
        "a call wrote outside its outputs: {}",
        ctx()
    );
}

fn check<T: Elem>(got: &[T], want: &[T], what: &str, ctx: &dyn Fn() -> String) {
    assert_eq!(got.len(), want.len());
    if let Some(i) = got.iter().zip(want).position(|(&a, &b)| !same(a, b)) {
        panic!(
            "{what}[{i}] = {:?}, oracle {:?}: {}",
            got[i],
            want[i],
            ctx()
        );
    }
}

/// `n·c` (or its byte size) overflows; buffers are small and real. The call must refuse with
/// `MML_STATUS_INVALID_ARGUMENT` (or `NULL_POINTER` for a NULL handle) and touch nothing.
fn overflow_call<T: Elem>(r: &mut Bytes, handle_ptr: *const MmlLoss, spec: &Spec, mode: Mode) {
    let limit = isize::MAX as usize / size_of::<T>();
    let (n, c) = match r.u8() % 3 {
        0 => {
            let c = 1 + r.below(1 << 16);
            (limit / c + 1 + r.below(1000), c)
        }
        1 => {
            let n = 1 + r.below(64);
            (n, limit / n + 1 + r.below(1000))
        }
        _ => (usize::MAX - r.below(1000), 2 + r.below(1000)),
    };
    let mut arena = vec![0xa5a5_a5a5_a5a5_a5a5u64; 64];
    let snapshot = arena.clone();
    let base = arena.as_mut_ptr();
    let len = spec.output_len(n).min(4);
    // Input, target, grad_output, output and grad_input: disjoint 8-word slots of the arena.
    let slot = |k: usize| base.wrapping_add(8 * k);
    // SAFETY: the library must refuse before touching anything; every pointer is valid for at
    // least `len` (≤ 4) elements, never for n·c.
    let status = unsafe {
        match mode {
            Mode::Forward => T::FORWARD(
                handle_ptr,
                slot(0).cast(),
                slot(1).cast(),
                n,
                c,
                slot(3).cast(),
                len,
            ),
            Mode::Backward => T::BACKWARD(
                handle_ptr,
                slot(0).cast(),
                slot(1).cast(),
                n,
                c,
                slot(2).cast(),
                len,
                slot(4).cast(),
                4,
            ),
            Mode::Fused | Mode::Create => T::FUSED(
                handle_ptr,
                slot(0).cast(),
                slot(1).cast(),
                n,
                c,
                slot(2).cast(),
                len,
                slot(3).cast(),
                len,
                slot(4).cast(),
                4,
            ),
        }
    };
    let want = if handle_ptr.is_null() {
        MML_STATUS_NULL_POINTER
    } else {
        MML_STATUS_INVALID_ARGUMENT
    };
    assert_eq!(status, want, "overflowing n={n} c={c} {mode:?}");
    assert!(arena == snapshot, "an overflowing call changed memory");
}
