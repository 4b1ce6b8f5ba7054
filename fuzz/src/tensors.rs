//! The `typed` and `dlpack` targets: `mml_*_typed` and `mml_*_dlpack` with whatever the fuzzer
//! invents. Every tensor (or pointer-and-pitch buffer) of a call is laid out in one arena:
//! random dtypes (valid and not), devices, lanes, ndim, shapes, strides (compact, NULL, 0,
//! negative, pitched, huge), byte offsets (small, misaligned, overflowing), often overlapping
//! each other. Every call checks:
//!
//! - the status is a known one, never `MML_STATUS_INTERNAL_ERROR`, and the `MmlError` says the
//!   same status with a NUL-terminated message;
//! - a call with something mml must refuse (another device, lanes, a dtype it does not take,
//!   strides whose extent overflows, an output whose strides overlap itself, a pitch below `c`)
//!   is refused;
//! - on any error not one byte of the arena changed;
//! - on success the outputs equal the contiguous typed call on the same values (gathered from
//!   the arena as it was before the call) bit for bit, and no byte outside the outputs' elements
//!   changed.

use std::ffi::c_void;

use mml::ffi::{
    MML_DTYPE_BFLOAT16, MML_DTYPE_FLOAT16, MML_DTYPE_FLOAT32, MML_DTYPE_FLOAT64, MML_DTYPE_INT32,
    MML_DTYPE_INT64, MML_STATUS_INTERNAL_ERROR, MML_STATUS_INVALID_LAYOUT, MML_STATUS_OK, MmlError,
    MmlLoss, mml_backward_typed, mml_create, mml_create_f64, mml_destroy,
    mml_forward_backward_typed, mml_forward_typed,
};

use crate::Bytes;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct DLDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct DLDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

// dlpack.h's functions, declared with this crate's copy of its types (the library keeps its
// own private) and the handle as `void *`; the symbols are the library's.
unsafe extern "C" {
    fn mml_forward_dlpack(
        loss: *const c_void,
        input: *const DLTensor,
        target: *const DLTensor,
        output: *mut DLTensor,
        error: *mut MmlError,
    ) -> u32;
    fn mml_backward_dlpack(
        loss: *const c_void,
        input: *const DLTensor,
        target: *const DLTensor,
        grad_output: *const DLTensor,
        grad_input: *mut DLTensor,
        error: *mut MmlError,
    ) -> u32;
    fn mml_forward_backward_dlpack(
        loss: *const c_void,
        input: *const DLTensor,
        target: *const DLTensor,
        grad_output: *const DLTensor,
        output: *mut DLTensor,
        grad_input: *mut DLTensor,
        error: *mut MmlError,
    ) -> u32;
}

const ARENA: usize = 8192;

fn size_of_dtype(d: u32) -> usize {
    match d {
        MML_DTYPE_FLOAT64 | MML_DTYPE_INT64 => 8,
        MML_DTYPE_FLOAT32 | MML_DTYPE_INT32 => 4,
        _ => 2,
    }
}

fn dl_type(d: u32) -> DLDataType {
    let (code, bits) = match d {
        MML_DTYPE_FLOAT32 => (2, 32),
        MML_DTYPE_FLOAT64 => (2, 64),
        MML_DTYPE_BFLOAT16 => (4, 16),
        MML_DTYPE_FLOAT16 => (2, 16),
        MML_DTYPE_INT64 => (0, 64),
        _ => (0, 32),
    };
    DLDataType {
        code,
        bits,
        lanes: 1,
    }
}

/// A tensor as the fuzzer laid it out, with what mml must make of it.
struct Laid {
    t: DLTensor,
    shape: [i64; 2],
    strides: [i64; 2],
    /// The dtype as mml reads it (valid ones only; `None`: a dtype mml refuses everywhere).
    dtype: Option<u32>,
    /// Element offsets (in bytes from the arena's start) in row-major index order, when the
    /// tensor lies in the arena.
    elems: Option<Vec<usize>>,
    /// Something mml must refuse whatever the role (device, lanes, dtype, overflow).
    refuse: bool,
}

/// The logical index set of a tensor of `ndim` (0, 1 or 2) dimensions.
fn dims(ndim: i32, shape: &[i64; 2]) -> (usize, usize) {
    match ndim {
        0 => (1, 1),
        1 => (1, shape[0].max(0) as usize),
        _ => (shape[0].max(0) as usize, shape[1].max(0) as usize),
    }
}

/// Where tensors go in the arena: a generator seeded by the fuzzer's bytes, so that short
/// inputs (read as zeros past their end) still spread their tensors apart.
struct Spread(u64);

impl Spread {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if n == 0 {
            0
        } else {
            (self.0 % n as u64) as usize
        }
    }
}

/// Lays out a tensor of `shape` (`ndim` dims) and dtype `dtype` in the arena at `base`.
#[allow(clippy::too_many_arguments)]
fn lay(
    r: &mut Bytes,
    spread: &mut Spread,
    base: *mut u8,
    ndim: i32,
    shape: [usize; 2],
    dtype: u32,
    output: bool,
) -> Laid {
    // dtype: mostly the one asked for, sometimes another valid one or garbage
    let (dl, dtype) = match r.u8() {
        0..=229 => (dl_type(dtype), Some(dtype)),
        230..=241 => {
            let d = r.below(6) as u32;
            (dl_type(d), Some(d))
        }
        _ => (
            DLDataType {
                code: [0, 1, 2, 3, 4, 5][r.below(6)],
                bits: [8, 1, 128, 24][r.below(4)],
                lanes: 1,
            },
            None,
        ),
    };
    let mut dl = dl;
    let mut refuse = dtype.is_none();
    if r.u8() >= 248 {
        dl.lanes = [0, 2, 4, 0xFFFF][r.below(4)];
        refuse = true;
    }
    let device = if r.u8() >= 246 {
        refuse = true;
        [2, 3, 7, 13, 0, -1][r.below(6)]
    } else {
        1
    };
    let ndim = if r.u8() >= 250 {
        refuse = true; // no role takes these
        [3, -1, 7][r.below(3)]
    } else {
        ndim
    };
    let mut shape = [shape[0] as i64, shape[1] as i64];
    if ndim == 1 {
        shape = [shape[1], 1];
    }
    let size = dtype.map_or(4, size_of_dtype);
    let (rows, cols) = dims(ndim.clamp(0, 2), &shape);
    // strides: NULL (compact), or per dimension from a menu
    let null_strides = r.u8() < 64;
    let mut strides = [0i64; 2];
    for (d, s) in strides.iter_mut().enumerate() {
        let len = if d == 0 { rows } else { cols } as i64;
        *s = match r.u8() {
            0..=79 => {
                if d == 0 && ndim >= 2 {
                    cols as i64
                } else {
                    1
                }
            }
            80..=119 => 1 + r.below(len as usize + 4) as i64,
            120..=149 => -(1 + r.below(len as usize + 4) as i64),
            150..=179 => 0,
            180..=199 => {
                if d == 0 {
                    1
                } else {
                    rows as i64
                }
            }
            200..=229 => i64::from(r.u8() as i8),
            230..=241 => [i64::MAX / 2, -(i64::MAX / 2), i64::MIN, i64::MAX][r.below(4)],
            _ => r.u64() as i64,
        };
    }
    if null_strides {
        strides = if ndim >= 2 { [cols as i64, 1] } else { [1, 0] };
    }
    let (s0, s1) = if ndim >= 2 {
        (strides[0], strides[1])
    } else {
        (0, strides[0])
    };
    // The reach of the elements around index 0, in elements (i128: no overflow here).
    let reach = |s: i64, len: usize| -> (i128, i128) {
        if len <= 1 {
            return (0, 0);
        }
        let e = i128::from(s) * (len as i128 - 1);
        (e.min(0), e.max(0))
    };
    let (lo0, hi0) = reach(s0, rows);
    let (lo1, hi1) = reach(s1, cols);
    let (lo, hi) = (lo0 + lo1, hi0 + hi1);
    let numel = rows * cols;
    let span = (hi - lo + 1) * size as i128;
    let overflows = numel > 0 && span > isize::MAX as i128;
    if overflows && (0..=2).contains(&ndim) && dtype.is_some() {
        refuse = true;
    }
    let fits = !overflows && span <= ARENA as i128 - 64;
    let mut byte_offset = 0u64;
    let mut data = base;
    let mut elems = (numel == 0).then(Vec::new);
    if numel > 0 && fits {
        // index 0 at `origin` bytes in, so that every element lies in the arena
        let room = ARENA as i128 - span - 8;
        let slack = spread.below(room.max(1) as usize) as i128;
        // index 0 aligned for its type (lo·size is a multiple of size), or one byte off
        let aligned = (slack + size as i128 - 1) / size as i128 * size as i128;
        let misaligned = if r.u8() < 240 { 0 } else { 1 };
        let origin = (aligned + misaligned - lo * size as i128) as usize;
        let mut offsets = Vec::with_capacity(numel);
        for i in 0..rows {
            for j in 0..cols {
                let e = origin as i128
                    + (i as i128 * i128::from(s0) + j as i128 * i128::from(s1)) * size as i128;
                offsets.push(e as usize);
            }
        }
        if offsets.iter().all(|&e| e + size <= ARENA) {
            elems = Some(offsets);
        }
        let split = if r.u8() < 128 { 0 } else { r.below(origin + 1) };
        byte_offset = split as u64;
        data = base.wrapping_add(origin - split);
    } else if numel > 0 && !overflows {
        // too long for the arena but not refused: lay it out compactly instead
        strides = if ndim >= 2 { [cols as i64, 1] } else { [1, 0] };
        let compact = numel * size;
        let origin = spread.below(ARENA - compact - 8) / size * size;
        data = base.wrapping_add(origin);
        elems = Some((0..numel).map(|k| origin + k * size).collect());
    }
    let strides_final = if ndim >= 2 {
        (strides[0], strides[1])
    } else {
        (0, strides[0])
    };
    if output && numel > 1 && (0..=2).contains(&ndim) {
        // outputs must map distinct indices to distinct elements
        let mut ds: Vec<(u128, usize)> = [(strides_final.0, rows), (strides_final.1, cols)]
            .into_iter()
            .filter(|&(_, l)| l > 1)
            .map(|(s, l)| (i128::from(s).unsigned_abs(), l))
            .collect();
        ds.sort_unstable();
        let mut extent = 1u128;
        for (s, l) in ds {
            if s < extent {
                refuse = true;
            }
            extent = s.saturating_mul(l as u128);
        }
    }
    if numel > 0 && r.u8() >= 250 {
        byte_offset = u64::MAX - r.below(64) as u64;
        if (0..=2).contains(&ndim) && dtype.is_some() {
            refuse = true;
        }
        elems = None;
    }
    if numel > 0 && r.u8() >= 252 {
        data = std::ptr::null_mut();
        byte_offset = 0;
        elems = None;
        refuse = true;
    }
    let t = DLTensor {
        data: data.cast(),
        device: DLDevice {
            device_type: device,
            device_id: 0,
        },
        ndim,
        dtype: dl,
        shape: std::ptr::null_mut(),
        strides: std::ptr::null_mut(),
        byte_offset,
    };
    let mut laid = Laid {
        t,
        shape,
        strides,
        dtype,
        elems,
        refuse,
    };
    if null_strides {
        laid.strides = [0, 0];
    }
    laid.t.strides = if null_strides {
        std::ptr::null_mut()
    } else {
        std::ptr::dangling_mut() // fixed in `pin`
    };
    laid
}

/// Points a laid tensor's shape and strides at its own arrays (after it stopped moving).
fn pin(l: &mut Laid) {
    l.t.shape = l.shape.as_mut_ptr();
    if !l.t.strides.is_null() {
        l.t.strides = l.strides.as_mut_ptr();
    }
}

/// Values at a laid tensor's elements, read from `arena` (as raw bytes).
fn gather(arena: &[u8], l: &Laid, size: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for &e in l.elems.as_ref().expect("laid in the arena") {
        v.extend_from_slice(&arena[e..e + size]);
    }
    v
}

fn fill(r: &mut Bytes, arena: &mut [u8]) {
    let mut s = r.u64() | 1;
    for b in arena.iter_mut() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        *b = s as u8;
    }
}

/// Small, valid-looking targets at every element of `l`.
fn write_targets(r: &mut Bytes, arena: &mut [u8], l: &Laid, c: usize) {
    let (Some(elems), Some(d)) = (&l.elems, l.dtype) else {
        return;
    };
    for &e in elems {
        let v: i64 = match r.u8() {
            0..=239 => r.below(c.max(1)) as i64,
            240..=247 => -1,
            _ => c as i64,
        };
        match d {
            MML_DTYPE_INT64 => arena[e..e + 8].copy_from_slice(&v.to_ne_bytes()),
            MML_DTYPE_INT32 => arena[e..e + 4].copy_from_slice(&(v as i32).to_ne_bytes()),
            _ => {}
        }
    }
}

/// A handle (float32 or float64 weights, of length `c` mostly) and its reduction code.
fn make_loss(r: &mut Bytes, c: usize) -> (*mut MmlLoss, u32) {
    let p = 1 + u32::from(r.u8() & 1);
    let reduction = u32::from(r.u8() % 3);
    let margin = [1.0, 0.5, 0.0, -1.0, 2.5, 1.000000001][r.below(6)];
    let weight_len = match r.u8() {
        0..=159 => 0,
        160..=247 => c,
        _ => r.below(9),
    };
    let mut handle: *mut MmlLoss = std::ptr::null_mut();
    let status = if r.u8() & 1 == 0 {
        let w: Vec<f32> = (0..weight_len).map(|i| 0.25 + i as f32 / 4.0).collect();
        // SAFETY: `w` holds `weight_len` floats; `handle` is writable.
        unsafe { mml_create(p, margin, w.as_ptr(), weight_len, reduction, &mut handle) }
    } else {
        let w: Vec<f64> = (0..weight_len).map(|i| 0.1 + i as f64 / 3.0).collect();
        // SAFETY: as above, doubles.
        unsafe { mml_create_f64(p, margin, w.as_ptr(), weight_len, reduction, &mut handle) }
    };
    assert_eq!(status, MML_STATUS_OK);
    (handle, reduction)
}

fn check_detail(status: u32, err: &MmlError) {
    assert!(
        status <= MML_STATUS_INVALID_LAYOUT,
        "unknown status {status}"
    );
    assert_ne!(
        status,
        MML_STATUS_INTERNAL_ERROR,
        "internal error: {:?}",
        message(err)
    );
    assert_eq!(err.status, status, "MmlError.status");
    let m = message(err);
    assert!(!m.is_empty(), "empty message");
}

fn message(err: &MmlError) -> String {
    let bytes: Vec<u8> = err.message.iter().map(|&c| c as u8).collect();
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .expect("message NUL-terminated");
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The contiguous typed call (int64 targets, pitch `c`, separate buffers): output and gradient
/// bytes, or its status.
#[allow(clippy::too_many_arguments)]
fn reference(
    loss: *const MmlLoss,
    op: u8,
    dtype: u32,
    input: &[u8],
    target: &[i64],
    n: usize,
    c: usize,
    up: &[u8],
    out_len: usize,
    grad_dtype: u32,
) -> Result<(Vec<u8>, Vec<u8>), u32> {
    let fs = if dtype == MML_DTYPE_FLOAT64 { 8 } else { 4 };
    let mut inp = vec![0u64; input.len() / 8 + 1];
    let mut upb = vec![0u64; up.len() / 8 + 1];
    // SAFETY: both backings are at least as long as the bytes copied.
    unsafe {
        std::ptr::copy_nonoverlapping(input.as_ptr(), inp.as_mut_ptr().cast(), input.len());
        std::ptr::copy_nonoverlapping(up.as_ptr(), upb.as_mut_ptr().cast(), up.len());
    }
    let mut out = vec![0u64; out_len + 1];
    let gs = size_of_dtype(grad_dtype);
    let mut grad = vec![0u64; (n * c * gs) / 8 + 1];
    let mut err = MmlError {
        status: 99,
        argument: 0,
        expected: 0,
        actual: 0,
        row: 0,
        value: 0,
        message: [0; 256],
    };
    let (i, t, u, o, g) = (
        inp.as_ptr().cast::<c_void>(),
        target.as_ptr().cast::<c_void>(),
        upb.as_ptr().cast::<c_void>(),
        out.as_mut_ptr().cast::<c_void>(),
        grad.as_mut_ptr().cast::<c_void>(),
    );
    // SAFETY: every buffer holds what its length says.
    let status = unsafe {
        match op {
            0 => mml_forward_typed(
                loss,
                dtype,
                i,
                c,
                MML_DTYPE_INT64,
                t,
                n,
                c,
                o,
                out_len,
                &mut err,
            ),
            1 => mml_backward_typed(
                loss,
                dtype,
                i,
                c,
                MML_DTYPE_INT64,
                t,
                n,
                c,
                u,
                out_len,
                grad_dtype,
                g,
                c,
                &mut err,
            ),
            _ => mml_forward_backward_typed(
                loss,
                dtype,
                i,
                c,
                MML_DTYPE_INT64,
                t,
                n,
                c,
                u,
                out_len,
                o,
                out_len,
                grad_dtype,
                g,
                c,
                &mut err,
            ),
        }
    };
    if status != MML_STATUS_OK {
        return Err(status);
    }
    // SAFETY: plain bytes of the backings.
    let bytes = |v: &[u64], len: usize| unsafe {
        std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), len).to_vec()
    };
    Ok((bytes(&out, out_len * fs), bytes(&grad, n * c * gs)))
}

/// Targets of a laid tensor as int64 (gathered from `arena`).
fn targets_of(arena: &[u8], l: &Laid) -> Vec<i64> {
    let d = l.dtype.expect("a valid target dtype");
    let size = size_of_dtype(d);
    gather(arena, l, size)
        .chunks(size)
        .map(|b| {
            if size == 8 {
                i64::from_ne_bytes(b.try_into().unwrap())
            } else {
                i64::from(i32::from_ne_bytes(b.try_into().unwrap()))
            }
        })
        .collect()
}

/// One DLPack call.
pub fn run_dlpack(data: &[u8]) {
    let mut r = Bytes(data);
    let op = r.u8() % 3;
    let n = r.below(7);
    let c = if r.u8() >= 248 { 0 } else { 1 + r.below(7) };
    let one_d = n == 1 && r.u8() < 64;
    let dtype = [
        MML_DTYPE_FLOAT32,
        MML_DTYPE_FLOAT64,
        MML_DTYPE_BFLOAT16,
        MML_DTYPE_FLOAT16,
    ][r.below(4)];
    let float = if dtype == MML_DTYPE_FLOAT64 {
        MML_DTYPE_FLOAT64
    } else {
        MML_DTYPE_FLOAT32
    };
    let half = matches!(dtype, MML_DTYPE_BFLOAT16 | MML_DTYPE_FLOAT16);
    let grad_choice = if half && r.u8() & 1 == 1 {
        dtype
    } else {
        float
    };
    let (loss, reduction) = make_loss(&mut r, c);
    let out_len = if reduction == 0 { n } else { 1 };
    let mut arena = vec![0u64; ARENA / 8];
    let base = arena.as_mut_ptr().cast::<u8>();
    // SAFETY: the arena's bytes.
    let bytes = unsafe { std::slice::from_raw_parts_mut(base, ARENA) };
    fill(&mut r, bytes);
    let mut spread = Spread(r.u64() | 0x9E37_79B9_7F4A_7C15);
    let in_ndim = if one_d { 1 } else { 2 };
    let mut x = lay(&mut r, &mut spread, base, in_ndim, [n, c], dtype, false);
    let t_ndim = if n == 1 && r.u8() < 64 { 0 } else { 1 };
    let t_dtype = if r.u8() & 1 == 0 {
        MML_DTYPE_INT64
    } else {
        MML_DTYPE_INT32
    };
    let t_len = if r.u8() >= 248 { n + 1 } else { n };
    let mut y = lay(
        &mut r,
        &mut spread,
        base,
        t_ndim,
        [1, t_len],
        t_dtype,
        false,
    );
    let vec_ndim = |r: &mut Bytes| if out_len == 1 && r.u8() < 96 { 0 } else { 1 };
    let nd = vec_ndim(&mut r);
    let mut up = lay(&mut r, &mut spread, base, nd, [1, out_len], float, false);
    let nd = vec_ndim(&mut r);
    let mut out = lay(&mut r, &mut spread, base, nd, [1, out_len], float, true);
    let mut gi = lay(
        &mut r,
        &mut spread,
        base,
        in_ndim,
        [n, c],
        grad_choice,
        true,
    );
    write_targets(&mut r, bytes, &y, c);
    for l in [&mut x, &mut y, &mut up, &mut out, &mut gi] {
        pin(l);
    }
    let before = bytes.to_vec();
    let mut err = MmlError {
        status: 99,
        argument: 99,
        expected: 0,
        actual: 0,
        row: 0,
        value: 0,
        message: [0x55; 256],
    };
    let loss_ptr: *const c_void = if r.u8() == 255 {
        std::ptr::null()
    } else {
        loss.cast()
    };
    // SAFETY: every tensor is laid out in the arena (or refused by its device, dtype, lanes,
    // overflowing extent or NULL data before mml reads it), with shape and strides arrays of
    // `ndim` (at most 2) values where ndim is one mml reads.
    let status = unsafe {
        match op {
            0 => mml_forward_dlpack(loss_ptr, &x.t, &y.t, &mut out.t, &mut err),
            1 => mml_backward_dlpack(loss_ptr, &x.t, &y.t, &up.t, &mut gi.t, &mut err),
            _ => mml_forward_backward_dlpack(
                loss_ptr, &x.t, &y.t, &up.t, &mut out.t, &mut gi.t, &mut err,
            ),
        }
    };
    check_detail(status, &err);
    let used: Vec<&Laid> = match op {
        0 => vec![&x, &y, &out],
        1 => vec![&x, &y, &up, &gi],
        _ => vec![&x, &y, &up, &out, &gi],
    };
    if used.iter().any(|l| l.refuse) || loss_ptr.is_null() {
        assert_ne!(status, MML_STATUS_OK, "a call mml must refuse succeeded");
    }
    if status != MML_STATUS_OK {
        assert!(
            bytes == &before[..],
            "a refused call ({}) wrote into the arena",
            message(&err)
        );
        // SAFETY: from make_loss, destroyed once.
        unsafe { mml_destroy(loss) };
        return;
    }
    // Success: the same bits as the contiguous typed call on the values as they were, with the
    // dtypes the tensors were laid out in (mml took them, so they are valid).
    let dtype = x.dtype.expect("taken");
    let float = if dtype == MML_DTYPE_FLOAT64 {
        MML_DTYPE_FLOAT64
    } else {
        MML_DTYPE_FLOAT32
    };
    let grad_dtype = if op == 0 {
        float
    } else {
        gi.dtype.expect("taken")
    };
    let input = gather(&before, &x, size_of_dtype(dtype));
    let target = targets_of(&before, &y);
    let upv = if op == 0 {
        Vec::new()
    } else {
        gather(&before, &up, size_of_dtype(float))
    };
    let (want_out, want_grad) = reference(
        loss, op, dtype, &input, &target, n, c, &upv, out_len, grad_dtype,
    )
    .expect("the typed call refused what the DLPack call took");
    let mut written = vec![false; ARENA];
    if op != 1 {
        let got = gather(bytes, &out, size_of_dtype(float));
        assert_eq!(got, want_out, "loss bits");
        for &e in out.elems.as_ref().unwrap() {
            written[e..e + size_of_dtype(float)].fill(true);
        }
    }
    if op != 0 {
        let gs = size_of_dtype(grad_dtype);
        let got = gather(bytes, &gi, gs);
        assert_eq!(got, want_grad, "gradient bits");
        for &e in gi.elems.as_ref().unwrap() {
            written[e..e + gs].fill(true);
        }
    }
    for (k, (&a, &b)) in bytes.iter().zip(&before).enumerate() {
        assert!(written[k] || a == b, "byte {k} outside the outputs changed");
    }
    // SAFETY: from make_loss, destroyed once.
    unsafe { mml_destroy(loss) };
}

/// A pointer-and-pitch buffer of a typed call in the arena: its pointer, and the byte offsets
/// of its elements (row-major) when it is real.
struct Buf {
    ptr: *mut u8,
    elems: Option<Vec<usize>>,
}

/// Rows of `c` values of `size` bytes, `pitch` apart (vectors: one row of `c` values): NULL,
/// misaligned, or placed anywhere in the arena (overlapping others as it falls).
#[allow(clippy::too_many_arguments)]
fn place(
    r: &mut Bytes,
    spread: &mut Spread,
    base: *mut u8,
    rows: usize,
    c: usize,
    pitch: usize,
    size: usize,
) -> Buf {
    let extent = if rows == 0 {
        Some(0)
    } else {
        (rows - 1).checked_mul(pitch).and_then(|v| v.checked_add(c))
    };
    let bytes = extent.and_then(|e| e.checked_mul(size));
    match (r.u8(), bytes) {
        (250..=255, _) => Buf {
            ptr: std::ptr::null_mut(),
            elems: (rows == 0 || c == 0).then(Vec::new),
        },
        (_, Some(b)) if b <= ARENA - 16 => {
            let at = spread.below(ARENA - b - 8) / size * size + usize::from(r.u8() >= 246);
            let elems = (0..rows)
                .flat_map(|i| (0..c).map(move |j| at + (i * pitch + j) * size))
                .collect();
            Buf {
                ptr: base.wrapping_add(at),
                elems: Some(elems),
            }
        }
        // too large for the arena: mml must refuse it (a pitch that overflows) or never
        // reach it; a pointer at the arena's start, never read
        _ => Buf {
            ptr: base,
            elems: None,
        },
    }
}

fn gather_buf(arena: &[u8], b: &Buf, size: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for &e in b.elems.as_ref().expect("placed") {
        v.extend_from_slice(&arena[e..e + size]);
    }
    v
}

/// One typed call: `mml_forward_typed`, `mml_backward_typed` or `mml_forward_backward_typed`.
pub fn run_typed(data: &[u8]) {
    let mut r = Bytes(data);
    let op = r.u8() % 3;
    let n = r.below(7);
    let c = if r.u8() >= 248 { 0 } else { 1 + r.below(7) };
    let dtype = match r.u8() {
        0..=243 => [
            MML_DTYPE_FLOAT32,
            MML_DTYPE_FLOAT64,
            MML_DTYPE_BFLOAT16,
            MML_DTYPE_FLOAT16,
        ][r.below(4)],
        _ => [MML_DTYPE_INT64, MML_DTYPE_INT32, 6, u32::MAX][r.below(4)],
    };
    let valid_dtype = dtype <= MML_DTYPE_FLOAT16;
    let float = if dtype == MML_DTYPE_FLOAT64 {
        MML_DTYPE_FLOAT64
    } else {
        MML_DTYPE_FLOAT32
    };
    let half = matches!(dtype, MML_DTYPE_BFLOAT16 | MML_DTYPE_FLOAT16);
    let t_dtype = match r.u8() {
        0..=247 => [MML_DTYPE_INT64, MML_DTYPE_INT32][r.below(2)],
        _ => [MML_DTYPE_FLOAT32, 9][r.below(2)],
    };
    let grad_dtype = match r.u8() {
        0..=127 => float,
        128..=243 if half => dtype,
        128..=243 => float,
        _ => r.below(8) as u32,
    };
    let valid_grad = grad_dtype == float || (half && grad_dtype == dtype);
    let pitch = |r: &mut Bytes| match r.u8() {
        0..=199 => c + r.below(4),
        200..=219 => c.saturating_sub(1),
        220..=229 => 0,
        230..=239 => usize::MAX / 2,
        _ => usize::MAX - r.below(4),
    };
    let in_pitch = pitch(&mut r);
    let grad_pitch = pitch(&mut r);
    let (loss, reduction) = make_loss(&mut r, c);
    let out_len = if reduction == 0 { n } else { 1 };
    let len = |r: &mut Bytes| match r.u8() {
        0..=239 => out_len,
        240..=247 => out_len + 1,
        _ => out_len.saturating_sub(1),
    };
    let (o_len, u_len) = (len(&mut r), len(&mut r));
    let mut arena = vec![0u64; ARENA / 8];
    let base = arena.as_mut_ptr().cast::<u8>();
    // SAFETY: the arena's bytes.
    let bytes = unsafe { std::slice::from_raw_parts_mut(base, ARENA) };
    fill(&mut r, bytes);
    let mut spread = Spread(r.u64() | 0x9E37_79B9_7F4A_7C15);
    let es = if valid_dtype { size_of_dtype(dtype) } else { 4 };
    let fs = size_of_dtype(float);
    let gs = if grad_dtype <= MML_DTYPE_INT32 {
        size_of_dtype(grad_dtype)
    } else {
        4
    };
    let ts = if t_dtype == MML_DTYPE_INT64 { 8 } else { 4 };
    let x = place(&mut r, &mut spread, base, n, c, in_pitch, es);
    let t = place(&mut r, &mut spread, base, 1, n, n, ts);
    let up = place(&mut r, &mut spread, base, 1, u_len, u_len, fs);
    let out = place(&mut r, &mut spread, base, 1, o_len, o_len, fs);
    let gi = place(&mut r, &mut spread, base, n, c, grad_pitch, gs);
    if let Some(elems) = &t.elems {
        for &e in elems {
            let v: i64 = match r.u8() {
                0..=239 => r.below(c.max(1)) as i64,
                240..=247 => -1,
                _ => c as i64,
            };
            match t_dtype {
                MML_DTYPE_INT64 => bytes[e..e + 8].copy_from_slice(&v.to_ne_bytes()),
                _ => bytes[e..e + 4].copy_from_slice(&(v as i32).to_ne_bytes()),
            }
        }
    }
    let before = bytes.to_vec();
    let mut err = MmlError {
        status: 99,
        argument: 99,
        expected: 0,
        actual: 0,
        row: 0,
        value: 0,
        message: [0x55; 256],
    };
    let (xp, tp, upp, op_, gp) = (
        x.ptr.cast::<c_void>().cast_const(),
        t.ptr.cast::<c_void>().cast_const(),
        up.ptr.cast::<c_void>().cast_const(),
        out.ptr.cast::<c_void>(),
        gi.ptr.cast::<c_void>(),
    );
    // SAFETY: each buffer lies in the arena for the extent its arguments describe, or is NULL,
    // misaligned, or too large for the arena, which mml refuses before any access.
    let status = unsafe {
        match op {
            0 => mml_forward_typed(
                loss, dtype, xp, in_pitch, t_dtype, tp, n, c, op_, o_len, &mut err,
            ),
            1 => mml_backward_typed(
                loss, dtype, xp, in_pitch, t_dtype, tp, n, c, upp, u_len, grad_dtype, gp,
                grad_pitch, &mut err,
            ),
            _ => mml_forward_backward_typed(
                loss, dtype, xp, in_pitch, t_dtype, tp, n, c, upp, u_len, op_, o_len, grad_dtype,
                gp, grad_pitch, &mut err,
            ),
        }
    };
    check_detail(status, &err);
    let mut must_refuse = !valid_dtype
        || !matches!(t_dtype, MML_DTYPE_INT64 | MML_DTYPE_INT32)
        || in_pitch < c
        || (op != 1 && o_len != out_len);
    if op != 0 {
        must_refuse |= !valid_grad || grad_pitch < c || u_len != out_len;
    }
    if must_refuse {
        assert_ne!(status, MML_STATUS_OK, "a call mml must refuse succeeded");
    }
    if status != MML_STATUS_OK {
        assert!(
            bytes == &before[..],
            "a refused typed call ({}) wrote into the arena",
            message(&err)
        );
        // SAFETY: from make_loss, destroyed once.
        unsafe { mml_destroy(loss) };
        return;
    }
    let input = gather_buf(&before, &x, es);
    let target: Vec<i64> = gather_buf(&before, &t, ts)
        .chunks(ts)
        .map(|b| {
            if ts == 8 {
                i64::from_ne_bytes(b.try_into().unwrap())
            } else {
                i64::from(i32::from_ne_bytes(b.try_into().unwrap()))
            }
        })
        .collect();
    let upv = if op == 0 {
        Vec::new()
    } else {
        gather_buf(&before, &up, fs)
    };
    let (want_out, want_grad) = reference(
        loss.cast_const(),
        op,
        dtype,
        &input,
        &target,
        n,
        c,
        &upv,
        out_len,
        grad_dtype,
    )
    .expect("the contiguous call refused what the pitched one took");
    let mut written = vec![false; ARENA];
    if op != 1 {
        assert_eq!(gather_buf(bytes, &out, fs), want_out, "loss bits");
        for &e in out.elems.as_ref().unwrap() {
            written[e..e + fs].fill(true);
        }
    }
    if op != 0 {
        assert_eq!(gather_buf(bytes, &gi, gs), want_grad, "gradient bits");
        for &e in gi.elems.as_ref().unwrap() {
            written[e..e + gs].fill(true);
        }
    }
    for (k, (&a, &b)) in bytes.iter().zip(&before).enumerate() {
        assert!(written[k] || a == b, "byte {k} outside the outputs changed");
    }
    // SAFETY: from make_loss, destroyed once.
    unsafe { mml_destroy(loss) };
}
