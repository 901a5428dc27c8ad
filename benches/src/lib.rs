//! Shared by the benchmarks: the shipped packages and the sample.

use std::path::PathBuf;

use codec_core::ModelPackage;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A shipped package by name.
///
/// # Panics
/// When the package does not open: a benchmark has nothing to measure then.
pub fn package(name: &str) -> ModelPackage {
    #[allow(clippy::unwrap_used)]
    ModelPackage::open_dir(&repo().join("models").join(name)).unwrap()
}

/// The shipped sample at 16 kHz.
///
/// # Panics
/// When the sample cannot be read.
pub fn sample() -> Vec<f32> {
    #[allow(clippy::unwrap_used)]
    codec_core::audio::read_audio(&repo().join("testdata").join("sample.wav")).unwrap().samples
}
