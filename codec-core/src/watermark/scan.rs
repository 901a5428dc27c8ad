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

/// Detects the watermark of `key` in audio: encodes it plainly at
/// [`ALIGNMENTS`] offsets of the frame grid at once (memory does not grow
/// with the audio's length beyond the per-second counts) and reports the
/// best, its false-alarm probability multiplied by the alignments tried.
/// `progress` gets the seconds read.
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
    let q = package.quantizer();
    let stages = q.steerable_stages().max(q.min_stages());
    let hop = package.hop();
    let mut lanes = Vec::with_capacity(ALIGNMENTS);
    for i in 0..ALIGNMENTS {
        let encoder = Encoder::new(package, options, stages)?;
        lanes.push((i * hop / ALIGNMENTS, encoder, detector(package, key)?));
    }
    let mut resampler = Resampler::new(input.sample_rate(), package.sample_rate())?;
    let (mut samples, mut pcm, mut codes) = (Vec::new(), Vec::new(), Vec::new());
    let mut read = 0u64;
    let mut feed = |pcm: &[f32], lanes: &mut Vec<(usize, Encoder, Detector)>, flush: bool| -> Result<(), CodecError> {
        for (skip, encoder, detector) in lanes.iter_mut() {
            let drop = (*skip).min(pcm.len());
            *skip -= drop;
            codes.clear();
            encoder.push(&pcm[drop..], &mut codes)?;
            if flush {
                encoder.flush(&mut codes)?;
            }
            for frame in codes.chunks_exact(stages) {
                detector.push_frame(frame);
            }
        }
        Ok(())
    };
    while input.read_packet(&mut samples)? {
        resampler.push(&samples, &mut pcm)?;
        samples.clear();
        if pcm.len() >= hop * 50 {
            read += pcm.len() as u64;
            feed(&pcm, &mut lanes, false)?;
            pcm.clear();
            progress(read as f64 / f64::from(package.sample_rate()));
        }
    }
    resampler.finish(&mut pcm)?;
    feed(&pcm, &mut lanes, true)?;
    let reports: Vec<Report> = lanes.iter().map(|(_, _, d)| d.report(threshold)).collect();
    let mut best = reports
        .into_iter()
        .min_by(|a, b| a.false_alarm.total_cmp(&b.false_alarm))
        .ok_or_else(|| CodecError::Internal("no alignment".into()))?;
    best.false_alarm = (best.false_alarm * ALIGNMENTS as f64).min(1.0);
    best.tests *= ALIGNMENTS as u64;
    best.found = best.false_alarm <= threshold;
    Ok(best)
}

impl From<WatermarkError> for CodecError {
    fn from(e: WatermarkError) -> Self {
        CodecError::Mismatch(e.to_string())
    }
}
