//! The crate's error: one enum over its parts, each keeping its own detail.

use crate::bitstream::BitstreamError;
use crate::package::PackageError;
use crate::quantizer::QuantizerError;
use crate::runtime::RuntimeError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Quantizer(#[from] QuantizerError),
    #[error(transparent)]
    Bitstream(#[from] BitstreamError),
    #[error(transparent)]
    Dsp(#[from] crate::dsp::DspError),
    #[error(transparent)]
    Audio(#[from] crate::audio::AudioError),
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error("{codes} codes are not whole frames of {per_frame}")]
    PartialFrame { codes: usize, per_frame: usize },
    #[error("{0}")]
    Mismatch(String),
    /// An argument that asks for more than the library allows.
    #[error("{requested} {what} is more than the {max} allowed")]
    OverLimit { what: &'static str, requested: usize, max: usize },
    #[error("internal error: {0}")]
    Internal(String),
}
