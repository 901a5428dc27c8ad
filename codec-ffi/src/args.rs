//! Checked views of what C hands over: pointers that may be NULL, lengths
//! that may not fit, and handles that may be missing.

use std::ffi::{c_char, CStr};

use crate::status::{Failure, CODEC_ERROR_INVALID_ARGUMENT};

/// `len` elements at `ptr`; NULL is accepted only for an empty slice.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` initialised elements that stay valid
/// and unaliased by writers for `'a`.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    check_len::<T>(len, what)?;
    // SAFETY: non-NULL, and the caller promises `len` valid elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// `len` writable elements at `ptr`; NULL is accepted only for an empty slice.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` elements writable and unaliased for `'a`.
pub(crate) unsafe fn slice_mut<'a, T>(ptr: *mut T, len: usize, what: &str) -> Result<&'a mut [T], Failure> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    check_len::<T>(len, what)?;
    // SAFETY: non-NULL, and the caller promises `len` writable elements.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

fn check_len<T>(len: usize, what: &str) -> Result<(), Failure> {
    if len.checked_mul(size_of::<T>()).is_none_or(|bytes| bytes > isize::MAX as usize) {
        return Err(Failure::new(CODEC_ERROR_INVALID_ARGUMENT, format!("{what}: length {len} is larger than memory")));
    }
    Ok(())
}

/// The object behind a handle.
///
/// # Safety
/// A non-NULL `ptr` must come from this library's matching `_new` and not be freed.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller promises a live handle or NULL.
    unsafe { ptr.as_ref() }.ok_or_else(|| Failure::null(what))
}

/// As [`handle`], for a call that changes the object.
///
/// # Safety
/// As [`handle`], and no other thread uses the object during the call.
pub(crate) unsafe fn handle_mut<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller promises a live handle or NULL, used by this thread alone.
    unsafe { ptr.as_mut() }.ok_or_else(|| Failure::null(what))
}

/// A NUL-terminated UTF-8 string.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated, as the caller promises.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str().map_err(|_| Failure::new(CODEC_ERROR_INVALID_ARGUMENT, format!("{what} is not UTF-8")))
}

/// Stores `value` through an out-pointer.
///
/// # Safety
/// A non-NULL `ptr` must be writable.
pub(crate) unsafe fn put<T>(ptr: *mut T, value: T, what: &str) -> Result<(), Failure> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL and writable, as the caller promises.
    unsafe { ptr.write(value) };
    Ok(())
}

/// Rejects NaN and infinite samples, which the networks would turn into
/// garbage codes without a word.
pub(crate) fn check_finite(pcm: &[f32]) -> Result<(), Failure> {
    match pcm.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => {
            Err(Failure::new(CODEC_ERROR_INVALID_ARGUMENT, format!("sample {i} is {}, not a finite number", pcm[i])))
        }
    }
}

/// Frees what `Box::into_raw` made; NULL is ignored, and a panic in a
/// destructor stays on this side of the boundary.
///
/// # Safety
/// `ptr` is NULL or from `Box::into_raw`, freed once and not used afterwards.
pub(crate) unsafe fn free<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: as the caller promises.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(unsafe { Box::from_raw(ptr) })));
    }
}
