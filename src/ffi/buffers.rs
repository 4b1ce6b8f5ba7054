//! Turning caller pointers into slices, after every check that makes that sound: NULL only
//! with length 0, alignment, a size that fits, and no output overlapping anything else.

use std::ops::Range;

use super::status::{
    MML_STATUS_ALIASED_BUFFERS, MML_STATUS_INVALID_ARGUMENT, MML_STATUS_NULL_POINTER, Status,
};

/// A caller's buffer: pointer and element count, not yet trusted.
pub(crate) struct Raw<T> {
    pub ptr: *const T,
    pub len: usize,
}

impl<T> Raw<T> {
    pub fn new(ptr: *const T, len: usize) -> Self {
        Raw { ptr, len }
    }

    pub fn new_mut(ptr: *mut T, len: usize) -> Self {
        Raw {
            ptr: ptr as *const T,
            len,
        }
    }

    /// NULL only with length 0, aligned, and small enough to be a slice.
    pub fn check(&self) -> Result<(), Status> {
        if self.len == 0 {
            return Ok(());
        }
        if self.ptr.is_null() {
            return Err(MML_STATUS_NULL_POINTER);
        }
        if !self.ptr.is_aligned() {
            return Err(MML_STATUS_INVALID_ARGUMENT);
        }
        match self.len.checked_mul(size_of::<T>()) {
            Some(bytes)
                if bytes <= isize::MAX as usize
                    && (self.ptr as usize).checked_add(bytes).is_some() =>
            {
                Ok(())
            }
            _ => Err(MML_STATUS_INVALID_ARGUMENT),
        }
    }

    /// Byte range occupied; empty for an empty buffer, which overlaps nothing.
    pub fn bytes(&self) -> Range<usize> {
        let start = self.ptr as usize;
        if self.len == 0 {
            return start..start;
        }
        start..start + self.len * size_of::<T>()
    }

    /// # Safety
    /// [`Raw::check`] passed, and the caller guarantees `len` readable elements at `ptr` that
    /// nothing writes during the call.
    pub unsafe fn as_slice<'a>(&self) -> &'a [T] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: non-NULL, aligned and size-checked by `check`; validity is the caller's contract.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// # Safety
    /// As [`Raw::as_slice`], writable, and [`no_overlap`] passed for this buffer.
    pub unsafe fn as_mut_slice<'a>(&self) -> &'a mut [T] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: as `as_slice`; exclusive because `no_overlap` ruled out every other buffer of
        // the call, and the caller's contract rules out concurrent access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr as *mut T, self.len) }
    }
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    !a.is_empty() && !b.is_empty() && a.start < b.end && b.start < a.end
}

/// Every output must be disjoint from every input and from every other output.
pub(crate) fn no_overlap(outputs: &[Range<usize>], inputs: &[Range<usize>]) -> Result<(), Status> {
    for (i, out) in outputs.iter().enumerate() {
        let others = outputs[i + 1..].iter().chain(inputs);
        if others.into_iter().any(|other| overlaps(out, other)) {
            return Err(MML_STATUS_ALIASED_BUFFERS);
        }
    }
    Ok(())
}
