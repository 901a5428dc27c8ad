//! Sample-rate conversion, whole signals and streams, on rubato.
//!
//! Both use rubato's synchronous FFT resampler: a windowed-sinc low-pass
//! (Blackman-Harris², one FFT chunk long) applied by FFT convolution. It is
//! chosen over rubato's `SincFixedIn` because its delay is exact and whole:
//! with even chunk sizes the filter is centred on a sample of both rates, so
//! dropping `delay` output samples aligns output and input exactly, whereas
//! `SincFixedIn` (0.16) has a fractional delay that `output_delay` misreports
//! (46 samples reported for 44.1 -> 16 kHz, about -0.64 measured).

use rubato::{FftFixedInOut, Resampler as _};

use super::{check_rate, AudioError};

/// Largest chunk a stream may ask for: it bounds the FFT sizes (a chunk is one
/// FFT), and real-time chunks are milliseconds long anyway.
pub const MAX_CHUNK: usize = 1 << 22;

/// Filter length (input samples) for whole signals: a sharp transition band;
/// latency does not matter offline.
const OFFLINE_TAPS: usize = 2048;

/// Minimum filter length for streams, whatever chunk is asked for: fewer taps
/// would let audible aliasing through.
const STREAM_MIN_TAPS: usize = 256;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Converts a whole signal from `from` Hz to `to` Hz.
///
/// The output has `round(len * to / from)` samples and is time-aligned with
/// the input (the resampler's delay is removed; the end is flushed with
/// zeros). Equal rates return a copy.
///
/// # Errors
/// [`AudioError::BadSampleRate`] for a rate outside [`super::check_rate`]'s range.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    Resampler::new(from, to)?.process(samples)
}

/// Whole-signal conversion between two fixed rates, keeping the FFT plans
/// across signals (for converting many files). A signal goes in whole
/// ([`Resampler::process`]) or in pieces of any size ([`Resampler::push`],
/// then [`Resampler::finish`]), with the same output either way: memory
/// then does not grow with the length of the signal.
pub struct Resampler {
    from: u32,
    to: u32,
    stream: StreamResampler,
    /// The chunk being filled; its first `filled` samples are input.
    input: Vec<f32>,
    filled: usize,
    block: Vec<f32>,
    /// Output samples of this signal still to drop: the resampler's delay.
    skip: usize,
    consumed: u64,
    emitted: u64,
}

impl Resampler {
    /// A converter from `from` Hz to `to` Hz.
    ///
    /// # Errors
    /// [`AudioError::BadSampleRate`] for a rate outside [`super::check_rate`]'s range.
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        let stream = StreamResampler::with_taps(from, to, OFFLINE_TAPS, OFFLINE_TAPS)?;
        let (input, block) = (vec![0.0; stream.input_chunk()], vec![0.0; stream.output_chunk()]);
        let mut resampler = Self { from, to, stream, input, filled: 0, block, skip: 0, consumed: 0, emitted: 0 };
        resampler.start();
        Ok(resampler)
    }

    /// Samples out for `len` samples in: `round(len * to / from)`.
    pub fn output_len(&self, len: u64) -> u64 {
        let out = (u128::from(len) * u128::from(self.to) + u128::from(self.from) / 2) / u128::from(self.from);
        u64::try_from(out).unwrap_or(u64::MAX)
    }

    /// The signal at the output rate: [`Resampler::output_len`] samples,
    /// aligned with the input. The end is flushed with zeros.
    ///
    /// # Errors
    /// Only on a bug in the chunk bookkeeping ([`AudioError::Resample`]).
    pub fn process(&mut self, samples: &[f32]) -> Result<Vec<f32>, AudioError> {
        self.start();
        let wanted = usize::try_from(self.output_len(samples.len() as u64)).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(wanted);
        self.push(samples, &mut out)?;
        self.finish(&mut out)?;
        Ok(out)
    }

    /// Takes the next piece of a signal and appends the output it completes.
    ///
    /// # Errors
    /// As [`Resampler::process`].
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.consumed += samples.len() as u64;
        if self.from == self.to {
            out.extend_from_slice(samples);
            return Ok(());
        }
        let mut rest = samples;
        while !rest.is_empty() {
            let take = rest.len().min(self.input.len() - self.filled);
            self.input[self.filled..self.filled + take].copy_from_slice(&rest[..take]);
            self.filled += take;
            rest = &rest[take..];
            if self.filled == self.input.len() {
                // Never past the end: a whole chunk in is a whole chunk's worth
                // of output more than the delay held back.
                self.run_block(out, u64::MAX)?;
            }
        }
        Ok(())
    }

    /// Ends the signal: appends the rest of its output, so that all of it is
    /// [`Resampler::output_len`] of all that was pushed, and makes ready for
    /// the next signal.
    ///
    /// # Errors
    /// As [`Resampler::process`].
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        if self.from != self.to {
            let wanted = self.output_len(self.consumed);
            while self.emitted < wanted {
                self.input[self.filled..].fill(0.0);
                self.run_block(out, wanted)?;
            }
        }
        self.start();
        Ok(())
    }

    fn start(&mut self) {
        self.stream.reset();
        (self.filled, self.skip, self.consumed, self.emitted) = (0, self.stream.delay(), 0, 0);
    }

    /// Converts the chunk in `input` and appends its output after the delay,
    /// up to `limit` samples of this signal in all.
    fn run_block(&mut self, out: &mut Vec<f32>, limit: u64) -> Result<(), AudioError> {
        self.stream.process(&self.input, &mut self.block)?;
        self.filled = 0;
        let skip = self.skip.min(self.block.len());
        self.skip -= skip;
        let room = usize::try_from(limit - self.emitted).unwrap_or(usize::MAX);
        let take = (self.block.len() - skip).min(room);
        out.extend_from_slice(&self.block[skip..skip + take]);
        self.emitted += take as u64;
        Ok(())
    }
}

/// Streaming conversion between two fixed rates: a fixed-size chunk in, a
/// fixed-size chunk out, no allocation per call.
///
/// The output lags the input by [`StreamResampler::delay`] output samples
/// (half the filter); a caller that wants alignment drops that many from the
/// start. The chunk is an even number of periods of the rate ratio, so it may
/// be larger than asked for.
pub struct StreamResampler {
    chunk_in: usize,
    chunk_out: usize,
    /// `None` for equal rates: a plain copy.
    inner: Option<FftFixedInOut<f32>>,
}

impl StreamResampler {
    /// A resampler taking at least `chunk` input samples a call.
    ///
    /// The actual input chunk ([`StreamResampler::input_chunk`]) is the
    /// smallest even multiple of `from / gcd(from, to)` that is at least
    /// `chunk` and at least 256 (the filter is one chunk long). Equal rates
    /// pass `max(chunk, 1)` samples through unchanged.
    ///
    /// # Errors
    /// [`AudioError::BadSampleRate`] for a rate outside [`super::check_rate`]'s range,
    /// [`AudioError::ChunkTooLarge`] for a chunk above [`MAX_CHUNK`].
    pub fn new(from: u32, to: u32, chunk: usize) -> Result<Self, AudioError> {
        Self::with_taps(from, to, chunk, STREAM_MIN_TAPS)
    }

    fn with_taps(from: u32, to: u32, chunk: usize, min_taps: usize) -> Result<Self, AudioError> {
        check_rate(from)?;
        check_rate(to)?;
        if chunk > MAX_CHUNK {
            return Err(AudioError::ChunkTooLarge { chunk, max: MAX_CHUNK });
        }
        if from == to {
            let chunk = chunk.max(1);
            return Ok(Self { chunk_in: chunk, chunk_out: chunk, inner: None });
        }
        let g = gcd(u64::from(from), u64::from(to));
        // Rates and chunk are bounded above, so these products stay far below usize::MAX.
        let (period_in, period_out) = ((u64::from(from) / g) as usize, (u64::from(to) / g) as usize);
        let periods = chunk.max(min_taps).div_ceil(period_in);
        // Even chunks put the filter's centre on a sample of both rates: a whole delay.
        let periods = periods + periods % 2;
        let (chunk_in, chunk_out) = (periods * period_in, periods * period_out);
        let inner = FftFixedInOut::<f32>::new(from as usize, to as usize, chunk_in, 1)?;
        let (got_in, got_out) = (inner.input_frames_next(), inner.output_frames_next());
        if (got_in, got_out) != (chunk_in, chunk_out) {
            return Err(AudioError::ChunkMismatch { want_in: chunk_in, want_out: chunk_out, got_in, got_out });
        }
        Ok(Self { chunk_in, chunk_out, inner: Some(inner) })
    }

    /// Input samples per call.
    pub fn input_chunk(&self) -> usize {
        self.chunk_in
    }

    /// Output samples per call.
    pub fn output_chunk(&self) -> usize {
        self.chunk_out
    }

    /// Output samples before the one aligned with the first input sample.
    pub fn delay(&self) -> usize {
        self.inner.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Converts one chunk: `input` must hold [`StreamResampler::input_chunk`]
    /// samples and `output` [`StreamResampler::output_chunk`].
    ///
    /// # Errors
    /// [`AudioError::ChunkLength`] or [`AudioError::OutputLength`] for slices
    /// of the wrong size; the state is unchanged then.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), AudioError> {
        if input.len() != self.chunk_in {
            return Err(AudioError::ChunkLength { expected: self.chunk_in, got: input.len() });
        }
        if output.len() != self.chunk_out {
            return Err(AudioError::OutputLength { expected: self.chunk_out, got: output.len() });
        }
        match &mut self.inner {
            None => output.copy_from_slice(input),
            Some(r) => {
                r.process_into_buffer(&[input], &mut [output], None)?;
            }
        }
        Ok(())
    }

    /// Back to the state of a new resampler: the filter history is silence.
    pub fn reset(&mut self) {
        if let Some(r) = &mut self.inner {
            r.reset();
        }
    }
}
