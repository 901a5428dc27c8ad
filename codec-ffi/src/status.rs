//! Status codes, the thread's last error message, and the guard every entry
//! point runs its body in so that no panic unwinds into C.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use codec_core::package::PackageError;
use codec_core::quantizer::QuantizerError;
use codec_core::CodecError;

/// What every fallible `codec_*` function returns: `CODEC_OK` or one of the
/// `CODEC_ERROR_*` codes, with the one-line message in
/// `codec_last_error_message()`.
pub type CodecStatus = i32;

/// Success.
pub const CODEC_OK: CodecStatus = 0;
/// A pointer argument that must not be NULL was NULL.
pub const CODEC_ERROR_NULL_POINTER: CodecStatus = 1;
/// An argument out of range: a stage count the model was not trained for, a
/// name that is not UTF-8, a sample that is not finite, an unknown device.
pub const CODEC_ERROR_INVALID_ARGUMENT: CodecStatus = 2;
/// An output buffer smaller than the call needs; nothing was consumed.
pub const CODEC_ERROR_BUFFER_TOO_SMALL: CodecStatus = 3;
/// The model package is missing, damaged or not one this library reads.
pub const CODEC_ERROR_MODEL: CodecStatus = 4;
/// ONNX Runtime could not be loaded or a network failed to run.
pub const CODEC_ERROR_RUNTIME: CodecStatus = 5;
/// Codes that are not whole frames or not in their codebooks; nothing was consumed.
pub const CODEC_ERROR_CODES: CodecStatus = 6;
/// A bug in this library (a panic was caught); the object is unusable until reset.
pub const CODEC_ERROR_INTERNAL: CodecStatus = 7;
/// An earlier call on this encoder or decoder failed part-way (a network
/// error or a bug); reset it before using it again.
pub const CODEC_ERROR_NEEDS_RESET: CodecStatus = 8;

/// A failed call: its status and its message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: CodecStatus,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: CodecStatus, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    pub(crate) fn null(what: &str) -> Self {
        Self::new(CODEC_ERROR_NULL_POINTER, format!("{what} is NULL"))
    }

    fn panic(payload: &(dyn Any + Send)) -> Self {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Self::new(CODEC_ERROR_INTERNAL, format!("internal error: {detail}"))
    }
}

impl From<CodecError> for Failure {
    fn from(e: CodecError) -> Self {
        let status = match &e {
            CodecError::Package(PackageError::Quantizer(_)) | CodecError::Package(_) => CODEC_ERROR_MODEL,
            CodecError::Runtime(_) => CODEC_ERROR_RUNTIME,
            CodecError::Quantizer(QuantizerError::StagesOutOfRange { .. }) => CODEC_ERROR_INVALID_ARGUMENT,
            CodecError::Quantizer(QuantizerError::CodeOutOfRange { .. }) | CodecError::PartialFrame { .. } => {
                CODEC_ERROR_CODES
            }
            CodecError::Dsp(_) | CodecError::Audio(_) | CodecError::Mismatch(_) => CODEC_ERROR_INVALID_ARGUMENT,
            _ => CODEC_ERROR_INTERNAL,
        };
        Self::new(status, e.to_string())
    }
}

impl From<PackageError> for Failure {
    fn from(e: PackageError) -> Self {
        CodecError::from(e).into()
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn record(failure: Failure) -> CodecStatus {
    // A message is one line for C callers too; a NUL would cut it short.
    let line = failure.message.replace(['\0', '\n'], " ");
    let text = CString::new(line).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|last| *last.borrow_mut() = text);
    failure.status
}

/// Runs an entry point's body: a returned failure or a caught panic becomes
/// its status, with the message kept for `codec_last_error_message`.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> CodecStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => CODEC_OK,
        Ok(Err(failure)) => record(failure),
        Err(payload) => record(Failure::panic(payload.as_ref())),
    }
}

/// The message of the last call that failed on this thread: one line, UTF-8,
/// empty if none has failed. The pointer stays valid until the next failing
/// call on this thread; copy the text to keep it.
#[no_mangle]
pub extern "C" fn codec_last_error_message() -> *const c_char {
    catch_unwind(|| LAST_ERROR.try_with(|last| last.borrow().as_ptr()).unwrap_or(c"".as_ptr())).unwrap_or(c"".as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> String {
        // SAFETY: a NUL-terminated string that lives until the next failure on this thread.
        unsafe { std::ffi::CStr::from_ptr(codec_last_error_message()) }.to_string_lossy().into_owned()
    }

    #[test]
    fn a_panic_becomes_an_internal_error_with_its_message() {
        let status = guard(|| panic!("boom\nsecond line"));
        assert_eq!(status, CODEC_ERROR_INTERNAL);
        assert_eq!(message(), "internal error: boom second line");
        let formatted = guard(|| panic!("{} frames", 3));
        assert_eq!((formatted, message().as_str()), (CODEC_ERROR_INTERNAL, "internal error: 3 frames"));
    }

    #[test]
    fn a_success_keeps_the_last_message() {
        assert_eq!(guard(|| Err(Failure::new(CODEC_ERROR_CODES, "bad code"))), CODEC_ERROR_CODES);
        assert_eq!(guard(|| Ok(())), CODEC_OK);
        assert_eq!(message(), "bad code");
    }
}
