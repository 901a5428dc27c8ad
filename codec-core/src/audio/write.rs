//! 16-bit PCM WAV output, written front to back with its length declared up
//! front, to a file (through [`crate::output`]), stdout or any writer.

use std::io::Write;
use std::path::Path;

use super::{check_rate, AudioError};
use crate::output::{OutputError, OutputFile};

/// Most samples a 16-bit WAV can hold: its data chunk size is a u32.
pub const MAX_WAV_SAMPLES: usize = (u32::MAX as usize - 64) / 2;

/// Bytes of the header: RIFF, a 16-byte `fmt ` chunk and the `data` chunk's head.
const HEADER_LEN: usize = 44;
/// Samples converted a write: bounds the byte buffer whatever the caller passes.
const WRITE_CHUNK: usize = 8192;

/// A float sample as 16-bit PCM: clipped (never wrapped) and rounded.
///
/// The scale is 32768 to invert symphonia's `i16 / 32768` exactly, so reading a
/// 16-bit file and writing it back is lossless; +1.0 clips to 32767, NaN maps to 0.
fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// A mono 16-bit PCM WAV stream whose length is known before it starts.
///
/// The header (the same bytes hound writes) goes out first, so the file can
/// go to a pipe or stdout, which cannot seek back to patch the sizes in: that
/// is why this is not hound's writer. [`WavWriter::finish`] checks that
/// exactly the declared number of samples came.
pub struct WavWriter<W: Write> {
    out: W,
    left: u64,
    declared: u64,
    bytes: Vec<u8>,
}

impl<W: Write> WavWriter<W> {
    /// Writes the header of a file of `samples` samples at `sample_rate`.
    ///
    /// # Errors
    /// [`AudioError::BadSampleRate`], [`AudioError::WavTooLong`], or
    /// [`AudioError::WavIo`].
    pub fn new(mut out: W, sample_rate: u32, samples: u64) -> Result<Self, AudioError> {
        check_rate(sample_rate)?;
        if samples > MAX_WAV_SAMPLES as u64 {
            return Err(AudioError::WavTooLong { samples, limit: MAX_WAV_SAMPLES });
        }
        // Bounded by MAX_WAV_SAMPLES, so these fit in a u32.
        let data_len = (samples * 2) as u32;
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(b"RIFF");
        header.extend_from_slice(&(data_len + 36).to_le_bytes());
        header.extend_from_slice(b"WAVEfmt ");
        header.extend_from_slice(&16u32.to_le_bytes());
        header.extend_from_slice(&1u16.to_le_bytes()); // PCM
        header.extend_from_slice(&1u16.to_le_bytes()); // mono
        header.extend_from_slice(&sample_rate.to_le_bytes());
        header.extend_from_slice(&(sample_rate * 2).to_le_bytes()); // bytes a second
        header.extend_from_slice(&2u16.to_le_bytes()); // bytes a frame
        header.extend_from_slice(&16u16.to_le_bytes()); // bits a sample
        header.extend_from_slice(b"data");
        header.extend_from_slice(&data_len.to_le_bytes());
        out.write_all(&header).map_err(AudioError::WavIo)?;
        Ok(Self { out, left: samples, declared: samples, bytes: Vec::with_capacity(2 * WRITE_CHUNK) })
    }

    /// Appends samples.
    ///
    /// # Errors
    /// [`AudioError::WavLength`] past the declared length (nothing of
    /// `samples` is written then), or [`AudioError::WavIo`].
    pub fn write(&mut self, samples: &[f32]) -> Result<(), AudioError> {
        if samples.len() as u64 > self.left {
            let written = self.declared - self.left + samples.len() as u64;
            return Err(AudioError::WavLength { declared: self.declared, written });
        }
        for chunk in samples.chunks(WRITE_CHUNK) {
            self.bytes.clear();
            self.bytes.extend(chunk.iter().flat_map(|&x| to_i16(x).to_le_bytes()));
            self.out.write_all(&self.bytes).map_err(AudioError::WavIo)?;
        }
        self.left -= samples.len() as u64;
        Ok(())
    }

    /// Samples still to come.
    pub fn remaining(&self) -> u64 {
        self.left
    }

    /// Ends the file and returns the writer (not flushed).
    ///
    /// # Errors
    /// [`AudioError::WavLength`] if fewer samples came than declared.
    pub fn finish(self) -> Result<W, AudioError> {
        if self.left != 0 {
            return Err(AudioError::WavLength { declared: self.declared, written: self.declared - self.left });
        }
        Ok(self.out)
    }
}

/// Writes mono 16-bit PCM WAV to `path` (`-` for stdout) as an
/// [`OutputFile`]: a regular file appears complete or not at all.
///
/// # Errors
/// [`AudioError::BadSampleRate`], [`AudioError::WavTooLong`], or
/// [`AudioError::Output`] naming the file that failed.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<(), AudioError> {
    // Checked before the output is created: a refused write leaves nothing behind.
    WavWriter::new(std::io::sink(), sample_rate, samples.len() as u64)?;
    let mut out = OutputFile::create(path)?;
    write_wav_to(&mut out, samples, sample_rate).map_err(|e| with_path(e, path))?;
    Ok(out.commit()?)
}

/// A write error of a [`WavWriter`] as the failure of the output at `path`.
pub(crate) fn with_path(e: AudioError, path: &Path) -> AudioError {
    match e {
        AudioError::WavIo(source) => AudioError::Output(OutputError::Io { path: path.to_owned(), source }),
        other => other,
    }
}

/// Writes mono 16-bit PCM WAV to any writer.
///
/// # Errors
/// [`AudioError::BadSampleRate`], [`AudioError::WavTooLong`], or
/// [`AudioError::WavIo`] when the writer fails.
pub fn write_wav_to<W: Write>(writer: W, samples: &[f32], sample_rate: u32) -> Result<(), AudioError> {
    let mut wav = WavWriter::new(writer, sample_rate, samples.len() as u64)?;
    wav.write(samples)?;
    wav.finish()?.flush().map_err(AudioError::WavIo)
}

/// A whole mono 16-bit PCM WAV file in memory.
///
/// # Errors
/// [`AudioError::BadSampleRate`] or [`AudioError::WavTooLong`].
pub fn wav_bytes(samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, AudioError> {
    // Checked before sizing the buffer from the sample count.
    let mut wav = WavWriter::new(Vec::new(), sample_rate, samples.len() as u64)?;
    wav.out.reserve_exact(2 * samples.len());
    wav.write(samples)?;
    wav.finish()
}
