//! A keyed watermark carried in the codes of MCRVQ's masked stages
//! (`docs/watermark.md`).
//!
//! Each code of a masked stage is green or red under the key, by a keyed
//! hash of the stage, the code and the previous frame's code in that stage
//! (the context, which a crop keeps). The context's hash also names a slot
//! of the payload, whose bit says which colour the encoder aims for. Among
//! the codewords whose error is within a small tolerance of the nearest
//! one's, the encoder takes the nearest of the aimed-for colour
//! ([`Embedder`]); the detector encodes plainly and counts the codes
//! of the colour the payload asks for ([`Detector`]), a count whose
//! distribution without the watermark is known exactly, so that its
//! false-alarm probability is too.

mod detect;
mod embed;
mod prf;
mod scan;
mod stats;

pub use detect::{Detector, Report};
pub use embed::Embedder;
pub use scan::{detect_audio, detect_pcm, detect_tokens, ALIGNMENTS};

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Fewest bytes of a key: 128 bits.
pub const MIN_KEY_BYTES: usize = 16;
/// Most bytes of a key.
pub const MAX_KEY_BYTES: usize = 64;
/// The largest codebook a watermark is made in (its tables hold a byte per
/// stage, phase and code).
pub const MAX_CODEBOOK: usize = 4096;
/// Most bits of a message.
pub const MAX_MESSAGE_BITS: usize = 32;
/// Slots of the payload: the message, a terminating 1, zeros after it.
pub(crate) const SLOTS: usize = MAX_MESSAGE_BITS + 1;
/// A key file holds at most 88 characters of base64 and a line end.
const MAX_KEY_FILE_BYTES: u64 = 1024;
/// The quality tolerance of the embedding: a codeword is a candidate when
/// its squared error is at most this much above the nearest one's, relative.
pub const DEFAULT_TOLERANCE: f32 = 1.0;
/// The largest tolerance taken: beyond it the nearest codeword hardly matters.
pub const MAX_TOLERANCE: f32 = 10.0;
/// The false-alarm probability at or below which a watermark is reported
/// found (`docs/watermark.md`, "Threshold").
pub const DEFAULT_THRESHOLD: f64 = 1e-6;

/// Why a key, a message or a detection was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatermarkError {
    #[error(
        "the watermark key is not base64 (it must be the base64 of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} random bytes)"
    )]
    NotBase64,
    #[error(
        "the watermark key is {0} bytes; it must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} (e.g. `head -c 32 /dev/urandom | base64`)"
    )]
    KeyLength(usize),
    #[error("watermark key file: {0}")]
    KeyFile(#[from] crate::input::InputError),
    #[error("the message must be 1 to {MAX_MESSAGE_BITS} characters of 0 and 1")]
    Message,
    #[error("model `{0}` has no masked stages to carry a watermark (an MCRVQ model has)")]
    Unsupported(String),
    #[error("tolerance {0} is outside 0 to {MAX_TOLERANCE}")]
    Tolerance(f32),
}

/// A watermark key: 16 to 64 bytes. Its `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct WatermarkKey(Vec<u8>);

impl fmt::Debug for WatermarkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WatermarkKey(..)")
    }
}

impl WatermarkKey {
    /// # Errors
    /// Fewer than 16 or more than 64 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WatermarkError> {
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&bytes.len()) {
            return Err(WatermarkError::KeyLength(bytes.len()));
        }
        Ok(Self(bytes.to_vec()))
    }

    /// Parses base64, surrounding white space ignored. Errors never quote the text.
    ///
    /// # Errors
    /// Text that is not base64, or a key of the wrong length.
    pub fn from_base64(text: &str) -> Result<Self, WatermarkError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| WatermarkError::NotBase64)?;
        Self::from_bytes(&bytes)
    }

    /// Reads a key file: a regular file of base64 that only its owner may read.
    ///
    /// # Errors
    /// As [`crate::input::read_private_text`], and as [`WatermarkKey::from_base64`].
    pub fn read_file(path: &Path) -> Result<Self, WatermarkError> {
        Self::from_base64(&crate::input::read_private_text(path, MAX_KEY_FILE_BYTES)?)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A message of 1 to 32 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    bits: Vec<bool>,
}

impl Message {
    /// # Errors
    /// An empty or too long message.
    pub fn new(bits: Vec<bool>) -> Result<Self, WatermarkError> {
        if bits.is_empty() || bits.len() > MAX_MESSAGE_BITS {
            return Err(WatermarkError::Message);
        }
        Ok(Self { bits })
    }

    /// Parses a string of `0` and `1`.
    ///
    /// # Errors
    /// Another character, or an empty or too long string.
    pub fn parse(text: &str) -> Result<Self, WatermarkError> {
        let bits = text
            .trim()
            .chars()
            .map(|c| match c {
                '0' => Ok(false),
                '1' => Ok(true),
                _ => Err(WatermarkError::Message),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(bits)
    }

    pub fn bits(&self) -> &[bool] {
        &self.bits
    }

    /// The slots' bits: the message, a 1, zeros (a 1 and zeros for none),
    /// so that a detector finds the length from the last 1.
    pub(crate) fn payload(message: Option<&Self>) -> [bool; SLOTS] {
        let mut payload = [false; SLOTS];
        let bits = message.map_or(&[][..], |m| &m.bits[..]);
        payload[..bits.len()].copy_from_slice(bits);
        payload[bits.len()] = true;
        payload
    }

    /// The message of a payload read back, if its last 1 leaves one.
    pub(crate) fn from_payload(payload: &[bool; SLOTS]) -> Option<Self> {
        let end = payload.iter().rposition(|&b| b)?;
        Self::new(payload[..end].to_vec()).ok()
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.bits.iter().try_for_each(|&b| f.write_str(if b { "1" } else { "0" }))
    }
}

/// What an encoder embeds: a key, an optional message, the tolerance.
#[derive(Debug, Clone)]
pub struct Watermark {
    pub key: WatermarkKey,
    pub message: Option<Message>,
    tolerance: f32,
}

impl Watermark {
    pub fn new(key: WatermarkKey, message: Option<Message>) -> Self {
        Self { key, message, tolerance: DEFAULT_TOLERANCE }
    }

    /// With another tolerance than [`DEFAULT_TOLERANCE`] (more is more robust and costs more quality).
    ///
    /// # Errors
    /// A tolerance outside 0 to 1.
    pub fn with_tolerance(mut self, tolerance: f32) -> Result<Self, WatermarkError> {
        if !(0.0..=MAX_TOLERANCE).contains(&tolerance) {
            return Err(WatermarkError::Tolerance(tolerance));
        }
        self.tolerance = tolerance;
        Ok(self)
    }

    pub fn tolerance(&self) -> f32 {
        self.tolerance
    }
}

#[cfg(test)]
mod tests;
