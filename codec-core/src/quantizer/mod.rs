//! The quantizers of the two seed papers behind one trait.
//!
//! - [`Grvq`] (HiFi-Codec): the latent is split into channel groups, each with
//!   its own residual VQ. Plain RVQ is the one-group case.
//! - [`Mcrvq`] (Language-Codec): the first stages each read one channel subset
//!   of the latent and their full-width codewords are summed; the remaining
//!   stages are residual VQ over the whole latent.
//!
//! Codes of a frame are stage-major: `[g0s0, g1s0, g0s1, g1s1, ...]`, so
//! encoding with fewer stages gives a prefix of the full frame.

mod codebook;
mod grvq;
mod mcrvq;
mod scratch;

pub use codebook::Codebook;
pub use grvq::Grvq;
pub use mcrvq::Mcrvq;
pub use scratch::Scratch;

use ndarray::{ArrayView2, ArrayViewMut2};

/// Why a quantizer refused a call or a table.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum QuantizerError {
    #[error("{requested} stages requested; this model supports {min} to {max}")]
    StagesOutOfRange { requested: usize, min: usize, max: usize },
    #[error("code {code} is outside a codebook of {size} entries")]
    CodeOutOfRange { code: u16, size: usize },
    #[error("{what}: expected {expected}, got {actual}")]
    ShapeMismatch { what: &'static str, expected: usize, actual: usize },
}

/// Picks a code other than the nearest one (a watermark's choice).
pub trait Steer {
    /// The code of the next frame of `stage`. `half_errors[i]` is half the
    /// squared distance of codeword `i` to the frame's target, and `nearest`
    /// the index of the smallest. Returns a code below `half_errors.len()`.
    fn choose(&mut self, stage: usize, half_errors: &[f32], nearest: u16) -> u16;
}

/// The quantizer families a model package may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantizerKind {
    Grvq,
    Mcrvq,
}

/// Latent frames to codes and back.
///
/// Latents are `[frames, latent_dim]` (frame-major); codes are
/// `frames * codes_per_frame(stages)` values, frame-major.
pub trait Quantizer: Send + Sync {
    fn kind(&self) -> QuantizerKind;
    fn latent_dim(&self) -> usize;
    fn groups(&self) -> usize;
    /// The most stages (what the model was trained with).
    fn stages(&self) -> usize;
    /// The fewest stages the model was trained to decode from.
    fn min_stages(&self) -> usize;
    fn codebook_size(&self) -> usize;

    fn codes_per_frame(&self, stages: usize) -> usize {
        self.groups() * stages
    }

    /// Bits per code: a 1024-entry codebook costs 10.
    fn bits_per_code(&self) -> u8 {
        let size = self.codebook_size().max(2);
        (usize::BITS - (size - 1).leading_zeros()) as u8
    }

    /// # Errors
    /// A stage count outside `min_stages..=stages`, or buffers of the wrong size.
    fn encode(
        &self,
        latent: ArrayView2<'_, f32>,
        stages: usize,
        codes: &mut [u16],
        scratch: &mut Scratch,
    ) -> Result<(), QuantizerError>;

    /// Stages whose code a [`Steer`] may choose (MCRVQ's masked stages, whose
    /// choice the residual stages after them absorb); 0 where none may.
    fn steerable_stages(&self) -> usize {
        0
    }

    /// As [`Quantizer::encode`], letting `steer` pick the code of each
    /// frame of the first [`Quantizer::steerable_stages`] stages, frame by
    /// frame in order. A quantizer with no steerable stage ignores it.
    ///
    /// # Errors
    /// As [`Quantizer::encode`].
    fn encode_steered(
        &self,
        latent: ArrayView2<'_, f32>,
        stages: usize,
        codes: &mut [u16],
        scratch: &mut Scratch,
        steer: &mut dyn Steer,
    ) -> Result<(), QuantizerError> {
        let _ = steer;
        self.encode(latent, stages, codes, scratch)
    }

    /// Writes the sum of the codewords into `latent`.
    ///
    /// # Errors
    /// A stage count outside `min_stages..=stages`, a code outside its codebook,
    /// or buffers of the wrong size.
    fn decode(&self, codes: &[u16], stages: usize, latent: ArrayViewMut2<'_, f32>) -> Result<(), QuantizerError>;

    /// Checks a stage count against what the model supports.
    ///
    /// # Errors
    /// [`QuantizerError::StagesOutOfRange`].
    fn check_stages(&self, stages: usize) -> Result<(), QuantizerError> {
        if stages < self.min_stages() || stages > self.stages() {
            return Err(QuantizerError::StagesOutOfRange {
                requested: stages,
                min: self.min_stages(),
                max: self.stages(),
            });
        }
        Ok(())
    }
}

fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<(), QuantizerError> {
    if expected != actual {
        return Err(QuantizerError::ShapeMismatch { what, expected, actual });
    }
    Ok(())
}

fn check_code(code: u16, size: usize) -> Result<usize, QuantizerError> {
    let c = code as usize;
    if c >= size {
        return Err(QuantizerError::CodeOutOfRange { code, size });
    }
    Ok(c)
}

#[cfg(test)]
mod tests;
