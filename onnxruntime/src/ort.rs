//! The part of ONNX Runtime's C API that the operators use, behind safe functions: statuses,
//! node attributes, input tensors and output allocation. All of this crate's calls into ONNX
//! Runtime are here.

use std::ffi::{CStr, CString, c_char, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

use ort_sys::{
    ONNXTensorElementDataType, OrtApi, OrtApiBase, OrtErrorCode, OrtKernelContext, OrtKernelInfo,
    OrtStatus, OrtStatusPtr, OrtTensorTypeAndShapeInfo, OrtValue,
};

/// Why a call failed: an ONNX Runtime error code and a message, turned into an `OrtStatus` at
/// the boundary.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: OrtErrorCode,
    pub message: String,
}

impl Failure {
    /// Bad input from the model or its caller.
    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            code: OrtErrorCode::ORT_INVALID_ARGUMENT,
            message: message.into(),
        }
    }

    /// A failure of ONNX Runtime itself, or a bug here (a caught panic).
    pub fn internal(message: impl Into<String>) -> Failure {
        Failure {
            code: OrtErrorCode::ORT_FAIL,
            message: message.into(),
        }
    }

    /// The same failure with `prefix: ` before its message.
    pub fn within(self, prefix: &str) -> Failure {
        Failure {
            code: self.code,
            message: format!("{prefix}: {}", self.message),
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, Failure>;

/// The API table ONNX Runtime handed over. It lives as long as the runtime's library, which
/// outlives every session and so every kernel of this plugin.
#[derive(Clone, Copy)]
pub(crate) struct Api(&'static OrtApi);

impl Api {
    /// # Safety
    /// `api` is NULL or a table returned by `OrtApiBase::GetApi` for `ORT_API_VERSION` or a
    /// later version (every version only appends to the table).
    pub unsafe fn new(api: *const OrtApi) -> Option<Api> {
        // SAFETY: by the caller's contract, a non-NULL pointer is a live, static table.
        unsafe { api.as_ref() }.map(Api)
    }

    pub fn raw(self) -> &'static OrtApi {
        self.0
    }

    /// A new `OrtStatus` carrying `failure` (ONNX Runtime copies the message). Interior NULs,
    /// which C strings cannot hold, become spaces.
    pub fn status(self, failure: &Failure) -> OrtStatusPtr {
        let message = CString::new(failure.message.replace('\0', " ")).unwrap_or_default();
        // SAFETY: a valid NUL-terminated message; the runtime copies it.
        unsafe { (self.0.CreateStatus)(failure.code, message.as_ptr()) }
    }

    /// Turns a status returned by the runtime into a result, releasing it.
    pub fn check(self, status: OrtStatusPtr) -> Result<()> {
        if status.0.is_null() {
            return Ok(());
        }
        let status: *mut OrtStatus = status.0;
        // SAFETY: a non-NULL status from the runtime, read and then released exactly once.
        let failure = unsafe {
            let message = (self.0.GetErrorMessage)(status);
            let message = if message.is_null() {
                String::from("(no message)")
            } else {
                CStr::from_ptr(message).to_string_lossy().into_owned()
            };
            let code = (self.0.GetErrorCode)(status);
            (self.0.ReleaseStatus)(status);
            Failure { code, message }
        };
        Err(failure)
    }

    /// Releases a status whose content does not matter (a probe that failed).
    fn discard(self, status: OrtStatusPtr) -> bool {
        if status.0.is_null() {
            return true;
        }
        // SAFETY: a non-NULL status from the runtime, released once.
        unsafe { (self.0.ReleaseStatus)(status.0) };
        false
    }
}

/// A node attribute, whatever its type (custom operators have no declared attributes, so the
/// model may give any type for any name).
#[derive(Debug, PartialEq)]
pub(crate) enum Attribute {
    Absent,
    Int(i64),
    Float(f32),
    String(String),
    /// A tensor attribute with exactly one float or double element, widened to double.
    Scalar(f64),
    /// A tensor attribute of another kind.
    OtherTensor,
}

/// The node a kernel is created for, during kernel creation only.
#[derive(Clone, Copy)]
pub(crate) struct KernelInfo {
    api: Api,
    info: *const OrtKernelInfo,
}

impl KernelInfo {
    /// # Safety
    /// `info` is the `OrtKernelInfo` passed to `CreateKernelV2`, used only during that call.
    pub unsafe fn new(api: Api, info: *const OrtKernelInfo) -> KernelInfo {
        KernelInfo { api, info }
    }

    /// The node's name ("" when the model gives none).
    pub fn node_name(self) -> Result<String> {
        let mut size = 0usize;
        // SAFETY: a live info; NULL `out` asks for the size including the NUL.
        self.api.check(unsafe {
            (self.api.0.KernelInfo_GetNodeName)(self.info, std::ptr::null_mut(), &mut size)
        })?;
        read_c_string(size, |buf, size| {
            // SAFETY: `buf` holds `*size` bytes.
            self.api
                .check(unsafe { (self.api.0.KernelInfo_GetNodeName)(self.info, buf, size) })
        })
    }

    /// The attribute `name`, found by asking for each type in turn.
    pub fn attribute(self, name: &CStr) -> Result<Attribute> {
        let (api, info, name) = (self.api, self.info, name.as_ptr());
        let mut int = 0i64;
        // SAFETY: a live info, a NUL-terminated name and a valid out-pointer.
        if api.discard(unsafe { (api.0.KernelInfoGetAttribute_int64)(info, name, &mut int) }) {
            return Ok(Attribute::Int(int));
        }
        let mut float = 0f32;
        // SAFETY: as above.
        if api.discard(unsafe { (api.0.KernelInfoGetAttribute_float)(info, name, &mut float) }) {
            return Ok(Attribute::Float(float));
        }
        let mut size = 0usize;
        // SAFETY: as above; NULL `out` asks for the size including the NUL.
        let probe = unsafe {
            (api.0.KernelInfoGetAttribute_string)(info, name, std::ptr::null_mut(), &mut size)
        };
        if api.discard(probe) {
            return read_c_string(size, |buf, size| {
                // SAFETY: `buf` holds `*size` bytes.
                api.check(unsafe { (api.0.KernelInfoGetAttribute_string)(info, name, buf, size) })
            })
            .map(Attribute::String);
        }
        self.tensor_attribute(name)
    }

    fn tensor_attribute(self, name: *const c_char) -> Result<Attribute> {
        let api = self.api;
        let mut allocator = std::ptr::null_mut();
        // SAFETY: a valid out-pointer; the default allocator is owned by the runtime.
        api.check(unsafe { (api.0.GetAllocatorWithDefaultOptions)(&mut allocator) })?;
        let mut value: *mut OrtValue = std::ptr::null_mut();
        // SAFETY: a live info, a NUL-terminated name, the runtime's allocator.
        let found = unsafe {
            (api.0.KernelInfoGetAttribute_tensor)(self.info, name, allocator, &mut value)
        };
        if !api.discard(found) || value.is_null() {
            return Ok(Attribute::Absent);
        }
        let scalar = (|| {
            // SAFETY: `value` is the live tensor just returned; released below.
            let tensor = unsafe { Tensor::new(api, value) }?;
            let one = tensor.len == 1 && !tensor.data.is_null();
            Ok(match tensor.dtype {
                ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE if one => {
                    // SAFETY: the tensor's one element, of its own type, read before release.
                    Attribute::Scalar(unsafe { tensor.data.cast::<f64>().read_unaligned() })
                }
                ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT if one => {
                    // SAFETY: as above.
                    let value = unsafe { tensor.data.cast::<f32>().read_unaligned() };
                    Attribute::Scalar(f64::from(value))
                }
                _ => Attribute::OtherTensor,
            })
        })();
        // SAFETY: the value returned above, released once.
        unsafe { (api.0.ReleaseValue)(value) };
        scalar
    }
}

/// Reads a C string of `size` bytes (NUL included) through `fill(buffer, &mut size)`.
fn read_c_string(
    size: usize,
    fill: impl FnOnce(*mut c_char, &mut usize) -> Result<()>,
) -> Result<String> {
    let mut buf = vec![0u8; size.max(1)];
    let mut size = buf.len();
    fill(buf.as_mut_ptr().cast(), &mut size)?;
    let text = CStr::from_bytes_until_nul(&buf)
        .map_err(|_| Failure::internal("ONNX Runtime returned a string without its NUL"))?;
    Ok(text.to_string_lossy().into_owned())
}

/// `OrtApi::GetTensorElementTypeAndShapeDataReference` (C API version 24, ONNX Runtime 1.24):
/// a tensor's element type and a pointer to its shape in one call, where version 17 takes five
/// and allocates a `OrtTensorTypeAndShapeInfo` (two tensors a call: 0.1-0.2 us of ONNX Runtime's
/// overhead per call). Found at registration on runtimes that have it; NULL otherwise.
type ShapeReference = unsafe extern "system" fn(
    *const OrtValue,
    *mut ONNXTensorElementDataType,
    *mut *const i64,
    *mut usize,
) -> OrtStatusPtr;
static SHAPE_REFERENCE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
/// The C API version that added it, and its index in the `OrtApi` table, which every version
/// only appends to: the last of version 24's 415 functions (`onnxruntime_c_api.h`; ort-sys's
/// `OrtApi` with the `api-24` feature has it at byte offset 3312).
const SHAPE_REFERENCE_VERSION: u32 = 24;
const SHAPE_REFERENCE_INDEX: usize = 414;

/// Looks for [`ShapeReference`] in the runtime behind `base`, unless `MML_ONNXRUNTIME_API=17`
/// asks for version 17's calls only (how the tests run the path older runtimes take).
///
/// # Safety
/// `base` is the runtime's `OrtApiBase`.
pub(crate) unsafe fn find_shape_reference(base: &OrtApiBase) {
    if std::env::var_os("MML_ONNXRUNTIME_API").is_some_and(|v| v == "17") {
        return;
    }
    // SAFETY: `GetApi` returns NULL or the runtime's static table of that version, which holds
    // every function up to that version's, so the entry at the index is readable.
    let function = unsafe {
        let table = (base.GetApi)(SHAPE_REFERENCE_VERSION);
        if table.is_null() {
            return;
        }
        table
            .cast::<*mut c_void>()
            .add(SHAPE_REFERENCE_INDEX)
            .read()
    };
    SHAPE_REFERENCE.store(function, Ordering::Relaxed);
}

/// The most dimensions an operand of these operators has.
pub(crate) const MAX_RANK: usize = 2;

/// A tensor's element type, shape and memory, as the runtime describes them.
pub(crate) struct Tensor {
    pub dtype: ONNXTensorElementDataType,
    pub rank: usize,
    /// The first `rank` entries are the dimensions.
    pub dims: [usize; MAX_RANK],
    /// Number of elements (1 for rank 0).
    pub len: usize,
    pub data: *mut c_void,
}

impl Tensor {
    /// Describes `value`. Ranks above [`MAX_RANK`] are refused here, before reading dimensions.
    ///
    /// # Safety
    /// `value` is a live tensor `OrtValue` for as long as the result is used.
    pub unsafe fn new(api: Api, value: *const OrtValue) -> Result<Tensor> {
        let shape_reference = SHAPE_REFERENCE.load(Ordering::Relaxed);
        let (dtype, rank, raw) = if shape_reference.is_null() {
            // SAFETY: the caller's contract.
            unsafe { Self::describe(api, value) }?
        } else {
            // SAFETY: a non-NULL `SHAPE_REFERENCE` is that function of this runtime.
            let function =
                unsafe { std::mem::transmute::<*mut c_void, ShapeReference>(shape_reference) };
            let mut dtype = ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
            let (mut shape, mut rank) = (std::ptr::null::<i64>(), 0usize);
            // SAFETY: a live value and valid out-pointers.
            api.check(unsafe { function(value, &mut dtype, &mut shape, &mut rank) })?;
            let mut raw = [0i64; MAX_RANK];
            if rank <= MAX_RANK && rank > 0 {
                // SAFETY: the runtime's `rank` dimensions, alive with the value.
                raw[..rank].copy_from_slice(unsafe { std::slice::from_raw_parts(shape, rank) });
            }
            (dtype, rank, raw)
        };
        let mut dims = [0usize; MAX_RANK];
        let mut len = 1usize;
        if rank <= MAX_RANK {
            for (d, &r) in dims.iter_mut().zip(&raw[..rank]) {
                *d = usize::try_from(r)
                    .map_err(|_| Failure::internal(format!("a tensor has dimension {r}")))?;
                len = len
                    .checked_mul(*d)
                    .ok_or_else(|| Failure::internal("a tensor's size overflows"))?;
            }
        }
        let mut data = std::ptr::null_mut();
        // SAFETY: a live tensor and a valid out-pointer. The runtime's C++ API reads inputs
        // through this same function; nothing here writes through an input's pointer.
        api.check(unsafe { (api.0.GetTensorMutableData)(value.cast_mut(), &mut data) })?;
        Ok(Tensor {
            dtype,
            rank,
            dims,
            len,
            data,
        })
    }

    /// The element type, rank and (up to [`MAX_RANK`]) dimensions through version 17's calls.
    ///
    /// # Safety
    /// As [`Tensor::new`].
    unsafe fn describe(
        api: Api,
        value: *const OrtValue,
    ) -> Result<(ONNXTensorElementDataType, usize, [i64; MAX_RANK])> {
        let mut info: *mut OrtTensorTypeAndShapeInfo = std::ptr::null_mut();
        // SAFETY: a live value and a valid out-pointer.
        api.check(unsafe { (api.0.GetTensorTypeAndShape)(value, &mut info) })?;
        let described = (|| {
            let mut dtype = ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
            let mut rank = 0usize;
            // SAFETY: the live info just created, valid out-pointers.
            api.check(unsafe { (api.0.GetTensorElementType)(info, &mut dtype) })?;
            // SAFETY: as above.
            api.check(unsafe { (api.0.GetDimensionsCount)(info, &mut rank) })?;
            let mut raw = [0i64; MAX_RANK];
            if rank <= MAX_RANK {
                // SAFETY: `raw` holds `rank` values.
                api.check(unsafe { (api.0.GetDimensions)(info, raw.as_mut_ptr(), rank) })?;
            }
            Ok((dtype, rank, raw))
        })();
        // SAFETY: created above, released once.
        unsafe { (api.0.ReleaseTensorTypeAndShapeInfo)(info) };
        described
    }

    pub fn shape(&self) -> &[usize] {
        &self.dims[..self.rank.min(MAX_RANK)]
    }
}

/// One call of a kernel: its inputs and outputs.
#[derive(Clone, Copy)]
pub(crate) struct KernelContext {
    api: Api,
    context: *mut OrtKernelContext,
    /// The node's input count, asked once per call.
    inputs: usize,
}

impl KernelContext {
    /// # Safety
    /// `context` is the `OrtKernelContext` passed to `KernelComputeV2`, used only during it.
    pub unsafe fn new(api: Api, context: *mut OrtKernelContext) -> Result<KernelContext> {
        let mut inputs = 0usize;
        // SAFETY: a live context (the caller's contract) and a valid out-pointer.
        api.check(unsafe { (api.0.KernelContext_GetInputCount)(context, &mut inputs) })?;
        Ok(KernelContext {
            api,
            context,
            inputs,
        })
    }

    /// Input `index`, or `None` when the node omits it (an optional input).
    pub fn input(self, index: usize) -> Result<Option<Tensor>> {
        if index >= self.inputs {
            return Ok(None);
        }
        let mut value: *const OrtValue = std::ptr::null();
        // SAFETY: a live context, an index below the input count, a valid out-pointer.
        self.api.check(unsafe {
            (self.api.0.KernelContext_GetInput)(self.context, index, &mut value)
        })?;
        if value.is_null() {
            return Ok(None);
        }
        // SAFETY: the runtime keeps its inputs alive for the whole call.
        unsafe { Tensor::new(self.api, value) }.map(Some)
    }

    /// Allocates output `index` with shape `dims` and element type `dtype`. The runtime makes
    /// it as asked, so only its memory is queried (describing it again cost five more calls of
    /// the C API, one allocation among them).
    pub fn output(
        self,
        index: usize,
        dims: &[usize],
        dtype: ONNXTensorElementDataType,
    ) -> Result<Tensor> {
        let rank = dims.len().min(MAX_RANK);
        let mut raw = [0i64; MAX_RANK];
        let mut shape = [0usize; MAX_RANK];
        let mut len = 1usize;
        for ((r, s), &d) in raw.iter_mut().zip(&mut shape).zip(&dims[..rank]) {
            *r =
                i64::try_from(d).map_err(|_| Failure::internal("an output dimension overflows"))?;
            *s = d;
            len = len
                .checked_mul(d)
                .ok_or_else(|| Failure::internal("an output's size overflows"))?;
        }
        let mut value: *mut OrtValue = std::ptr::null_mut();
        // SAFETY: a live context; `raw` holds `rank` (at most MAX_RANK) dimensions.
        self.api.check(unsafe {
            (self.api.0.KernelContext_GetOutput)(
                self.context,
                index,
                raw.as_ptr(),
                rank,
                &mut value,
            )
        })?;
        if value.is_null() {
            return Err(Failure::internal("ONNX Runtime gave no output tensor"));
        }
        let mut data = std::ptr::null_mut();
        // SAFETY: the output just allocated (alive for the whole call), a valid out-pointer.
        self.api
            .check(unsafe { (self.api.0.GetTensorMutableData)(value, &mut data) })?;
        Ok(Tensor {
            dtype,
            rank,
            dims: shape,
            len,
            data,
        })
    }
}
