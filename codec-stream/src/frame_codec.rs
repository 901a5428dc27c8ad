//! What turns a call's frames into codes and back: the model's networks, or
//! a pass-through that measures the path without them.
//!
//! The pass-through (`codec loopback --codec none`) carries the same 20 ms
//! frames through the same threads, rings, packets, jitter buffer, playout
//! clock and device streams as the model, so a delay measured with it is
//! the platform's floor, and the model's share is the difference. Its frames
//! are G.711 µ-law at the model's rate, two samples to a 16-bit code (a
//! frame of 320 samples is 160 codes: the packets' layout holds at most 255
//! codes a frame). It has no synthesis overlap: its algorithmic delay is the
//! frame's own 20 ms.

use codec_core::watermark::{Watermark, WatermarkError};
use codec_core::{CodecError, Decoder, Encoder, ModelPackage, RuntimeOptions};

/// Model tag the pass-through's packets carry: no package hashes to it in
/// practice, and a receiver of a real model drops them as another model's.
pub const PASS_THROUGH_TAG: u32 = 0x5043_4d55;
/// Bits of one pass-through code: two µ-law bytes.
const PCM_BITS: u8 = 16;

/// Which codec a call runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CodecChoice {
    /// The model package's encoder, quantizer and decoder.
    #[default]
    Model,
    /// µ-law frames without the networks: the delay floor of the path.
    PassThrough,
}

/// The layout of a codec's frames, as the packets carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    pub tag: u32,
    pub bits: u8,
    pub codes_per_frame: usize,
    /// Samples a frame at `rate`.
    pub hop: usize,
    pub rate: u32,
    /// Delay the codec adds by its nature (framing and synthesis), in samples.
    pub algorithmic_samples: u64,
}

impl FrameLayout {
    /// The layout of `choice` for `package` at `stages`.
    pub fn of(choice: CodecChoice, package: &ModelPackage, stages: usize) -> Self {
        let hop = package.hop();
        match choice {
            CodecChoice::Model => Self {
                tag: package.tag(),
                bits: package.quantizer().bits_per_code(),
                codes_per_frame: package.quantizer().codes_per_frame(stages),
                hop,
                rate: package.sample_rate(),
                algorithmic_samples: package.manifest().streaming.algorithmic_latency_samples as u64,
            },
            CodecChoice::PassThrough => Self {
                tag: PASS_THROUGH_TAG,
                bits: PCM_BITS,
                codes_per_frame: hop.div_ceil(2),
                hop,
                rate: package.sample_rate(),
                algorithmic_samples: hop as u64,
            },
        }
    }

    pub fn algorithmic_ms(&self) -> f64 {
        self.algorithmic_samples as f64 * 1000.0 / f64::from(self.rate)
    }
}

/// The sending side's codec.
pub enum FrameEncoder {
    Model(Box<Encoder>),
    PassThrough(PcmFrames),
}

impl FrameEncoder {
    /// Opens `choice` for `package`; the model's encoder runs a frame at a time.
    ///
    /// # Errors
    /// A stage count the model does not have, or an encoder graph that does not load.
    pub fn open(
        choice: CodecChoice,
        package: &ModelPackage,
        options: RuntimeOptions,
        stages: usize,
    ) -> Result<Self, CodecError> {
        Ok(match choice {
            CodecChoice::Model => Self::Model(Box::new(Encoder::with_block(package, options, stages, 1)?)),
            CodecChoice::PassThrough => Self::PassThrough(PcmFrames::new(package.hop())),
        })
    }

    /// Takes samples at the codec's rate and appends the codes of every
    /// completed frame to `codes`. Returns the frames completed.
    ///
    /// # Errors
    /// A network that fails to run.
    pub fn push(&mut self, pcm: &[f32], codes: &mut Vec<u16>) -> Result<usize, CodecError> {
        match self {
            Self::Model(e) => e.push(pcm, codes),
            Self::PassThrough(p) => Ok(p.push(pcm, codes)),
        }
    }

    /// Embeds `watermark` in the model's codes from now on (`None`: no longer).
    ///
    /// # Errors
    /// A model that cannot carry one, or a watermark asked of the pass-through,
    /// which has no codes to choose among.
    pub fn set_watermark(&mut self, watermark: Option<&Watermark>) -> Result<(), CodecError> {
        match (self, watermark) {
            (Self::Model(e), w) => e.set_watermark(w),
            (Self::PassThrough(_), None) => Ok(()),
            (Self::PassThrough(_), Some(_)) => {
                Err(WatermarkError::Unsupported("none (the pass-through)".into()).into())
            }
        }
    }

    pub fn codes_per_frame(&self) -> usize {
        match self {
            Self::Model(e) => e.codes_per_frame(),
            Self::PassThrough(p) => p.hop.div_ceil(2),
        }
    }

    pub fn reset(&mut self) {
        match self {
            Self::Model(e) => e.reset(),
            Self::PassThrough(p) => p.pending.clear(),
        }
    }
}

/// The receiving side's codec.
pub enum FrameDecoder {
    Model(Box<Decoder>),
    PassThrough { hop: usize, concealed: u64 },
}

impl FrameDecoder {
    /// Opens `choice` for `package`; the model's decoder runs a frame at a time.
    ///
    /// # Errors
    /// A stage count the model does not have, or a decoder graph that does not load.
    pub fn open(
        choice: CodecChoice,
        package: &ModelPackage,
        options: RuntimeOptions,
        stages: usize,
    ) -> Result<Self, CodecError> {
        Ok(match choice {
            CodecChoice::Model => Self::Model(Box::new(Decoder::with_block(package, options, stages, 1)?)),
            CodecChoice::PassThrough => Self::PassThrough { hop: package.hop(), concealed: 0 },
        })
    }

    /// Decodes whole frames of codes and appends the samples they complete.
    ///
    /// # Errors
    /// Codes that are not whole frames or not in their codebooks, or a network that fails to run.
    pub fn push(&mut self, codes: &[u16], pcm: &mut Vec<f32>) -> Result<usize, CodecError> {
        match self {
            Self::Model(d) => d.push(codes, pcm),
            Self::PassThrough { hop, .. } => {
                let per_frame = hop.div_ceil(2);
                if !codes.len().is_multiple_of(per_frame) {
                    return Err(CodecError::PartialFrame { codes: codes.len(), per_frame });
                }
                let start = pcm.len();
                for frame in codes.chunks_exact(per_frame) {
                    let samples = frame.iter().flat_map(|&c| [mulaw_decode((c >> 8) as u8), mulaw_decode(c as u8)]);
                    pcm.extend(samples.take(*hop));
                }
                Ok(pcm.len() - start)
            }
        }
    }

    /// Stands in for one lost frame: the model conceals, the pass-through plays silence.
    ///
    /// # Errors
    /// A network that fails to run.
    pub fn conceal(&mut self, pcm: &mut Vec<f32>) -> Result<usize, CodecError> {
        match self {
            Self::Model(d) => d.conceal(pcm),
            Self::PassThrough { hop, concealed } => {
                *concealed += 1;
                pcm.resize(pcm.len() + *hop, 0.0);
                Ok(*hop)
            }
        }
    }

    pub fn codes_per_frame(&self) -> usize {
        match self {
            Self::Model(d) => d.codes_per_frame(),
            Self::PassThrough { hop, .. } => hop.div_ceil(2),
        }
    }

    pub fn hop(&self) -> usize {
        match self {
            Self::Model(d) => d.hop(),
            Self::PassThrough { hop, .. } => *hop,
        }
    }

    pub fn frames_concealed(&self) -> u64 {
        match self {
            Self::Model(d) => d.frames_concealed(),
            Self::PassThrough { concealed, .. } => *concealed,
        }
    }

    pub fn reset(&mut self) {
        match self {
            Self::Model(d) => d.reset(),
            Self::PassThrough { concealed, .. } => *concealed = 0,
        }
    }
}

/// Frame assembly for the pass-through: a frame is coded the moment its
/// last sample is in, as the model's encoder does.
pub struct PcmFrames {
    hop: usize,
    pending: Vec<f32>,
}

impl PcmFrames {
    fn new(hop: usize) -> Self {
        Self { hop, pending: Vec::with_capacity(hop) }
    }

    fn push(&mut self, mut pcm: &[f32], codes: &mut Vec<u16>) -> usize {
        let mut frames = 0;
        while !pcm.is_empty() {
            let take = (self.hop - self.pending.len()).min(pcm.len());
            self.pending.extend_from_slice(&pcm[..take]);
            pcm = &pcm[take..];
            if self.pending.len() == self.hop {
                for pair in self.pending.chunks(2) {
                    let hi = mulaw_encode(pair[0]);
                    let lo = pair.get(1).map_or(mulaw_encode(0.0), |&s| mulaw_encode(s));
                    codes.push(u16::from(hi) << 8 | u16::from(lo));
                }
                self.pending.clear();
                frames += 1;
            }
        }
        frames
    }
}

const MULAW_BIAS: i32 = 0x84;
const MULAW_CLIP: i32 = 32635;

/// G.711 µ-law of one sample in [-1, 1].
fn mulaw_encode(x: f32) -> u8 {
    let s = (x.clamp(-1.0, 1.0) * 32767.0) as i32;
    let sign = if s < 0 { 0x80 } else { 0 };
    let magnitude = s.abs().min(MULAW_CLIP) + MULAW_BIAS;
    // magnitude is 0x84..=0x7fff: its top bit is bit 7 to 14.
    let exponent = (31 - magnitude.leading_zeros() as i32) - 7;
    let mantissa = (magnitude >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

fn mulaw_decode(u: u8) -> f32 {
    let u = !u;
    let exponent = i32::from((u >> 4) & 7);
    let mantissa = i32::from(u & 0x0f);
    let magnitude = ((mantissa << 3) + MULAW_BIAS) << exponent;
    let s = magnitude - MULAW_BIAS;
    (if u & 0x80 != 0 { -s } else { s }) as f32 / 32768.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_round_trips_within_its_step() {
        assert_eq!(mulaw_encode(0.0), 0xff);
        for i in -1000..=1000 {
            let x = i as f32 / 1000.0;
            let y = mulaw_decode(mulaw_encode(x));
            // The step grows with the level: 1/16 of the segment, at most 1024/32768 at full scale.
            let tolerance = 0.04 * x.abs() + 2e-4;
            assert!((x - y).abs() <= tolerance, "{x} came back as {y}");
        }
    }

    #[test]
    fn the_pass_through_refuses_a_watermark_it_cannot_carry() {
        let package = ModelPackage::open("default").expect("default model");
        let mut enc =
            FrameEncoder::open(CodecChoice::PassThrough, &package, RuntimeOptions::default(), 1).expect("pass-through");
        let key = codec_core::watermark::WatermarkKey::from_bytes(&[7; 32]).expect("key");
        let err = enc.set_watermark(Some(&Watermark::new(key, None))).expect_err("no codes to mark");
        assert!(err.to_string().contains("pass-through"), "{err}");
        enc.set_watermark(None).expect("none is always fine");
    }

    #[test]
    fn pass_through_gives_back_each_frame_as_soon_as_it_is_complete() {
        let package = ModelPackage::open("default").expect("default model");
        let hop = package.hop();
        let mut enc =
            FrameEncoder::open(CodecChoice::PassThrough, &package, RuntimeOptions::default(), 1).expect("pass-through");
        let mut dec =
            FrameDecoder::open(CodecChoice::PassThrough, &package, RuntimeOptions::default(), 1).expect("pass-through");
        let signal: Vec<f32> = (0..3 * hop).map(|i| 0.5 * (i as f32 * 0.05).sin()).collect();
        let mut codes = Vec::new();
        assert_eq!(enc.push(&signal[..hop - 1], &mut codes).expect("pass-through"), 0);
        assert!(codes.is_empty());
        assert_eq!(enc.push(&signal[hop - 1..], &mut codes).expect("pass-through"), 3);
        assert_eq!(codes.len(), 3 * enc.codes_per_frame());
        assert!(codes.len() <= 3 * 255, "a frame must fit the packets' codebook count");
        let mut pcm = Vec::new();
        assert_eq!(dec.push(&codes, &mut pcm).expect("pass-through"), 3 * hop);
        for (x, y) in signal.iter().zip(&pcm) {
            assert!((x - y).abs() <= 0.04 * x.abs() + 2e-4, "{x} came back as {y}");
        }
        assert!(dec.push(&codes[1..], &mut pcm).is_err());
        assert_eq!(dec.conceal(&mut pcm).expect("pass-through"), hop);
        assert_eq!(dec.frames_concealed(), 1);
        let layout = FrameLayout::of(CodecChoice::PassThrough, &package, 1);
        assert_eq!(layout.codes_per_frame, enc.codes_per_frame());
        assert_eq!(layout.algorithmic_samples, hop as u64);
    }
}
