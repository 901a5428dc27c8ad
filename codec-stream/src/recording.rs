//! What a file output of a call has played, kept until the call ends.
//!
//! A receiver waiting for a sender, or for the next stream, plays silence
//! for as long as it waits: stored sample by sample that is 64 KB a second
//! at 16 kHz, for nothing. Stretches of silence are kept as their length,
//! so a recording grows only while there is audio to keep.

use std::io::Write;

use codec_core::audio::{AudioError, WavWriter};

/// Zeros in a row kept as a run rather than stored: a tenth of a second at
/// 16 kHz. Shorter ones (a zero crossing, a padded frame) are stored.
const MIN_RUN: u64 = 1600;
/// Zeros written at once when a run is written out.
const ZEROS_AT_ONCE: usize = 4096;

/// Mono samples with their long stretches of exact zeros counted.
#[derive(Debug, Default)]
pub struct Recording {
    /// The samples that are not in a run.
    stored: Vec<f32>,
    /// Runs of zeros: where in `stored` each one comes, and its length.
    runs: Vec<(usize, u64)>,
    /// Zeros at the end, not yet known to be a run.
    zeros: u64,
}

impl Recording {
    /// Appends `samples`.
    pub fn extend(&mut self, samples: &[f32]) {
        for &v in samples {
            if v == 0.0 {
                self.zeros += 1;
            } else {
                self.settle_zeros();
                self.stored.push(v);
            }
        }
    }

    /// Stores the zeros at the end, or makes them a run.
    fn settle_zeros(&mut self) {
        if self.zeros >= MIN_RUN {
            self.runs.push((self.stored.len(), self.zeros));
        } else {
            // Fewer than MIN_RUN, so the count fits in memory as samples.
            self.stored.extend(std::iter::repeat_n(0.0, self.zeros as usize));
        }
        self.zeros = 0;
    }

    /// Samples recorded, silence included.
    pub fn len(&self) -> u64 {
        self.stored.len() as u64 + self.runs.iter().map(|(_, n)| n).sum::<u64>() + self.zeros
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the recording holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.stored.capacity() * std::mem::size_of::<f32>() + self.runs.capacity() * std::mem::size_of::<(usize, u64)>()
    }

    /// Writes the recording as a mono 16-bit WAV file at `rate`.
    ///
    /// # Errors
    /// As [`WavWriter`]: a rate out of range, a recording too long for a
    /// WAV file, or a write that fails.
    pub fn write_wav<W: Write>(&self, out: W, rate: u32) -> Result<W, AudioError> {
        let mut wav = WavWriter::new(out, rate, self.len())?;
        let zeros = [0.0f32; ZEROS_AT_ONCE];
        let write_zeros = |wav: &mut WavWriter<W>, mut n: u64| -> Result<(), AudioError> {
            while n > 0 {
                let now = n.min(ZEROS_AT_ONCE as u64) as usize;
                wav.write(&zeros[..now])?;
                n -= now as u64;
            }
            Ok(())
        };
        let mut from = 0;
        for &(at, n) in &self.runs {
            wav.write(self.stored.get(from..at).unwrap_or_default())?;
            write_zeros(&mut wav, n)?;
            from = at;
        }
        wav.write(self.stored.get(from..).unwrap_or_default())?;
        write_zeros(&mut wav, self.zeros)?;
        wav.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codec_core::audio::write_wav_to;

    #[test]
    fn writes_what_it_was_given_sample_for_sample() {
        let mut signal = Vec::new();
        for (i, zeros) in [0usize, 3, 1599, 1600, 5000, 0, 40_000, 7].into_iter().enumerate() {
            signal.extend((0..100).map(|j| ((i * 100 + j) as f32 * 0.01).sin() * 0.5 + 0.01));
            signal.extend(std::iter::repeat_n(0.0, zeros));
        }
        signal.extend(std::iter::repeat_n(0.0, 3000));
        let mut recording = Recording::default();
        for piece in signal.chunks(160) {
            recording.extend(piece);
        }
        assert_eq!(recording.len(), signal.len() as u64);
        let mut expected = Vec::new();
        write_wav_to(&mut expected, &signal, 16_000).expect("wav");
        let written = recording.write_wav(Vec::new(), 16_000).expect("wav");
        assert_eq!(written, expected);
        // 48,000 of the zeros are runs; the rest is stored.
        assert!(recording.heap_bytes() < (signal.len() - 48_000) * 4 * 2, "{}", recording.heap_bytes());
    }

    /// Issue 32, item 3: an hour of waiting takes no memory.
    #[test]
    fn silence_takes_no_memory() {
        let mut recording = Recording::default();
        recording.extend(&[0.25; 320]);
        let quiet = [0.0f32; 160];
        for _ in 0..100 * 3600 {
            recording.extend(&quiet);
        }
        recording.extend(&[0.25; 320]);
        assert_eq!(recording.len(), 640 + 160 * 100 * 3600);
        assert!(recording.heap_bytes() < 16 * 1024, "{} bytes for an hour of silence", recording.heap_bytes());
    }
}
