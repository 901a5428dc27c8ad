//! What `codec tokenize` reads, for pipelines that tokenize in Python (on
//! Ray, say): its list of a corpus's files with their ids, and its audio
//! decoder, so the codes and ids are the command's.

use std::path::PathBuf;

use codec_core::audio;
use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::codec_err;

/// The files of a corpus as `codec tokenize` lists them, sorted by id: a
/// list of `(id, path)`. `path` is a folder (searched recursively for
/// audio files) or a manifest (one path a line, or JSON lines with `path`
/// and `id`).
#[pyfunction]
pub(crate) fn list_inputs(py: Python<'_>, path: PathBuf) -> PyResult<Vec<(String, PathBuf)>> {
    let entries = py
        .allow_threads(|| codec_core::corpus::list_inputs(&path))
        .map_err(|e| codec_err(format!("cannot list {}: {e}", path.display())))?;
    Ok(entries.into_iter().map(|e| (e.id, e.path)).collect())
}

/// Decodes an audio file (by path, or its bytes) as `codec` reads one:
/// `(samples, sample_rate)`, samples float32 mono at the file's rate.
#[pyfunction]
pub(crate) fn read_audio<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyArray1<f32>>, u32)> {
    let input = if let Ok(bytes) = source.downcast::<PyBytes>() {
        let bytes = bytes.as_bytes();
        py.allow_threads(|| audio::read_audio_from(std::io::Cursor::new(bytes), None)).map_err(codec_err)?
    } else {
        let path: PathBuf = source.extract()?;
        py.allow_threads(|| -> Result<audio::Audio, String> {
            // Opening a FIFO would wait for a writer forever.
            if std::fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
                return Err(format!("{}: not a regular file (a FIFO, a device or a folder)", path.display()));
            }
            audio::read_audio(&path).map_err(|e| e.to_string())
        })
        .map_err(codec_err)?
    };
    Ok((input.samples.into_pyarray(py), input.sample_rate))
}
