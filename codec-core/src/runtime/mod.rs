//! ONNX Runtime: loading the library once per process and building sessions
//! on the device asked for, falling back to the CPU with a notice.

mod library;
mod session;

pub use library::{init, library_path, set_bundled_library};
pub use session::{check_threads, Device, NetworkSession, RuntimeOptions, MAX_THREADS};

/// Why the runtime could not run a network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found (looked for {looked}); set ORT_DYLIB_PATH to libonnxruntime.so.1.31.1 \
         or run scripts/fetch-onnxruntime.sh"
    )]
    LibraryNotFound { looked: String },
    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    LibraryLoad { path: String, reason: String },
    #[error("{requested} threads a network call is more than the {max} allowed")]
    TooManyThreads { requested: usize, max: usize },
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    #[error("{graph} graph does not match the manifest: {detail}")]
    GraphMismatch { graph: &'static str, detail: String },
    #[error("{graph} returned {what} of shape {actual:?}; expected {expected:?}")]
    BadOutput { graph: &'static str, what: &'static str, expected: Vec<usize>, actual: Vec<usize> },
}

impl<R> From<ort::Error<R>> for RuntimeError {
    fn from(e: ort::Error<R>) -> Self {
        RuntimeError::Ort(e.to_string())
    }
}
