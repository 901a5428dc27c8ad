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

/// Frames per network call when a caller hands over a long signal: large
/// enough that the graphs run as matrix products, small enough to bound memory.
pub const DEFAULT_BLOCK_FRAMES: usize = 250;

/// Frames the encoder emits for `samples` input samples once flushed: every
/// sample covered, plus the frame that lets the decoder complete the last hop.
pub fn frames_for(samples: u64, hop: usize) -> u64 {
    samples.div_ceil(hop as u64) + 1
}

pub(crate) fn spectrum_channels(package: &ModelPackage) -> usize {
    2 * (package.manifest().stft.n_fft / 2 + 1)
}
