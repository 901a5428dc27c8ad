//! The keyed tables: HMAC-SHA-256 under the watermark key, so that without
//! the key each code's colour and slot are fair coins.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{WatermarkError, WatermarkKey, SLOTS};

/// Frames a colour pattern lasts before it repeats: the context of a code
/// is its frame's index modulo this. A detector does not know where a cut
/// clip started, so it tries every phase; more phases give more distinct
/// (phase, code) pairs to count and cost more tests.
pub(crate) const PHASES: usize = 8;

/// The colour and slot of every (stage, phase, code), computed once a key.
pub(crate) struct Tables {
    size: usize,
    /// Bit 7: green; bits 0-6: the payload slot.
    entries: Vec<u8>,
}

impl Tables {
    /// # Errors
    /// None in practice (HMAC takes a key of any length); reported rather than unwrapped.
    pub(crate) fn new(key: &WatermarkKey, stages: usize, size: usize) -> Result<Self, WatermarkError> {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key.bytes())
            .map_err(|_| WatermarkError::KeyLength(key.bytes().len()))?;
        let mut entries = Vec::with_capacity(stages * PHASES * size);
        for stage in 0..stages {
            for phase in 0..PHASES {
                for code in 0..size {
                    let mut m = mac.clone();
                    m.update(b"codec-watermark-1");
                    m.update(&[stage as u8, phase as u8]);
                    m.update(&(code as u32).to_le_bytes());
                    let h: [u8; 32] = m.finalize().into_bytes().into();
                    let mut first = [0u8; 8];
                    first.copy_from_slice(&h[..8]);
                    let slot = (u64::from_le_bytes(first) % SLOTS as u64) as u8;
                    entries.push(slot | (h[8] & 0x80));
                }
            }
        }
        Ok(Self { size, entries })
    }

    /// `(slot, green)` of `code` at `phase` of `stage`.
    pub(crate) fn get(&self, stage: usize, phase: usize, code: usize) -> (usize, bool) {
        let e = self.entries[(stage * PHASES + phase) * self.size + code];
        (usize::from(e & 0x7f), e & 0x80 != 0)
    }
}
