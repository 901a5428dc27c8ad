//! The streaming `Encoder` (PCM in, codes out) and `Decoder` (codes in, PCM
//! out) that a voice app embeds, and the offline path built on them.

mod batch;
mod decoder;
mod encoder;
mod network;

pub use batch::BatchEncoder;
pub use decoder::Decoder;
pub use encoder::Encoder;

use crate::package::ModelPackage;
use crate::CodecError;

/// Frames per network call when a caller hands over a long signal: large
/// enough that the graphs run as matrix products, small enough to bound memory.
pub const DEFAULT_BLOCK_FRAMES: usize = 250;

/// The most frames a network call may take (a minute at 20 ms a frame): the
/// buffers an encoder or decoder holds grow with its block, so a block
/// beyond any use is refused rather than allocated.
pub const MAX_BLOCK_FRAMES: usize = 3000;

/// `block_frames`, or 1 for 0.
///
/// # Errors
/// [`CodecError::OverLimit`] above [`MAX_BLOCK_FRAMES`].
fn check_block_frames(block_frames: usize) -> Result<usize, CodecError> {
    if block_frames > MAX_BLOCK_FRAMES {
        return Err(CodecError::OverLimit {
            what: "frames a network call",
            requested: block_frames,
            max: MAX_BLOCK_FRAMES,
        });
    }
    Ok(block_frames.max(1))
}

/// Frames the encoder emits for `samples` input samples of `package`'s
/// once flushed: every sample covered, plus those that let the decoder
/// complete the last one (its synthesis lags by
/// [`Manifest::decoder_delay_samples`](crate::package::Manifest::decoder_delay_samples):
/// one frame for a package that synthesizes one frame a token).
pub fn frames_for(package: &ModelPackage, samples: u64) -> u64 {
    let m = package.manifest();
    frames_covering(samples, m.hop, m.decoder_delay_samples())
}

/// Samples that `frames` frames of `package` decode to: the frames' hops
/// less what the synthesis still lags (the inverse of [`frames_for`], up to
/// the last frame's padding).
pub fn samples_from(package: &ModelPackage, frames: u64) -> u64 {
    let m = package.manifest();
    (frames * m.hop as u64).saturating_sub(m.decoder_delay_samples() as u64)
}

fn frames_covering(samples: u64, hop: usize, delay: usize) -> u64 {
    (samples + delay as u64).div_ceil(hop as u64)
}

/// Floats in one analysis frame: the encoder's input per frame.
pub(crate) fn spectrum_channels(package: &ModelPackage) -> usize {
    2 * (package.manifest().stft.n_fft / 2 + 1)
}
