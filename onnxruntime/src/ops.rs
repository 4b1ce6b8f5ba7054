//! The `OrtCustomOp` table ONNX Runtime reads, and every callback it calls. One entry per
//! (operator, scores type, targets type): ONNX Runtime picks the kernel whose types match the
//! node's inputs, and infers the output's type from it. Every callback body runs inside
//! `catch_unwind`: a panic (a bug here or in mml) never unwinds into ONNX Runtime.

use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use ort_sys::{
    ONNXTensorElementDataType, ORT_API_VERSION, OrtApi, OrtCustomOp,
    OrtCustomOpInputOutputCharacteristic as Characteristic, OrtKernelContext, OrtKernelInfo,
    OrtMemType, OrtStatusPtr,
};

use crate::kernel::Kernel;
use crate::ort::{Api, Failure, KernelContext, KernelInfo, Result};
use crate::signature::{ALL_SCORES, ALL_TARGETS, KINDS, Role, Signature};

const UNDEFINED: ONNXTensorElementDataType =
    ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;

/// An entry of the table: the runtime's struct first, so that the `*const OrtCustomOp` it
/// passes back points at the whole entry.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Op {
    base: OrtCustomOp,
    signature: Signature,
}

impl Op {
    pub fn raw(&'static self) -> *const OrtCustomOp {
        &self.base
    }
}

const COUNT: usize = KINDS.len() * ALL_SCORES.len() * ALL_TARGETS.len();

/// Every kernel the library registers, for the life of the process.
pub(crate) static OPS: [Op; COUNT] = table();

const fn table() -> [Op; COUNT] {
    let first = Signature {
        kind: KINDS[0],
        scores: ALL_SCORES[0],
        targets: ALL_TARGETS[0],
    };
    let mut ops = [op(first); COUNT];
    let mut i = 0;
    while i < COUNT {
        ops[i] = op(Signature {
            kind: KINDS[i / (ALL_SCORES.len() * ALL_TARGETS.len())],
            scores: ALL_SCORES[i / ALL_TARGETS.len() % ALL_SCORES.len()],
            targets: ALL_TARGETS[i % ALL_TARGETS.len()],
        });
        i += 1;
    }
    ops
}

const fn op(signature: Signature) -> Op {
    Op {
        base: OrtCustomOp {
            // The runtime reads only the fields that exist at this version.
            version: ORT_API_VERSION,
            CreateKernel: None,
            GetName: Some(get_name),
            GetExecutionProviderType: Some(get_execution_provider_type),
            GetInputType: Some(get_input_type),
            GetInputTypeCount: Some(get_input_type_count),
            GetOutputType: Some(get_output_type),
            GetOutputTypeCount: Some(get_output_type_count),
            KernelCompute: None,
            KernelDestroy: Some(kernel_destroy),
            GetInputCharacteristic: Some(get_input_characteristic),
            GetOutputCharacteristic: Some(get_output_characteristic),
            GetInputMemoryType: Some(get_input_memory_type),
            GetVariadicInputMinArity: None,
            GetVariadicInputHomogeneity: None,
            GetVariadicOutputMinArity: None,
            GetVariadicOutputHomogeneity: None,
            CreateKernelV2: Some(create_kernel),
            KernelComputeV2: Some(compute),
            InferOutputShapeFn: None,
            GetStartVersion: None,
            GetEndVersion: None,
        },
        signature,
    }
}

/// The entry behind a pointer the runtime passes back.
///
/// # Safety
/// `op` is [`Op::raw`] of an entry of [`OPS`] (the only pointers this library registers).
unsafe fn entry<'a>(op: *const OrtCustomOp) -> &'a Op {
    // SAFETY: `base` is the first field of a `repr(C)` `Op` in a static, by the contract.
    unsafe { &*op.cast::<Op>() }
}

/// Runs `body`, or gives `fallback` if it panics.
fn guarded<R>(fallback: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Runs `body` and turns its outcome, a panic included, into a status (NULL for success).
pub(crate) fn guarded_status(api: Api, body: impl FnOnce() -> Result<()>) -> OrtStatusPtr {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a panic");
        Err(Failure::internal(format!(
            "internal error in mml's ONNX Runtime operators (please report it): {what}"
        )))
    });
    match outcome {
        Ok(()) => OrtStatusPtr::default(),
        Err(failure) => guarded(OrtStatusPtr::default(), || api.status(&failure)),
    }
}

extern "system" fn get_name(op: *const OrtCustomOp) -> *const c_char {
    // SAFETY: the runtime passes back a registered entry.
    guarded(std::ptr::null(), || {
        unsafe { entry(op) }.signature.kind.name().as_ptr()
    })
}

extern "system" fn get_execution_provider_type(_op: *const OrtCustomOp) -> *const c_char {
    // NULL: the CPU execution provider.
    std::ptr::null()
}

fn input_role(op: *const OrtCustomOp, index: usize) -> Option<(Signature, Role)> {
    // SAFETY: the runtime passes back a registered entry.
    let signature = unsafe { entry(op) }.signature;
    signature
        .kind
        .inputs()
        .get(index)
        .map(|&role| (signature, role))
}

extern "system" fn get_input_type(
    op: *const OrtCustomOp,
    index: usize,
) -> ONNXTensorElementDataType {
    guarded(UNDEFINED, || {
        input_role(op, index).map_or(UNDEFINED, |(signature, role)| signature.input_type(role))
    })
}

extern "system" fn get_input_type_count(op: *const OrtCustomOp) -> usize {
    // SAFETY: the runtime passes back a registered entry.
    guarded(0, || unsafe { entry(op) }.signature.kind.inputs().len())
}

extern "system" fn get_output_type(
    op: *const OrtCustomOp,
    _index: usize,
) -> ONNXTensorElementDataType {
    // SAFETY: the runtime passes back a registered entry.
    guarded(UNDEFINED, || unsafe { entry(op) }.signature.output_type())
}

extern "system" fn get_output_type_count(_op: *const OrtCustomOp) -> usize {
    1
}

extern "system" fn get_input_characteristic(
    op: *const OrtCustomOp,
    index: usize,
) -> Characteristic {
    guarded(Characteristic::INPUT_OUTPUT_REQUIRED, || {
        match input_role(op, index) {
            Some((_, Role::Weight)) => Characteristic::INPUT_OUTPUT_OPTIONAL,
            _ => Characteristic::INPUT_OUTPUT_REQUIRED,
        }
    })
}

extern "system" fn get_output_characteristic(
    _op: *const OrtCustomOp,
    _index: usize,
) -> Characteristic {
    Characteristic::INPUT_OUTPUT_REQUIRED
}

extern "system" fn get_input_memory_type(_op: *const OrtCustomOp, _index: usize) -> OrtMemType {
    OrtMemType::OrtMemTypeDefault
}

extern "system" fn create_kernel(
    op: *const OrtCustomOp,
    api: *const OrtApi,
    info: *const OrtKernelInfo,
    kernel: *mut *mut c_void,
) -> OrtStatusPtr {
    // SAFETY: the runtime passes the API table of this op's version.
    let Some(api) = (unsafe { Api::new(api) }) else {
        return OrtStatusPtr::default();
    };
    guarded_status(api, || {
        // SAFETY: a registered entry; `info` is valid during this call only, and only used here.
        let (signature, info) = unsafe { (entry(op).signature, KernelInfo::new(api, info)) };
        if kernel.is_null() {
            return Err(Failure::internal(
                "CreateKernelV2 was given no place for the kernel",
            ));
        }
        let held: Box<Held> = Box::new((api, Kernel::new(signature, info)?));
        // SAFETY: non-NULL, the runtime's out-pointer for this call.
        unsafe { kernel.write(Box::into_raw(held).cast()) };
        Ok(())
    })
}

/// A kernel as the runtime holds it: with the API table it computes through.
type Held = (Api, Kernel);

extern "system" fn compute(kernel: *mut c_void, context: *mut OrtKernelContext) -> OrtStatusPtr {
    // SAFETY: `kernel` came from `create_kernel` and lives until `kernel_destroy`; the runtime
    // may call this from several threads at once, and the kernel is only read.
    let (api, kernel) = unsafe { &*kernel.cast::<Held>() };
    guarded_status(*api, || {
        // SAFETY: the context of this call, used only during it.
        kernel.compute(unsafe { KernelContext::new(*api, context) }?)
    })
}

extern "system" fn kernel_destroy(kernel: *mut c_void) {
    if kernel.is_null() {
        return;
    }
    // SAFETY: created by `create_kernel` as a boxed `Held`, destroyed once by the runtime.
    guarded((), || drop(unsafe { Box::from_raw(kernel.cast::<Held>()) }));
}
