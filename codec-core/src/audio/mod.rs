//! Audio in and out of the codec: any common file format decoded to mono f32,
//! sample-rate conversion to and from the model's rate, and 16-bit WAV output.

mod guard;
#[cfg(test)]
mod guard_tests;
mod ogg;
mod read;
mod resample;
#[cfg(test)]
mod tests;
mod write;

use std::path::PathBuf;

pub use guard::{MAX_HEADER_BYTES, MAX_METADATA_ITEM};
pub use read::{read_audio, read_audio_from, AudioReader, MAX_DECODED_SAMPLES, MAX_INPUT_BYTES};
pub use resample::{resample, Resampler, StreamResampler, MAX_CHUNK};
pub use write::{wav_bytes, write_wav, write_wav_to, WavWriter, MAX_WAV_SAMPLES};

/// Lowest sample rate read, written or converted, in Hz.
pub const MIN_SAMPLE_RATE: u32 = 4_000;

/// Highest sample rate read, written or converted, in Hz. A resampler's FFT
/// size and a whole-file conversion's output grow with the rates, so a
/// corrupt header's absurd rate must be refused before either is sized.
pub const MAX_SAMPLE_RATE: u32 = 384_000;

/// Refuses a rate outside [`MIN_SAMPLE_RATE`]`..=`[`MAX_SAMPLE_RATE`].
///
/// # Errors
/// [`AudioError::BadSampleRate`].
pub fn check_rate(rate: u32) -> Result<(), AudioError> {
    if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
        return Err(AudioError::BadSampleRate { rate, min: MIN_SAMPLE_RATE, max: MAX_SAMPLE_RATE });
    }
    Ok(())
}

/// Decoded audio: mono, in [-1, 1], at the file's own sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// Packets the decoder rejected as corrupt and that were left out: a few in
    /// a long lossy file are tolerable, but the caller may want to warn.
    pub skipped_packets: usize,
}

impl Audio {
    /// Duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// Why audio could not be read, resampled or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    #[error("{path}: no such file")]
    NotFound { path: PathBuf },
    /// Reading or writing the file failed (`-` stands for stdin/stdout).
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Non-seekable input is read into memory whole, so its size is capped.
    #[error("input is larger than the {limit}-byte limit")]
    InputTooLarge { limit: u64 },
    #[error("input is empty (0 bytes)")]
    EmptyInput,
    /// The first bytes are none of the formats read here; `start` shows them in hex.
    #[error("not a WAV, FLAC, Ogg or MP3 file (it starts with {start})")]
    UnknownFormat { start: String },
    /// A length in the container's header does not fit the file or the caps of
    /// [`MAX_METADATA_ITEM`] and [`MAX_HEADER_BYTES`].
    #[error("malformed {format} file: {reason}")]
    Malformed { format: &'static str, reason: String },
    #[error("not audio, or a format this build cannot read: {source}")]
    Unsupported {
        #[source]
        source: symphonia::core::errors::Error,
    },
    #[error("the file has no audio track")]
    NoTrack,
    #[error("no decoder for codec {codec}: {source}")]
    UnsupportedCodec {
        codec: String,
        #[source]
        source: symphonia::core::errors::Error,
    },
    /// A well-formed file with nothing in it.
    #[error("the audio has no samples")]
    Empty,
    /// The header promised audio that the file does not contain.
    #[error("truncated: the header declares {declared_frames} frames but none could be read")]
    Truncated { declared_frames: u64 },
    #[error("none of the {skipped} audio packets could be decoded")]
    Undecodable { skipped: usize },
    /// An error the decoder cannot skip over (I/O, unsupported feature, ...).
    #[error("decoding failed after {decoded} samples: {source}")]
    Decode {
        decoded: u64,
        #[source]
        source: symphonia::core::errors::Error,
    },
    /// Symphonia's decoders are not hardened against every malformed input;
    /// a panic inside one is caught and reported as this.
    #[error("the decoder crashed on malformed input after {decoded} samples")]
    DecoderPanic { decoded: u64 },
    #[error("more than {limit} decoded samples: refusing absurdly long audio")]
    LimitExceeded { limit: u64 },
    /// Samples at two rates cannot be one signal.
    #[error("the sample rate changed mid-stream from {from} Hz to {to} Hz")]
    RateChanged { from: u32, to: u32 },
    #[error("a sample rate of {rate} Hz is not supported (only {min} to {max} Hz)")]
    BadSampleRate { rate: u32, min: u32, max: u32 },
    #[error("a resampler chunk of {chunk} samples is above the {max} limit")]
    ChunkTooLarge { chunk: usize, max: usize },
    #[error("expected {expected} input samples (the resampler's chunk), got {got}")]
    ChunkLength { expected: usize, got: usize },
    #[error("expected an output slice of {expected} samples, got {got}")]
    OutputLength { expected: usize, got: usize },
    /// The chunk sizes are chosen here, so these mean a bug rather than bad input.
    #[error("resampler setup: {0}")]
    ResamplerSetup(#[from] rubato::ResamplerConstructionError),
    #[error("resampling: {0}")]
    Resample(#[from] rubato::ResampleError),
    #[error("resampler chose chunks {got_in}/{got_out}, expected {want_in}/{want_out}")]
    ChunkMismatch { want_in: usize, want_out: usize, got_in: usize, got_out: usize },
    /// A 16-bit WAV's data chunk size is a u32.
    #[error("{samples} samples do not fit in a WAV file (at most {limit})")]
    WavTooLong { samples: u64, limit: usize },
    /// Writing a WAV stream failed.
    #[error("writing WAV: {0}")]
    WavIo(#[source] std::io::Error),
    /// A [`WavWriter`] got another number of samples than its header declares.
    #[error("the WAV header declares {declared} samples, but {written} were written")]
    WavLength { declared: u64, written: u64 },
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}
