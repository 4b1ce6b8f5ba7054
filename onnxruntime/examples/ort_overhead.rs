//! ONNX Runtime's overhead on `mml::MultiMarginLoss` measured from native code, without
//! Python: the half of `bench/ort_overhead.py` that the Python binding's own cost would blur.
//! That script writes the models and runs this program (`make bench-onnx`):
//!
//! ```text
//! ort_overhead LIBONNXRUNTIME PLUGIN LOSS_MODEL IDENTITY_MODEL
//! ```
//!
//! It opens ONNX Runtime's shared library (the wheel's `libonnxruntime.so.*`), takes C API
//! version 17 from `OrtGetApiBase`, registers the plugin, and times `OrtApi::Run` of the loss
//! model (inputs `scores` float `[N, C]` and `target` int64 `[N]`, output `loss` `[]`, each an
//! `OrtValue` over this program's buffers, the output preallocated) against `mml_forward` of the
//! C ABI on the same buffers, the two alternating sample by sample; medians. The direct call is
//! `mml_forward` of the `libmml.so.0.1` the plugin links (found through the plugin's handle): the
//! same library, the same machine code and pool that the operator runs, so that the difference
//! is ONNX Runtime's and the plugin's glue. `Run` of a one-node `Identity` model on one float is
//! the runtime's floor for any node. Every loss is checked bit for bit against the C ABI's.

use std::ffi::{CStr, CString, c_char, c_void};
use std::time::Instant;

use ort_sys::{
    ONNXTensorElementDataType, OrtAllocatorType, OrtApi, OrtApiBase, OrtLoggingLevel, OrtMemType,
    OrtSession, OrtStatusPtr, OrtValue,
};

const SHAPES: [(usize, usize); 3] = [(4096, 10), (1, 10), (4_194_304, 10)];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [runtime, plugin, loss_model, identity_model] = args.as_slice() else {
        eprintln!("usage: ort_overhead LIBONNXRUNTIME PLUGIN LOSS_MODEL IDENTITY_MODEL");
        std::process::exit(2);
    };
    let api = open_runtime(runtime);
    let direct_abi = DirectAbi::open(plugin);
    let loss = Session::new(api, plugin, loss_model);
    let identity = Session::new(api, plugin, identity_model);

    let mut handle = std::ptr::null_mut();
    // SAFETY: a valid out-pointer; no weights (NULL with length 0).
    let status = unsafe { (direct_abi.create)(1, 1.0, std::ptr::null(), 0, 1, &mut handle) };
    assert_eq!(status, 0, "mml_create");

    // Every buffer is used only through the raw pointer taken once here: ONNX Runtime writes
    // the outputs through its own copy of it.
    let float = ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    let int64 = ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    let (mut one, mut one_out) = ([1.0f32], [0.0f32]);
    let id_in = api.tensor(one.as_mut_ptr(), 1, &[1], float);
    let id_out = api.tensor(one_out.as_mut_ptr(), 1, &[1], float);

    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>8} {:>11}",
        "forward", "C ABI us", "ORT us", "ORT-C us", "ORT/C", "Identity us"
    );
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    // BENCH_SMALL_ONLY=1: the small shapes alone (for a profile of the per-call costs).
    let small_only = std::env::var_os("BENCH_SMALL_ONLY").is_some_and(|v| v == "1");
    for (n, c) in SHAPES
        .into_iter()
        .take(if small_only { 2 } else { SHAPES.len() })
    {
        let mut scores: Vec<f32> = (0..n * c)
            .map(|_| (next(&mut seed) % 4096) as f32 / 512.0 - 4.0)
            .collect();
        let mut target: Vec<i64> = (0..n)
            .map(|_| (next(&mut seed) % c as u64) as i64)
            .collect();
        let (mut out_c, mut out_ort) = ([0.0f32], [0.0f32]);
        let (x_ptr, t_ptr) = (scores.as_mut_ptr(), target.as_mut_ptr());
        let (c_ptr, ort_ptr) = (out_c.as_mut_ptr(), out_ort.as_mut_ptr());
        let x = api.tensor(x_ptr, n * c, &[n as i64, c as i64], float);
        let t = api.tensor(t_ptr, n, &[n as i64], int64);
        let out = api.tensor(ort_ptr, 1, &[], float);
        let direct = || {
            // SAFETY: live buffers of the lengths given; the handle lives until the end.
            let status = unsafe { (direct_abi.forward)(handle, x_ptr, t_ptr, n, c, c_ptr, 1) };
            assert_eq!(status, 0);
        };
        let loss_names = [c"scores".as_ptr(), c"target".as_ptr()];
        let loss_inputs = [x.0.cast_const(), t.0.cast_const()];
        let id_names = [c"x".as_ptr()];
        let id_inputs = [id_in.0.cast_const()];
        let runtime = || loss.run(&loss_names, &loss_inputs, c"loss", out);
        let floor = || identity.run(&id_names, &id_inputs, c"y", id_out);
        direct();
        runtime();
        // SAFETY: the one-element outputs, written by the calls above.
        let (got_c, got_ort) = unsafe { (c_ptr.read(), ort_ptr.read()) };
        assert_eq!(got_c.to_bits(), got_ort.to_bits(), "{n}x{c}: ORT vs C ABI");
        let big = n * c >= 1 << 20;
        let (batch, samples) = if big { (1, 21) } else { (2000, 31) };
        let calls: Vec<&dyn Fn()> = if big {
            vec![&direct, &runtime]
        } else {
            vec![&direct, &runtime, &floor]
        };
        let times = medians(&calls, batch, samples);
        let floor = times.get(2).map_or("-".into(), |f| format!("{f:.2}"));
        println!(
            "{:<12} {:>10.2} {:>10.2} {:>10.2} {:>8.4} {:>11}",
            format!("{n}x{c}"),
            times[0],
            times[1],
            times[1] - times[0],
            times[1] / times[0],
            floor
        );
        for value in [x, t, out] {
            api.release(value);
        }
    }
}

/// A small generator (splitmix64) for the data.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Median microseconds per call of each, alternating them sample by sample after a warm-up.
fn medians(calls: &[&dyn Fn()], batch: usize, samples: usize) -> Vec<f64> {
    let time = |call: &dyn Fn(), count: usize| {
        let start = Instant::now();
        for _ in 0..count {
            call();
        }
        start.elapsed().as_secs_f64() * 1e6 / count as f64
    };
    for call in calls {
        time(*call, batch.div_ceil(4));
    }
    let mut times = vec![Vec::with_capacity(samples); calls.len()];
    for _ in 0..samples {
        for (call, t) in calls.iter().zip(&mut times) {
            t.push(time(*call, batch));
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect()
}

#[derive(Clone, Copy)]
struct Api(&'static OrtApi);

fn open_runtime(path: &str) -> Api {
    let name = CString::new(path).expect("a path without NUL");
    // SAFETY: dlopen of a shared library by path, then a symbol of the documented type
    // `const OrtApiBase* OrtGetApiBase(void)`.
    unsafe {
        let lib = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        assert!(!lib.is_null(), "dlopen {path} failed");
        let symbol = libc::dlsym(lib, c"OrtGetApiBase".as_ptr());
        assert!(!symbol.is_null(), "no OrtGetApiBase in {path}");
        let get_api_base: extern "C" fn() -> *const OrtApiBase = std::mem::transmute(symbol);
        let base = &*get_api_base();
        let api = (base.GetApi)(17);
        assert!(!api.is_null(), "the runtime has no C API version 17");
        let version = CStr::from_ptr((base.GetVersionString)()).to_string_lossy();
        println!("native: ONNX Runtime {version} ({path}), C API 17");
        Api(&*api)
    }
}

type CreateFn = unsafe extern "C" fn(u32, f64, *const f32, usize, u32, *mut *mut c_void) -> u32;
type ForwardFn = unsafe extern "C" fn(
    *const c_void,
    *const f32,
    *const i64,
    usize,
    usize,
    *mut f32,
    usize,
) -> u32;

/// mml's C ABI as the plugin exports it.
struct DirectAbi {
    create: CreateFn,
    forward: ForwardFn,
}

impl DirectAbi {
    fn open(plugin: &str) -> DirectAbi {
        let name = CString::new(plugin).expect("a path without NUL");
        // SAFETY: dlopen of the plugin (ONNX Runtime opens the same file later and gets this
        // copy), which loads the libmml.so.0.1 it links; then symbols of that library (`dlsym`
        // searches a handle's dependencies too) of the types include/mml.h declares.
        unsafe {
            let lib = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            assert!(!lib.is_null(), "dlopen {plugin} failed");
            let symbol = |name: &CStr| {
                let found = libc::dlsym(lib, name.as_ptr());
                assert!(!found.is_null(), "no {name:?} in {plugin}");
                found
            };
            let text = |name: &CStr| {
                let f: unsafe extern "C" fn() -> *const c_char = std::mem::transmute(symbol(name));
                CStr::from_ptr(f()).to_string_lossy().into_owned()
            };
            println!(
                "mml {} (the libmml.so.0.1 the plugin links), kernel path {}",
                text(c"mml_version"),
                text(c"mml_kernel_path")
            );
            DirectAbi {
                create: std::mem::transmute::<*mut c_void, CreateFn>(symbol(c"mml_create")),
                forward: std::mem::transmute::<*mut c_void, ForwardFn>(symbol(c"mml_forward")),
            }
        }
    }
}

impl Api {
    fn check(self, status: OrtStatusPtr, what: &str) {
        if status.0.is_null() {
            return;
        }
        // SAFETY: a status from this API, read then released once.
        let message = unsafe {
            let text = CStr::from_ptr((self.0.GetErrorMessage)(status.0)).to_string_lossy();
            let owned = text.into_owned();
            (self.0.ReleaseStatus)(status.0);
            owned
        };
        panic!("{what}: {message}");
    }

    /// An `OrtValue` over the `len` elements at `data`, which must outlive its use.
    fn tensor<T>(
        self,
        data: *mut T,
        len: usize,
        shape: &[i64],
        dtype: ONNXTensorElementDataType,
    ) -> Value {
        let mut info = std::ptr::null_mut();
        let mut value = std::ptr::null_mut();
        // SAFETY: valid out-pointers; the buffer holds the shape's elements of `T`, the type
        // given, and outlives the value.
        unsafe {
            self.check(
                (self.0.CreateCpuMemoryInfo)(
                    OrtAllocatorType::OrtArenaAllocator,
                    OrtMemType::OrtMemTypeDefault,
                    &mut info,
                ),
                "CreateCpuMemoryInfo",
            );
            self.check(
                (self.0.CreateTensorWithDataAsOrtValue)(
                    info,
                    data.cast::<c_void>(),
                    len * size_of::<T>(),
                    shape.as_ptr(),
                    shape.len(),
                    dtype,
                    &mut value,
                ),
                "CreateTensorWithDataAsOrtValue",
            );
            (self.0.ReleaseMemoryInfo)(info);
        }
        Value(value)
    }
}

#[derive(Clone, Copy)]
struct Value(*mut OrtValue);

impl Api {
    fn release(self, value: Value) {
        // SAFETY: a value created by `tensor`, released once and not used after.
        unsafe { (self.0.ReleaseValue)(value.0) };
    }
}

struct Session {
    api: Api,
    session: *mut OrtSession,
}

impl Session {
    fn new(api: Api, plugin: &str, model: &str) -> Session {
        let plugin = CString::new(plugin).expect("a path without NUL");
        let model = CString::new(model).expect("a path without NUL");
        let (mut env, mut options, mut session) = (
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        // SAFETY: valid out-pointers and NUL-terminated strings; the environment and options
        // live until the process ends.
        unsafe {
            let a = api.0;
            api.check(
                (a.CreateEnv)(
                    OrtLoggingLevel::ORT_LOGGING_LEVEL_WARNING,
                    c"bench".as_ptr(),
                    &mut env,
                ),
                "CreateEnv",
            );
            api.check(
                (a.CreateSessionOptions)(&mut options),
                "CreateSessionOptions",
            );
            api.check((a.SetIntraOpNumThreads)(options, 1), "SetIntraOpNumThreads");
            api.check((a.SetInterOpNumThreads)(options, 1), "SetInterOpNumThreads");
            api.check(
                (a.AddSessionConfigEntry)(
                    options,
                    c"session.intra_op.allow_spinning".as_ptr(),
                    c"0".as_ptr(),
                ),
                "AddSessionConfigEntry",
            );
            api.check(
                (a.RegisterCustomOpsLibrary_V2)(options, plugin.as_ptr()),
                "RegisterCustomOpsLibrary_V2",
            );
            api.check(
                (a.CreateSession)(env, model.as_ptr(), options, &mut session),
                "CreateSession",
            );
        }
        Session { api, session }
    }

    /// One `Run` into the preallocated `output`.
    fn run(
        &self,
        names: &[*const c_char],
        inputs: &[*const OrtValue],
        output_name: &CStr,
        output: Value,
    ) {
        assert_eq!(names.len(), inputs.len());
        let output_name = output_name.as_ptr();
        let mut output = output.0;
        // SAFETY: a live session, as many names as values, and a preallocated output value,
        // which `Run` fills in place.
        let status = unsafe {
            (self.api.0.Run)(
                self.session,
                std::ptr::null(),
                names.as_ptr(),
                inputs.as_ptr(),
                inputs.len(),
                &output_name,
                1,
                &mut output,
            )
        };
        self.api.check(status, "Run");
    }
}
