//! Finding and loading `libonnxruntime` once per process.

use std::path::PathBuf;
use std::sync::OnceLock;

use super::RuntimeError;

static LOADED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
// ort keeps only a weak reference to the environment: this one lives as long as the process.
static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();

static BUNDLED: OnceLock<PathBuf> = OnceLock::new();

/// The library a relocatable build ships beside itself (the Python wheel's):
/// tried after `ORT_DYLIB_PATH` and the executable's folder. The first call
/// wins, and only before the library is loaded.
pub fn set_bundled_library(path: PathBuf) {
    let _ = BUNDLED.set(path);
}

/// Where the library is looked for, in order: `ORT_DYLIB_PATH`, beside the
/// executable, the bundled copy, then the copy fetched at build time (unless
/// built without the `source-tree` feature).
fn candidates() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        paths.push(PathBuf::from(p));
        return paths;
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from)) {
        paths.push(dir.join("libonnxruntime.so.1.31.1"));
    }
    if let Some(path) = BUNDLED.get() {
        paths.push(path.clone());
    }
    #[cfg(feature = "source-tree")]
    if let Some(built) = option_env!("CODEC_ORT_LIB") {
        paths.push(PathBuf::from(built));
    }
    paths
}

/// The process's ONNX Runtime environment, loading the library first if needed.
///
/// # Errors
/// As [`init`].
pub(crate) fn environment() -> Result<&'static ort::environment::Environment, RuntimeError> {
    init()?;
    ENVIRONMENT.get().ok_or_else(|| RuntimeError::Ort("the ONNX Runtime environment was not created".into()))
}

/// The library this process loaded, if any.
pub fn library_path() -> Option<PathBuf> {
    LOADED.get().and_then(|r| r.as_ref().ok().cloned())
}

/// Loads ONNX Runtime and creates its environment; later calls return the first result.
///
/// # Errors
/// [`RuntimeError::LibraryNotFound`] or [`RuntimeError::LibraryLoad`], with the paths tried.
pub fn init() -> Result<(), RuntimeError> {
    let result = LOADED.get_or_init(|| {
        let paths = candidates();
        let Some(path) = paths.iter().find(|p| p.is_file()) else {
            let looked = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
            return Err(format!("notfound:{looked}"));
        };
        let builder = ort::init_from(path).map_err(|e| format!("{}:{e}", path.display()))?;
        let env = builder.with_name("codec").build().map_err(|e| format!("{}:{e}", path.display()))?;
        let _ = ENVIRONMENT.set(env);
        Ok(path.clone())
    });
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.starts_with("notfound:") => {
            Err(RuntimeError::LibraryNotFound { looked: e.trim_start_matches("notfound:").to_string() })
        }
        Err(e) => {
            let (path, reason) = e.split_once(':').unwrap_or(("", e));
            Err(RuntimeError::LibraryLoad { path: path.to_string(), reason: reason.to_string() })
        }
    }
}
