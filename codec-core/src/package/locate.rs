//! Finding a package by name: `$CODEC_MODELS`, then the folder an embedding
//! ships (see [`set_bundled_models_dir`]), then the `models/` folder of this
//! source tree (unless built without the `source-tree` feature), then
//! `models/` beside the executable or the working folder.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::PackageError;

/// The folder that holds the shipped packages and the `DEFAULT` file naming the default one.
pub fn models_dir() -> PathBuf {
    let dir = candidates().into_iter().find(|d| d.is_dir()).unwrap_or_else(|| PathBuf::from("models"));
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

static BUNDLED: OnceLock<PathBuf> = OnceLock::new();

/// The models folder a relocatable build ships beside itself (the Python
/// wheel's): looked in after `$CODEC_MODELS`. The first call wins.
pub fn set_bundled_models_dir(dir: PathBuf) {
    let _ = BUNDLED.set(dir);
}

fn candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("CODEC_MODELS") {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(dir) = BUNDLED.get() {
        dirs.push(dir.clone());
    }
    #[cfg(feature = "source-tree")]
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("models"));
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
        dirs.push(exe_dir.join("models"));
    }
    dirs.push(PathBuf::from("models"));
    dirs
}

/// The name in `models/DEFAULT`: the best shipped model at 2 kbps or less.
///
/// # Errors
/// [`PackageError::Io`] when the file cannot be read.
pub fn default_model_name() -> Result<String, PackageError> {
    let path = models_dir().join("DEFAULT");
    let text = std::fs::read_to_string(&path).map_err(|source| PackageError::Io { path, source })?;
    Ok(text.trim().to_string())
}

/// The folder of the shipped package `name`. Only a plain name (letters,
/// digits, `-`, `_` and `.`, not starting with `.`) of a folder in
/// [`models_dir`] with a manifest is one: a name read from a file must never
/// be taken as a path.
pub(super) fn shipped(name: &str) -> Result<PathBuf, PackageError> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let dir = models_dir();
    let candidate = dir.join(name);
    if plain && candidate.join("manifest.json").is_file() {
        return Ok(candidate);
    }
    Err(PackageError::UnknownName { name: name.escape_debug().to_string(), available: available(&dir) })
}

pub(super) fn resolve(name_or_path: &str) -> Result<PathBuf, PackageError> {
    let as_path = Path::new(name_or_path);
    let looks_like_path = name_or_path.contains(std::path::MAIN_SEPARATOR) || name_or_path.contains('/');
    if looks_like_path || as_path.join("manifest.json").is_file() {
        return Ok(as_path.to_path_buf());
    }
    let name = if name_or_path == "default" { default_model_name()? } else { name_or_path.to_string() };
    let dir = models_dir();
    let candidate = dir.join(&name);
    if candidate.join("manifest.json").is_file() {
        return Ok(candidate);
    }
    Err(PackageError::UnknownName { name, available: available(&dir) })
}

/// The shipped packages' names, for an error message.
fn available(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().join("manifest.json").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    if names.is_empty() {
        format!("none in {}", dir.display())
    } else {
        names.join(", ")
    }
}
