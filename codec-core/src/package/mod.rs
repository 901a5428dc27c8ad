//! Model packages: a folder with `manifest.json`, two ONNX graphs and the
//! codebooks, each file's hash in the manifest. Nothing is downloaded: a
//! package is found by path or by name among the shipped ones.

mod codebooks;
mod locate;
mod manifest;

pub use locate::{default_model_name, models_dir, set_bundled_models_dir};
pub use manifest::{GraphSpec, Manifest, QuantizerSpec, StftSpec, StreamingSpec, FORMAT_VERSION};

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::quantizer::{Quantizer, QuantizerError};

/// Why a model package was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    #[error("no model package at {path} (expected a folder with manifest.json)")]
    NotFound { path: PathBuf },
    #[error("no model named `{name}`; shipped models: {available}")]
    UnknownName { name: String, available: String },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("manifest.json is not valid JSON for a model package: {0}")]
    ManifestSyntax(String),
    #[error("manifest.json is too large ({size} bytes, limit {limit})")]
    ManifestTooLarge { size: u64, limit: u64 },
    #[error("manifest format version {found} is not supported (this runtime reads version {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("manifest field `{field}` is {value}; expected {expected}")]
    BadManifest { field: &'static str, value: String, expected: &'static str },
    #[error("{file} is missing from the package")]
    MissingFile { file: String },
    #[error("{file} leads out of the package folder (a symbolic link?): refused")]
    OutsidePackage { file: String },
    #[error("{file} in the package is not a regular file: refused")]
    NotRegularFile { file: String },
    #[error("{file} in the package is {size} bytes, over the {limit}-byte limit")]
    FileTooLarge { file: String, size: u64, limit: u64 },
    #[error("{file} does not match its hash in the manifest (expected {expected}, found {actual}): the package is altered or damaged")]
    HashMismatch { file: String, expected: String, actual: String },
    #[error("codebooks file: {0}")]
    Codebooks(String),
    #[error("quantizer tables: {0}")]
    Quantizer(#[from] QuantizerError),
}

/// A checked model package: its manifest, its quantizer, and where its graphs are.
#[derive(Clone)]
pub struct ModelPackage {
    dir: PathBuf,
    manifest: Manifest,
    id: [u8; 32],
    legacy_id: [u8; 32],
    quantizer: Arc<dyn Quantizer>,
}

impl std::fmt::Debug for ModelPackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelPackage").field("dir", &self.dir).field("name", &self.manifest.name).finish()
    }
}

impl ModelPackage {
    /// Opens a package by folder path, or by the name of a shipped model
    /// (`default` names the default model). For a name the user gave; a name
    /// read from a file goes to [`ModelPackage::open_shipped`].
    ///
    /// # Errors
    /// A missing folder or file, a bad manifest, a file whose hash differs from
    /// the manifest's, or codebooks that do not fit the manifest.
    pub fn open(name_or_path: &str) -> Result<Self, PackageError> {
        let path = locate::resolve(name_or_path)?;
        Self::open_dir(&path)
    }

    /// Opens the shipped package called `name`, and nothing else: for a model
    /// name read from a token file, a packet or a token part, which a stranger
    /// may have written. A name that is not a plain package name (a path,
    /// `..`, `default`) is refused, never looked up.
    ///
    /// # Errors
    /// [`PackageError::UnknownName`] for anything but a shipped package's
    /// name, and the errors of [`ModelPackage::open_dir`].
    pub fn open_shipped(name: &str) -> Result<Self, PackageError> {
        let path = locate::shipped(name)?;
        Self::open_dir(&path)
    }

    /// Opens the package in `dir`. Every file the manifest names must be a
    /// regular file inside `dir` (symbolic links are followed, but not out of
    /// it) of at most [`MAX_FILE_BYTES`].
    ///
    /// # Errors
    /// As [`ModelPackage::open`].
    pub fn open_dir(dir: &Path) -> Result<Self, PackageError> {
        let root = match std::fs::canonicalize(dir) {
            Ok(root) if root.is_dir() => root,
            _ => return Err(PackageError::NotFound { path: dir.to_path_buf() }),
        };
        let manifest_path = match package_file(&root, "manifest.json") {
            Err(PackageError::MissingFile { .. }) => return Err(PackageError::NotFound { path: dir.to_path_buf() }),
            other => other?,
        };
        let text = read_capped(&manifest_path, manifest::MAX_MANIFEST_BYTES)?;
        let manifest = Manifest::parse(&text)?;
        // The codebooks are checked as they are read below.
        for file in manifest.files.keys().filter(|f| **f != manifest.quantizer.file) {
            read_verified(&root, &manifest, file, MAX_FILE_BYTES, std::io::sink())?;
        }
        let quantizer =
            codebooks::load(&read_file(&root, &manifest, &manifest.quantizer.file, codebooks::MAX_BYTES)?, &manifest)?;
        let id = package_id(&manifest);
        let legacy_id = files_id(&manifest);
        Ok(Self { dir: root, manifest, id, legacy_id, quantizer })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    pub fn name(&self) -> &str {
        &self.manifest.name
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Identifies the model: a hash of every manifest fact that can change
    /// the codes or the audio, and of its files' hashes (see [`package_id`]).
    /// Token files, packets and token parts carry it so that a decoder
    /// refuses codes of another model.
    pub fn id(&self) -> [u8; 32] {
        self.id
    }
    /// The id that releases before the manifest was covered gave this
    /// package: the hash of its files' hashes only. Token files that carry it
    /// were written by such a release; it cannot tell two manifests over the
    /// same files apart.
    pub fn legacy_id(&self) -> [u8; 32] {
        self.legacy_id
    }
    /// The first four bytes of [`ModelPackage::id`], as stream packets carry it.
    pub fn tag(&self) -> u32 {
        u32::from_le_bytes([self.id[0], self.id[1], self.id[2], self.id[3]])
    }
    pub fn quantizer(&self) -> &Arc<dyn Quantizer> {
        &self.quantizer
    }
    /// The encoder graph's bytes, read again and checked against the
    /// manifest's hash: the file may have changed since the package opened,
    /// and the graph is loaded from these very bytes.
    ///
    /// # Errors
    /// As [`ModelPackage::open`] for that one file.
    pub fn encoder_graph(&self) -> Result<Vec<u8>, PackageError> {
        read_file(&self.dir, &self.manifest, &self.manifest.encoder.file, MAX_FILE_BYTES)
    }
    /// The decoder graph's bytes, checked as [`ModelPackage::encoder_graph`]'s are.
    ///
    /// # Errors
    /// As [`ModelPackage::open`] for that one file.
    pub fn decoder_graph(&self) -> Result<Vec<u8>, PackageError> {
        read_file(&self.dir, &self.manifest, &self.manifest.decoder.file, MAX_FILE_BYTES)
    }
    pub fn sample_rate(&self) -> u32 {
        self.manifest.sample_rate
    }
    pub fn hop(&self) -> usize {
        self.manifest.hop
    }
    /// The stages to use when the caller names none.
    pub fn default_stages(&self) -> usize {
        self.manifest.quantizer.default_stages.unwrap_or(self.manifest.quantizer.stages)
    }

    /// Bits a second at `stages` stages.
    pub fn bitrate(&self, stages: usize) -> f64 {
        let q = &self.quantizer;
        (q.codes_per_frame(stages) * usize::from(q.bits_per_code())) as f64 * f64::from(self.sample_rate())
            / self.hop() as f64
    }
}

/// The manifest's fields that describe the package rather than change what
/// it computes: its name (a renamed copy decodes the same), its history and
/// its measured quality (rewritten by the evaluation).
const DESCRIPTIVE_FIELDS: &[&str] = &["name", "training", "quality"];

/// The model id: sha256 over a version tag and the manifest as this runtime
/// reads it (fields it does not know are ignored by it, and so here), minus
/// [`DESCRIPTIVE_FIELDS`] and `quantizer.default_stages` (the stage count
/// used when the caller names none: token files record the stages they use),
/// with the file hashes in lower case, written as JSON with sorted keys and
/// no spaces. Any other change to the manifest changes the id.
fn package_id(manifest: &Manifest) -> [u8; 32] {
    let mut facts = serde_json::to_value(manifest).unwrap_or_default();
    if let Some(fields) = facts.as_object_mut() {
        for field in DESCRIPTIVE_FIELDS {
            fields.remove(*field);
        }
        if let Some(q) = fields.get_mut("quantizer").and_then(|q| q.as_object_mut()) {
            q.remove("default_stages");
        }
        if let Some(files) = fields.get_mut("files").and_then(|f| f.as_object_mut()) {
            for hash in files.values_mut() {
                if let Some(h) = hash.as_str() {
                    *hash = h.to_ascii_lowercase().into();
                }
            }
        }
    }
    let mut h = Sha256::new();
    h.update(b"codec-model-id 2\n");
    h.update(canonical_json(&facts).as_bytes());
    h.finalize().into()
}

/// JSON with object keys sorted at every level, whatever order the map type keeps.
fn canonical_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", serde_json::Value::from(k.as_str()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        serde_json::Value::Array(items) => {
            format!("[{}]", items.iter().map(canonical_json).collect::<Vec<_>>().join(","))
        }
        scalar => scalar.to_string(),
    }
}

/// The id before it covered the manifest: the hash of the files' hashes.
fn files_id(manifest: &Manifest) -> [u8; 32] {
    let mut h = Sha256::new();
    for (file, hash) in &manifest.files {
        h.update(file.as_bytes());
        h.update(b":");
        h.update(hash.to_ascii_lowercase().as_bytes());
        h.update(b"\n");
    }
    h.finalize().into()
}

/// The largest file a package may hold: graphs of a few hundred megabytes
/// are already far beyond a speech codec.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// `name` (checked by the manifest to be a plain relative path) inside the
/// package folder `root` (canonical): followed through symbolic links, it
/// must stay inside `root` and be a regular file of at most [`MAX_FILE_BYTES`].
fn package_file(root: &Path, name: &str) -> Result<PathBuf, PackageError> {
    let path = match std::fs::canonicalize(root.join(name)) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PackageError::MissingFile { file: name.to_owned() })
        }
        Err(source) => return Err(PackageError::Io { path: root.join(name), source }),
    };
    if !path.starts_with(root) {
        return Err(PackageError::OutsidePackage { file: name.to_owned() });
    }
    let meta = std::fs::metadata(&path).map_err(|source| PackageError::Io { path: path.clone(), source })?;
    if !meta.is_file() {
        return Err(PackageError::NotRegularFile { file: name.to_owned() });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(PackageError::FileTooLarge { file: name.to_owned(), size: meta.len(), limit: MAX_FILE_BYTES });
    }
    Ok(path)
}

fn read_capped(path: &Path, limit: u64) -> Result<String, PackageError> {
    let io = |source| PackageError::Io { path: path.to_path_buf(), source };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > limit {
        return Err(PackageError::ManifestTooLarge { size, limit });
    }
    let mut text = String::new();
    std::fs::File::open(path).map_err(io)?.take(limit).read_to_string(&mut text).map_err(io)?;
    Ok(text)
}

/// The package file `name`, read whole and checked against its hash.
fn read_file(root: &Path, manifest: &Manifest, name: &str, limit: u64) -> Result<Vec<u8>, PackageError> {
    // Room for the whole file at once, so that growing never holds two
    // copies; only a hint (the file is checked as it is read).
    let size = std::fs::metadata(root.join(name)).map_or(0, |m| m.len()).min(limit);
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    read_verified(root, manifest, name, limit, &mut bytes)?;
    Ok(bytes)
}

/// Copies the package file `name` (see [`package_file`]) into `out` through
/// one handle, checked again and never read past `limit`, and compares what
/// was read with the manifest's hash: whoever uses the bytes uses the ones
/// that were checked, even if the file is replaced meanwhile. On an error,
/// `out` may hold part of the file and must be dropped.
fn read_verified(
    root: &Path,
    manifest: &Manifest,
    name: &str,
    limit: u64,
    out: impl Write,
) -> Result<(), PackageError> {
    let Some(expected) = manifest.files.get(name) else {
        return Err(PackageError::MissingFile { file: name.to_owned() });
    };
    let path = package_file(root, name)?;
    let io = |source| PackageError::Io { path: path.clone(), source };
    let file = std::fs::File::open(&path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(PackageError::NotRegularFile { file: name.to_owned() });
    }
    let too_large = |size| PackageError::FileTooLarge { file: name.to_owned(), size, limit };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let mut tee = HashingWriter { hash: Sha256::new(), out };
    let read = std::io::copy(&mut file.take(limit + 1), &mut tee).map_err(io)?;
    if read > limit {
        return Err(too_large(read));
    }
    let actual: String = tee.hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(PackageError::HashMismatch { file: name.to_owned(), expected: expected.clone(), actual });
    }
    Ok(())
}

/// Hashes what it passes on.
struct HashingWriter<W> {
    hash: Sha256,
    out: W,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests;
