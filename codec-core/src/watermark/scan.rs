//! Detection from a token file, or from audio: re-encoded plainly at a few
//! alignments of the frame grid, since audio cut or delayed by another
//! codec no longer starts on a frame boundary.

use std::io::Read;

use super::{Detector, Report, WatermarkError, WatermarkKey};
use crate::audio::{AudioReader, Resampler};
use crate::bitstream::TokenReader;
use crate::codec::Encoder;
use crate::package::ModelPackage;
use crate::runtime::RuntimeOptions;
use crate::CodecError;

/// Alignments of the frame grid tried on audio, a hop apart divided evenly.
pub const ALIGNMENTS: usize = 4;
/// Frames read from a token file a call.
const FRAMES_A_READ: usize = 500;

fn detector(package: &ModelPackage, key: &WatermarkKey) -> Result<Detector, CodecError> {
    let q = package.quantizer();
    let stages = q.steerable_stages();
    Detector::new(key, stages, q.codebook_size(), package.hop(), package.sample_rate(), package.name())
        .map_err(|e| CodecError::Mismatch(e.to_string()))
}

/// Detects the watermark of `key` in a token file's codes, as they are.
///
/// # Errors
/// A token file that does not fit `package`, or that is damaged.
pub fn detect_tokens<R: Read>(
    package: &ModelPackage,
    tokens: &mut TokenReader<R>,
    key: &WatermarkKey,
    threshold: f64,
) -> Result<Report, CodecError> {
    crate::offline::check_header(package, tokens.header())?;
    let per_frame = usize::from(tokens.header().layout.codebooks);
    let mut detector = detector(package, key)?;
    let mut codes = Vec::new();
    loop {
        codes.clear();
        if tokens.read_frames(FRAMES_A_READ, &mut codes)? == 0 {
            break;
        }
        for frame in codes.chunks_exact(per_frame) {
            detector.push_frame(frame);
        }
    }
    Ok(detector.report(threshold))
}

/// Plain encoders at [`ALIGNMENTS`] offsets of the frame grid, each feeding
/// its detector: memory does not grow with the audio's length beyond the
/// detectors' per-second counts.
struct Scan {
    lanes: Vec<(usize, Encoder, Detector)>,
    stages: usize,
    codes: Vec<u16>,
}

impl Scan {
    fn new(package: &ModelPackage, options: RuntimeOptions, key: &WatermarkKey) -> Result<Self, CodecError> {
        let q = package.quantizer();
        let stages = q.steerable_stages().max(q.min_stages());
        let hop = package.hop();
        let mut lanes = Vec::with_capacity(ALIGNMENTS);
        for i in 0..ALIGNMENTS {
            let encoder = Encoder::new(package, options, stages)?;
            lanes.push((i * hop / ALIGNMENTS, encoder, detector(package, key)?));
        }
        Ok(Self { lanes, stages, codes: Vec::new() })
    }

    /// Samples at the model's rate; `last` ends the stream.
    fn push(&mut self, pcm: &[f32], last: bool) -> Result<(), CodecError> {
        for (skip, encoder, detector) in &mut self.lanes {
            let drop = (*skip).min(pcm.len());
            *skip -= drop;
            self.codes.clear();
            encoder.push(&pcm[drop..], &mut self.codes)?;
            if last {
                encoder.flush(&mut self.codes)?;
            }
            for frame in self.codes.chunks_exact(self.stages) {
                detector.push_frame(frame);
            }
        }
        Ok(())
    }

    /// The best alignment's report, its false-alarm probability multiplied
    /// by the alignments tried.
    fn report(self, threshold: f64) -> Result<Report, CodecError> {
        let mut best = self
            .lanes
            .into_iter()
            .map(|(_, _, d)| d.report(threshold))
            .min_by(|a, b| a.false_alarm.total_cmp(&b.false_alarm))
            .ok_or_else(|| CodecError::Internal("no alignment".into()))?;
        best.false_alarm = (best.false_alarm * ALIGNMENTS as f64).min(1.0);
        best.tests *= ALIGNMENTS as u64;
        best.found = best.false_alarm <= threshold;
        Ok(best)
    }
}

/// Detects the watermark of `key` in `pcm` (mono, at the model's rate).
///
/// # Errors
/// A model without steerable stages, or a network failure.
pub fn detect_pcm(
    package: &ModelPackage,
    options: RuntimeOptions,
    pcm: &[f32],
    key: &WatermarkKey,
    threshold: f64,
) -> Result<Report, CodecError> {
    let mut scan = Scan::new(package, options, key)?;
    // A second a call, as `detect_audio` hands them.
    let chunk = package.sample_rate() as usize;
    for c in pcm.chunks(chunk) {
        scan.push(c, false)?;
    }
    scan.push(&[], true)?;
    scan.report(threshold)
}

/// Detects the watermark of `key` in audio read from `input`, converted to
/// the model's rate on the way; `progress` gets the seconds read.
///
/// # Errors
/// A model without steerable stages, unreadable audio, a network failure.
pub fn detect_audio(
    package: &ModelPackage,
    options: RuntimeOptions,
    input: &mut AudioReader,
    key: &WatermarkKey,
    threshold: f64,
    mut progress: impl FnMut(f64),
) -> Result<Report, CodecError> {
    let mut scan = Scan::new(package, options, key)?;
    let mut resampler = Resampler::new(input.sample_rate(), package.sample_rate())?;
    let (mut samples, mut pcm) = (Vec::new(), Vec::new());
    let mut read = 0u64;
    let chunk = package.sample_rate() as usize;
    while input.read_packet(&mut samples)? {
        resampler.push(&samples, &mut pcm)?;
        samples.clear();
        if pcm.len() >= chunk {
            read += pcm.len() as u64;
            scan.push(&pcm, false)?;
            pcm.clear();
            progress(read as f64 / f64::from(package.sample_rate()));
        }
    }
    resampler.finish(&mut pcm)?;
    scan.push(&pcm, true)?;
    scan.report(threshold)
}

impl From<WatermarkError> for CodecError {
    fn from(e: WatermarkError) -> Self {
        CodecError::Mismatch(e.to_string())
    }
}
