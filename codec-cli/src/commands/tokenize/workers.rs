//! The threads of `codec tokenize`: files in, codes out, tagged with their
//! place (part, slot) so the writer can put each part together.
//!
//! Two shapes. Per file (`--batch 1`, best on CPUs): every thread streams
//! files through its own encoder, decoding, resampling and encoding as it
//! goes, so memory does not grow with a file's length. Batched (GPUs):
//! threads decode and resample whole signals (a batch runs whole signals
//! through the network at once); one thread gathers them, sorts them by
//! length and runs them through the encoder network many at a time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{bail, Result};
use codec_core::bitstream::TokenFile;
use codec_core::{audio, offline, BatchEncoder, Encoder, ModelPackage, RuntimeOptions};
use crossbeam_channel::{Receiver, Sender};

/// What one file became.
pub(super) enum Outcome {
    Codes { codes: Vec<u16>, frames: u64, seconds: f64 },
    Failed(String),
}

/// A file to encode: its part, its slot in the part, its path.
pub(super) type Work = (usize, usize, PathBuf);
/// A file's outcome at its place.
pub(super) type Done = (usize, usize, Outcome);

/// Signals gathered before they are sorted by length and cut into batches,
/// in batches: more gives batches of more even lengths (less padding).
const POOL_BATCHES: usize = 4;

/// The file's audio, a packet at a time. Only a regular file is read:
/// opening a FIFO would wait for a writer forever.
fn open(path: &Path) -> Result<audio::AudioReader> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        bail!("not a regular file (a FIFO, a device or a folder): skipped");
    }
    Ok(audio::AudioReader::open(path)?)
}

fn check_length(seconds: f64, min_seconds: f64) -> Result<()> {
    if seconds < min_seconds {
        bail!("too short ({seconds:.3} s < {min_seconds} s)");
    }
    Ok(())
}

/// The file's codes, streamed from it as `codec encode` does (memory holds
/// the codes, not the audio), and its duration in seconds.
fn encode_file(
    package: &ModelPackage,
    encoder: &mut Encoder,
    path: &Path,
    min_seconds: f64,
) -> Result<(TokenFile, f64)> {
    let mut input = open(path)?;
    let tokens = offline::encode_audio(package, encoder, &mut input, |_| {})?;
    let seconds = tokens.header.original_len as f64 / f64::from(package.sample_rate());
    check_length(seconds, min_seconds)?;
    Ok((tokens, seconds))
}

/// The file as mono PCM at the model's rate, for a batch, and its duration
/// in seconds: converted as it is decoded, so only that one copy is held.
fn load(package: &ModelPackage, path: &Path, min_seconds: f64) -> Result<(Vec<f32>, f64)> {
    let mut input = open(path)?;
    let mut resampler = audio::Resampler::new(input.sample_rate(), package.sample_rate())?;
    let (mut samples, mut pcm, mut decoded) = (Vec::new(), Vec::new(), 0u64);
    while input.read_packet(&mut samples)? {
        decoded += samples.len() as u64;
        resampler.push(&samples, &mut pcm)?;
        samples.clear();
    }
    resampler.finish(&mut pcm)?;
    let seconds = decoded as f64 / f64::from(input.sample_rate());
    check_length(seconds, min_seconds)?;
    Ok((pcm, seconds))
}

/// `jobs` threads, each encoding whole files with its own encoder.
pub(super) fn per_file(
    package: &Arc<ModelPackage>,
    runtime: RuntimeOptions,
    stages: usize,
    jobs: usize,
    min_seconds: f64,
    work: &Receiver<Work>,
    done: &Sender<Done>,
) -> Result<Vec<JoinHandle<()>>> {
    let mut threads = Vec::new();
    for _ in 0..jobs {
        let (rx, tx, package) = (work.clone(), done.clone(), package.clone());
        let mut encoder = Encoder::new(&package, runtime, stages)?;
        threads.push(std::thread::spawn(move || {
            for (part, slot, path) in rx {
                let outcome = match encode_file(&package, &mut encoder, &path, min_seconds) {
                    Ok((tokens, seconds)) => {
                        Outcome::Codes { frames: u64::from(tokens.header.frames), codes: tokens.codes, seconds }
                    }
                    Err(e) => Outcome::Failed(crate::one_line(&e)),
                };
                if tx.send((part, slot, outcome)).is_err() {
                    break;
                }
            }
        }));
    }
    Ok(threads)
}

/// `jobs` threads decoding and resampling, and one running the encoder on
/// batches of `batch` signals.
#[allow(clippy::too_many_arguments)]
pub(super) fn batched(
    package: &Arc<ModelPackage>,
    runtime: RuntimeOptions,
    stages: usize,
    jobs: usize,
    batch: usize,
    min_seconds: f64,
    work: &Receiver<Work>,
    done: &Sender<Done>,
) -> Result<Vec<JoinHandle<()>>> {
    let mut encoder = BatchEncoder::new(package, runtime, stages)?;
    let (pcm_tx, pcm_rx) = crossbeam_channel::bounded::<(usize, usize, Vec<f32>, f64)>(batch.max(jobs));
    let mut threads = Vec::new();
    for _ in 0..jobs {
        let (rx, pcm_tx, done, package) = (work.clone(), pcm_tx.clone(), done.clone(), package.clone());
        threads.push(std::thread::spawn(move || {
            for (part, slot, path) in rx {
                let sent = match load(&package, &path, min_seconds) {
                    Ok((pcm, seconds)) => pcm_tx.send((part, slot, pcm, seconds)).is_ok(),
                    Err(e) => done.send((part, slot, Outcome::Failed(crate::one_line(&e)))).is_ok(),
                };
                if !sent {
                    break;
                }
            }
        }));
    }
    drop(pcm_tx);
    let done = done.clone();
    threads.push(std::thread::spawn(move || {
        let mut pool = Vec::with_capacity(batch * POOL_BATCHES);
        for item in pcm_rx {
            pool.push(item);
            if pool.len() >= batch * POOL_BATCHES && !encode_pool(&mut encoder, &mut pool, batch, &done) {
                return;
            }
        }
        encode_pool(&mut encoder, &mut pool, batch, &done);
    }));
    Ok(threads)
}

/// Encodes and empties the pool, longest signals together. False once
/// nobody listens for the outcomes.
fn encode_pool(
    encoder: &mut BatchEncoder,
    pool: &mut Vec<(usize, usize, Vec<f32>, f64)>,
    batch: usize,
    done: &Sender<Done>,
) -> bool {
    pool.sort_by_key(|item| std::cmp::Reverse(item.2.len()));
    let per_frame = encoder.codes_per_frame();
    for group in pool.chunks(batch) {
        let signals: Vec<&[f32]> = group.iter().map(|item| item.2.as_slice()).collect();
        let result = encoder.encode(&signals);
        for (k, (part, slot, _, seconds)) in group.iter().enumerate() {
            let outcome = match &result {
                Ok(codes) => Outcome::Codes {
                    codes: codes[k].clone(),
                    frames: (codes[k].len() / per_frame) as u64,
                    seconds: *seconds,
                },
                Err(e) => Outcome::Failed(e.to_string()),
            };
            if done.send((*part, *slot, outcome)).is_err() {
                return false;
            }
        }
    }
    pool.clear();
    true
}
