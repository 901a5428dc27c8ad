//! Status codes, the thread's last error message, and the guard every entry
//! point runs its body in so that no panic unwinds into C.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use codec_core::package::PackageError;
use codec_core::quantizer::QuantizerError;
use codec_core::runtime::RuntimeError;
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
/// block or thread count over its limit, a name that is not UTF-8, a sample
/// that is not finite, an unknown device.
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
        let at = PANIC_AT.try_with(RefCell::take).ok().flatten();
        let at = at.map(|at| format!(" (at {at})")).unwrap_or_default();
        Self::new(CODEC_ERROR_INTERNAL, format!("internal error: {detail}{at}"))
    }
}

impl From<CodecError> for Failure {
    fn from(e: CodecError) -> Self {
        let status = match &e {
            CodecError::Package(PackageError::Quantizer(_)) | CodecError::Package(_) => CODEC_ERROR_MODEL,
            CodecError::Runtime(RuntimeError::TooManyThreads { .. }) => CODEC_ERROR_INVALID_ARGUMENT,
            CodecError::Runtime(_) => CODEC_ERROR_RUNTIME,
            CodecError::Quantizer(QuantizerError::StagesOutOfRange { .. }) => CODEC_ERROR_INVALID_ARGUMENT,
            CodecError::Quantizer(QuantizerError::CodeOutOfRange { .. }) | CodecError::PartialFrame { .. } => {
                CODEC_ERROR_CODES
            }
            CodecError::Dsp(_) | CodecError::Audio(_) | CodecError::Mismatch(_) | CodecError::OverLimit { .. } => {
                CODEC_ERROR_INVALID_ARGUMENT
            }
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

thread_local! {
    /// Inside [`guard`]: a panic is caught and reported, not printed.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic inside [`guard`] happened.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the panic hook, once, with one that keeps the location of a
/// panic inside [`guard`] for its message and prints nothing: a library
/// must not write to its host's stderr. Panics elsewhere go to the hook
/// that was there before.
fn quiet_panics_in_guard() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.try_with(Cell::get).unwrap_or(false) {
                let at = info.location().map(ToString::to_string);
                let _ = PANIC_AT.try_with(|last| *last.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs an entry point's body: a returned failure or a caught panic becomes
/// its status, with the message kept for `codec_last_error_message`.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> CodecStatus {
    quiet_panics_in_guard();
    let outer = GUARDED.try_with(|g| g.replace(true)).unwrap_or(false);
    let result = catch_unwind(AssertUnwindSafe(body));
    let _ = GUARDED.try_with(|g| g.set(outer));
    match result {
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
        assert!(message().starts_with("internal error: boom second line (at "), "{}", message());
        let formatted = guard(|| panic!("{} frames", 3));
        assert_eq!(formatted, CODEC_ERROR_INTERNAL);
        assert!(message().starts_with("internal error: 3 frames (at "), "{}", message());
    }

    /// A library must not write to its host's stderr: the panic's message
    /// goes to `codec_last_error_message` only. Run in a child process, as
    /// the test harness would capture what the panic hook prints.
    #[test]
    fn a_caught_panic_writes_nothing_to_stderr() {
        const CHILD: &str = "CODEC_FFI_TEST_PANIC_CHILD";
        if std::env::var_os(CHILD).is_some() {
            assert_eq!(guard(|| panic!("quiet please")), CODEC_ERROR_INTERNAL);
            assert!(message().starts_with("internal error: quiet please (at "), "{}", message());
            assert!(message().contains("status.rs:"), "{}", message());
            return;
        }
        let exe = std::env::current_exe().expect("test binary");
        let test = "status::tests::a_caught_panic_writes_nothing_to_stderr";
        let out = std::process::Command::new(exe)
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .expect("run the child");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && stdout.contains("1 passed"), "{stdout}{stderr}");
        assert!(!stderr.contains("quiet please") && !stderr.contains("panicked"), "{stderr}");
    }

    #[test]
    fn a_success_keeps_the_last_message() {
        assert_eq!(guard(|| Err(Failure::new(CODEC_ERROR_CODES, "bad code"))), CODEC_ERROR_CODES);
        assert_eq!(guard(|| Ok(())), CODEC_OK);
        assert_eq!(message(), "bad code");
    }
}
