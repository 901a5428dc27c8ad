//! Streaming causal STFT: one hop of samples in, one spectrum frame out.

use std::sync::Arc;

use ndarray::Array2;
use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use super::{check_geometry, hann, DspError};

/// Causal STFT analysis, one hop at a time.
///
/// Frame `t` covers input samples `[(t - 1) * hop, (t + 1) * hop)`: the signal
/// is treated as preceded by `n_fft - hop` zeros, so a frame never waits for
/// samples past the hop it completes. The only state is the previous hop.
/// Everything is allocated in [`StftAnalyzer::new`]; [`StftAnalyzer::push`]
/// does not allocate.
pub struct StftAnalyzer {
    hop: usize,
    bins: usize,
    window: Vec<f32>,
    /// The last `n_fft - hop` input samples: the first half of the next frame.
    history: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl StftAnalyzer {
    /// An analyzer for frames of `n_fft` samples every `hop` samples.
    ///
    /// # Errors
    /// [`DspError::Geometry`] unless `n_fft == 2 * hop > 0`: the training
    /// recipe only defines 50% overlap.
    pub fn new(n_fft: usize, hop: usize) -> Result<Self, DspError> {
        let bins = check_geometry(n_fft, hop)?;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        Ok(Self {
            hop,
            bins,
            window: hann(n_fft),
            history: vec![0.0; n_fft - hop],
            frame: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
        })
    }

    /// Samples consumed per frame.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Frame length in samples (twice the hop).
    pub fn n_fft(&self) -> usize {
        self.window.len()
    }

    /// Frequency bins per frame, `n_fft / 2 + 1`.
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Floats per output frame, `2 * bins` (real parts, then imaginary parts).
    pub fn frame_len(&self) -> usize {
        2 * self.bins
    }

    /// Takes exactly one hop of new samples and writes the frame they complete
    /// into `frame` (`2 * bins` floats: real parts of all bins, then imaginary).
    ///
    /// # Errors
    /// [`DspError::HopLength`] or [`DspError::OutputLength`] for slices of the
    /// wrong size; nothing is consumed then.
    pub fn push(&mut self, samples: &[f32], frame: &mut [f32]) -> Result<(), DspError> {
        if samples.len() != self.hop {
            return Err(DspError::HopLength { expected: self.hop, got: samples.len() });
        }
        if frame.len() != 2 * self.bins {
            return Err(DspError::OutputLength { expected: 2 * self.bins, got: frame.len() });
        }
        let past = self.history.len();
        let (head, tail) = self.frame.split_at_mut(past);
        for ((f, x), w) in head.iter_mut().zip(&self.history).zip(&self.window) {
            *f = x * w;
        }
        for ((f, x), w) in tail.iter_mut().zip(samples).zip(&self.window[past..]) {
            *f = x * w;
        }
        // The newest samples become the older half of the next frame (history is one hop).
        self.history.copy_from_slice(samples);
        self.fft.process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)?;
        let (re, im) = frame.split_at_mut(self.bins);
        for ((r, i), c) in re.iter_mut().zip(im.iter_mut()).zip(&self.spectrum) {
            *r = c.re;
            *i = c.im;
        }
        Ok(())
    }

    /// Back to the state of a new analyzer: the signal starts over after zeros.
    pub fn reset(&mut self) {
        self.history.fill(0.0);
    }
}

/// The frames of a whole signal, `[T, 2 * bins]` with `T = signal.len() / hop`:
/// exactly what pushing it hop by hop into a fresh [`StftAnalyzer`] gives.
///
/// This is `dsp.py::stft` transposed to frame-major. The signal must already
/// be padded to whole hops (the codec pads with zeros plus one flush hop).
///
/// # Errors
/// [`DspError::Geometry`] for framing other than 50% overlap, and
/// [`DspError::PartialHop`] for a signal that is not whole hops.
pub fn stft(signal: &[f32], n_fft: usize, hop: usize) -> Result<Array2<f32>, DspError> {
    let mut analyzer = StftAnalyzer::new(n_fft, hop)?;
    let frames = signal.len() / hop;
    if frames * hop != signal.len() {
        return Err(DspError::PartialHop { len: signal.len(), hop });
    }
    let width = analyzer.frame_len();
    let mut out = vec![0.0f32; frames * width];
    for (samples, frame) in signal.chunks_exact(hop).zip(out.chunks_exact_mut(width)) {
        analyzer.push(samples, frame)?;
    }
    Ok(Array2::from_shape_vec((frames, width), out)?)
}
