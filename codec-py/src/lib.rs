//! `speechcodec`: the codec for Python. Whole signals to codes and back
//! ([`model`]), streaming objects ([`stream`]), token files and corpus parts
//! ([`files`]), what `codec tokenize` reads ([`corpus`]), with the GIL released while the networks run and every
//! error a Python exception.

mod arrays;
mod corpus;
mod files;
mod model;
mod stream;

use std::path::PathBuf;

use pyo3::exceptions::PyException;
use pyo3::prelude::*;

pyo3::create_exception!(
    speechcodec,
    CodecError,
    PyException,
    "An error of the codec, with the message the CLI prints."
);

pub(crate) fn codec_err(e: impl std::fmt::Display) -> PyErr {
    CodecError::new_err(e.to_string())
}

/// The ONNX Runtime library the wheel bundles (the version ort's `api-31` needs).
const ORT_LIB: &str = "libonnxruntime.so.1.31.1";

/// Tells codec-core where the package's own copies of ONNX Runtime and the
/// models are (`dir/lib`, `dir/models`): looked in after `ORT_DYLIB_PATH`
/// and `CODEC_MODELS`. Called once, by `__init__.py`, with its folder.
#[pyfunction]
fn _use_bundled(dir: PathBuf) {
    codec_core::runtime::set_bundled_library(dir.join("lib").join(ORT_LIB));
    codec_core::package::set_bundled_models_dir(dir.join("models"));
}

#[pymodule]
fn _speechcodec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::Model>()?;
    m.add_class::<stream::Encoder>()?;
    m.add_class::<stream::Decoder>()?;
    m.add_class::<files::Parts>()?;
    m.add_function(wrap_pyfunction!(files::read_tok, m)?)?;
    m.add_function(wrap_pyfunction!(files::write_tok, m)?)?;
    m.add_function(wrap_pyfunction!(files::read_parts, m)?)?;
    m.add_function(wrap_pyfunction!(files::write_part, m)?)?;
    m.add_function(wrap_pyfunction!(corpus::list_inputs, m)?)?;
    m.add_function(wrap_pyfunction!(corpus::read_audio, m)?)?;
    m.add_function(wrap_pyfunction!(_use_bundled, m)?)?;
    m.add("CodecError", m.py().get_type::<CodecError>())?;
    Ok(())
}
