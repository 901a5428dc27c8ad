//! 16-bit PCM WAV output: to a file (atomically), any seekable writer, or stdout.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Cursor, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{AudioError, MAX_SAMPLE_RATE};

/// Most samples a 16-bit WAV can hold: its data chunk size is a u32.
pub const MAX_WAV_SAMPLES: usize = (u32::MAX as usize - 64) / 2;

/// Distinguishes temporary files of concurrent writes from one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A float sample as 16-bit PCM: clipped (never wrapped) and rounded.
///
/// The scale is 32768 to invert symphonia's `i16 / 32768` exactly, so reading a
/// 16-bit file and writing it back is lossless; +1.0 clips to 32767, NaN maps to 0.
fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Writes mono 16-bit PCM WAV to `path`.
///
/// The file is written under a temporary name in the same directory, synced,
/// then renamed over `path`: a reader never sees a half-written file under the
/// final name, and a failure removes the temporary file.
///
/// # Errors
/// [`AudioError::BadSampleRate`], [`AudioError::WavTooLong`],
/// [`AudioError::NotAFilePath`], or
/// [`AudioError::Io`] naming the file that failed.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<(), AudioError> {
    check(samples, sample_rate)?;
    let name = path.file_name().ok_or_else(|| AudioError::NotAFilePath { path: path.to_owned() })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.{n}.tmp", std::process::id()));
    let temp_path = dir.join(temp_name);
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |source| AudioError::Io { path, source }
    };
    let file = OpenOptions::new().write(true).create_new(true).open(&temp_path).map_err(io_error(&temp_path))?;
    // Only now is the file ours to remove: `create_new` refused any existing one.
    let temp = TempFile { path: temp_path, keep: false };
    let mut writer = BufWriter::new(file);
    write_wav_to(&mut writer, samples, sample_rate).map_err(|e| match e {
        AudioError::Wav(hound::Error::IoError(source)) => AudioError::Io { path: temp.path.clone(), source },
        other => other,
    })?;
    let file: File =
        writer.into_inner().map_err(|e| AudioError::Io { path: temp.path.clone(), source: e.into_error() })?;
    file.sync_all().map_err(io_error(&temp.path))?;
    drop(file);
    fs::rename(&temp.path, path).map_err(io_error(path))?;
    temp.keep();
    Ok(())
}

/// Writes mono 16-bit PCM WAV to any seekable writer (the header's sizes are
/// filled in at the end, hence `Seek`).
///
/// # Errors
/// [`AudioError::BadSampleRate`], [`AudioError::WavTooLong`], or
/// [`AudioError::Wav`] when the writer fails.
pub fn write_wav_to<W: Write + Seek>(writer: W, samples: &[f32], sample_rate: u32) -> Result<(), AudioError> {
    check(samples, sample_rate)?;
    let spec =
        hound::WavSpec { channels: 1, sample_rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut wav = hound::WavWriter::new(writer, spec)?;
    for &x in samples {
        wav.write_sample(to_i16(x))?;
    }
    wav.finalize()?;
    Ok(())
}

/// A whole mono 16-bit PCM WAV file in memory.
///
/// # Errors
/// [`AudioError::BadSampleRate`] or [`AudioError::WavTooLong`].
pub fn wav_bytes(samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, AudioError> {
    // Checked before sizing the buffer from the sample count.
    check(samples, sample_rate)?;
    let mut cursor = Cursor::new(Vec::with_capacity(44 + 2 * samples.len()));
    write_wav_to(&mut cursor, samples, sample_rate)?;
    Ok(cursor.into_inner())
}

/// Writes mono 16-bit PCM WAV to stdout. Stdout cannot seek back to fill in
/// the header, so the file is built in memory first.
///
/// # Errors
/// As [`wav_bytes`], or [`AudioError::Io`] (path `-`) when stdout
/// fails, e.g. a closed pipe.
pub fn write_wav_stdout(samples: &[f32], sample_rate: u32) -> Result<(), AudioError> {
    let bytes = wav_bytes(samples, sample_rate)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)
        .and_then(|()| out.flush())
        .map_err(|source| AudioError::Io { path: PathBuf::from("-"), source })
}

fn check(samples: &[f32], sample_rate: u32) -> Result<(), AudioError> {
    if sample_rate == 0 || sample_rate > MAX_SAMPLE_RATE {
        return Err(AudioError::BadSampleRate { rate: sample_rate, max: MAX_SAMPLE_RATE });
    }
    if samples.len() > MAX_WAV_SAMPLES {
        return Err(AudioError::WavTooLong { samples: samples.len(), limit: MAX_WAV_SAMPLES });
    }
    Ok(())
}

/// A temporary file removed on drop unless kept: every early return of
/// [`write_wav`] cleans up after itself.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    /// The file has been renamed into place; nothing to clean up.
    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            // Best effort: the error being returned matters more than this one.
            let _ = fs::remove_file(&self.path);
        }
    }
}
