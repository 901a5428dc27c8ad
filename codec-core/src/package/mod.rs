//! Model packages: a folder with `manifest.json`, two ONNX graphs and the
//! codebooks, each file's hash in the manifest. Nothing is downloaded: a
//! package is found by path or by name among the shipped ones.

mod codebooks;
mod locate;
mod manifest;

pub use locate::{default_model_name, models_dir};
pub use manifest::{GraphSpec, Manifest, QuantizerSpec, StftSpec, StreamingSpec, FORMAT_VERSION};

use std::io::Read;
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
    quantizer: Arc<dyn Quantizer>,
}

impl std::fmt::Debug for ModelPackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelPackage").field("dir", &self.dir).field("name", &self.manifest.name).finish()
    }
}

impl ModelPackage {
    /// Opens a package by folder path, or by the name of a shipped model
    /// (`default` names the default model).
    ///
    /// # Errors
    /// A missing folder or file, a bad manifest, a file whose hash differs from
    /// the manifest's, or codebooks that do not fit the manifest.
    pub fn open(name_or_path: &str) -> Result<Self, PackageError> {
        let path = locate::resolve(name_or_path)?;
        Self::open_dir(&path)
    }

    /// Opens the package in `dir`.
    ///
    /// # Errors
    /// As [`ModelPackage::open`].
    pub fn open_dir(dir: &Path) -> Result<Self, PackageError> {
        let manifest_path = dir.join("manifest.json");
        if !manifest_path.is_file() {
            return Err(PackageError::NotFound { path: dir.to_path_buf() });
        }
        let text = read_capped(&manifest_path, manifest::MAX_MANIFEST_BYTES)?;
        let manifest = Manifest::parse(&text)?;
        for (file, expected) in &manifest.files {
            let actual = sha256_file(&dir.join(file))?;
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(PackageError::HashMismatch { file: file.clone(), expected: expected.clone(), actual });
            }
        }
        let quantizer = codebooks::load(&dir.join(&manifest.quantizer.file), &manifest)?;
        let id = package_id(&manifest);
        Ok(Self { dir: dir.to_path_buf(), manifest, id, quantizer })
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
    /// Identifies the model's weights: the hash of its files' hashes. Token
    /// files carry it so that a decoder refuses codes of another model.
    pub fn id(&self) -> [u8; 32] {
        self.id
    }
    /// The first four bytes of [`ModelPackage::id`], as stream packets carry it.
    pub fn tag(&self) -> u32 {
        u32::from_le_bytes([self.id[0], self.id[1], self.id[2], self.id[3]])
    }
    pub fn quantizer(&self) -> &Arc<dyn Quantizer> {
        &self.quantizer
    }
    pub fn encoder_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.encoder.file)
    }
    pub fn decoder_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.decoder.file)
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

fn package_id(manifest: &Manifest) -> [u8; 32] {
    let mut h = Sha256::new();
    for (file, hash) in &manifest.files {
        h.update(file.as_bytes());
        h.update(b":");
        h.update(hash.to_ascii_lowercase().as_bytes());
        h.update(b"\n");
    }
    h.finalize().into()
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

fn sha256_file(path: &Path) -> Result<String, PackageError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PackageError::MissingFile { file: path.display().to_string() })
        }
        Err(source) => return Err(PackageError::Io { path: path.to_path_buf(), source }),
    };
    let mut h = Sha256::new();
    std::io::copy(&mut file, &mut h).map_err(|source| PackageError::Io { path: path.to_path_buf(), source })?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests;
