//! The encoder's side: a [`Steer`] that picks, among near-equal codewords,
//! one whose colour is the bit its slot of the payload asks for.

use super::prf::{Tables, PHASES};
use super::{Message, Watermark, WatermarkError, SLOTS};
use crate::quantizer::Steer;

/// Steers the masked stages of an encoder. Counts the frames of each
/// stage, so one embedder serves one stream; [`Embedder::reset`] starts another.
pub struct Embedder {
    tables: Tables,
    payload: [bool; SLOTS],
    tolerance: f32,
    frames: Vec<u64>,
}

impl Embedder {
    /// An embedder for `stages` steerable stages of codebooks of `size`.
    ///
    /// # Errors
    /// As the key's HMAC (none in practice).
    pub fn new(watermark: &Watermark, stages: usize, size: usize) -> Result<Self, WatermarkError> {
        Ok(Self {
            tables: Tables::new(&watermark.key, stages, size)?,
            payload: Message::payload(watermark.message.as_ref()),
            tolerance: watermark.tolerance(),
            frames: vec![0; stages],
        })
    }

    pub fn reset(&mut self) {
        self.frames.fill(0);
    }

    fn agrees(&self, stage: usize, phase: usize, code: usize) -> bool {
        let (slot, green) = self.tables.get(stage, phase, code);
        green == self.payload[slot]
    }
}

impl Steer for Embedder {
    fn choose(&mut self, stage: usize, half_errors: &[f32], nearest: u16) -> u16 {
        let Some(frame) = self.frames.get_mut(stage) else { return nearest };
        let phase = (*frame % PHASES as u64) as usize;
        *frame += 1;
        if self.agrees(stage, phase, usize::from(nearest)) {
            return nearest;
        }
        let limit = half_errors[usize::from(nearest)] * (1.0 + self.tolerance);
        let mut chosen = nearest;
        let mut best = f32::INFINITY;
        for (code, &e) in half_errors.iter().enumerate() {
            if e <= limit && e < best && self.agrees(stage, phase, code) {
                best = e;
                // Codebooks hold at most 65536 entries (checked at load).
                chosen = code as u16;
            }
        }
        chosen
    }
}
