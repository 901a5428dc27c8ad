//! The causal STFT the networks were trained on, and its inverse.
//!
//! Everything here reproduces `models/recipe/codec_model/dsp.py` exactly: a
//! model only works on spectra framed, windowed and laid out the way its
//! training saw them. A frame is `2 * bins` floats, the real parts of the
//! `bins = n_fft / 2 + 1` bins then their imaginary parts ("real-then-imag").

mod analysis;
mod synthesis;
#[cfg(test)]
mod tests;
mod window;

pub use analysis::{stft, StftAnalyzer};
pub use synthesis::{istft, StftSynthesizer};
pub use window::{hann, ola_envelope};

/// Why a transform could not be set up or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DspError {
    /// Analysis frames two hops (50% overlap); synthesis frames a whole
    /// number of hops, at least two.
    #[error(
        "n_fft {n_fft} does not frame hops of {hop}: analysis needs twice the hop, synthesis an even n_fft that is at least twice the hop and a multiple of it"
    )]
    Geometry { n_fft: usize, hop: usize },
    /// The analyzer consumes exactly one hop a call, to keep frames on the hop grid.
    #[error("expected {expected} new samples (one hop), got {got}")]
    HopLength { expected: usize, got: usize },
    /// A spectrum frame must hold every bin's real and imaginary part.
    #[error("expected a frame of {expected} floats (2 * bins), got {got}")]
    FrameLength { expected: usize, got: usize },
    /// The caller's output slice must hold exactly what one call produces.
    #[error("expected an output slice of {expected} floats, got {got}")]
    OutputLength { expected: usize, got: usize },
    /// Offline analysis frames whole hops; the caller pads (see `dsp.py::pad_for_codec`).
    #[error("signal of {len} samples is not a whole number of hops of {hop}")]
    PartialHop { len: usize, hop: usize },
    /// Buffers are sized in `new`, so this means a bug here rather than bad input.
    #[error("FFT failed: {0}")]
    Fft(#[from] realfft::FftError),
    /// Offline results are assembled into arrays whose shape is computed here.
    #[error("array shape: {0}")]
    Shape(#[from] ndarray::ShapeError),
}

/// Checks the framing every transform here assumes, returning the bin count.
fn check_geometry(n_fft: usize, hop: usize) -> Result<usize, DspError> {
    if hop == 0 || n_fft != 2 * hop {
        return Err(DspError::Geometry { n_fft, hop });
    }
    Ok(n_fft / 2 + 1)
}
