//! Streaming inverse STFT: one spectrum frame in, one hop of samples out.

use std::sync::Arc;

use ndarray::ArrayView2;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner};

use super::{hann, ola_envelope, DspError};

/// Inverse of the causal STFT by weighted overlap-add, one frame at a time.
///
/// Frames overlap by `n_fft / hop = k` (2 for the analysis framing, 4 for a
/// decoder that synthesizes two frames a token). Output hop `j` (samples
/// `[j * hop, (j + 1) * hop)`) sums a hop of each of the windowed frames
/// `j .. j + k - 1`, so it is only complete once frame `j + k - 1` arrives:
/// **the synthesizer is `k - 1` hops behind**. Pushing frame `t` writes the
/// samples of hop `t - (k - 1)`; the first `k - 1` pushes write hops before
/// the signal starts (the analysis padding), which callers drop. Everything
/// is allocated in [`StftSynthesizer::new`]; [`StftSynthesizer::push`] does
/// not allocate.
pub struct StftSynthesizer {
    hop: usize,
    bins: usize,
    /// The analysis window divided by `n_fft`: realfft's inverse is unnormalised,
    /// and folding the scale into the window saves a pass per frame.
    scaled_window: Vec<f32>,
    inv_envelope: Vec<f32>,
    /// The windowed frames' sum past the hop just written (`n_fft - hop`
    /// samples), waiting for the frames that complete it.
    pending: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    frame: Vec<f32>,
    scratch: Vec<Complex<f32>>,
    ifft: Arc<dyn ComplexToReal<f32>>,
}

impl StftSynthesizer {
    /// A synthesizer for frames of `n_fft` samples every `hop` samples.
    ///
    /// # Errors
    /// [`DspError::Geometry`] unless `n_fft` is even and a multiple, at least
    /// twice, of a nonzero `hop`: the envelope of periodic Hann windows is
    /// smooth and nonzero only then.
    pub fn new(n_fft: usize, hop: usize) -> Result<Self, DspError> {
        let bins = check_synthesis_geometry(n_fft, hop)?;
        let ifft = RealFftPlanner::<f32>::new().plan_fft_inverse(n_fft);
        let scale = 1.0 / n_fft as f32;
        Ok(Self {
            hop,
            bins,
            scaled_window: hann(n_fft).into_iter().map(|w| w * scale).collect(),
            inv_envelope: ola_envelope(n_fft, hop).into_iter().map(|e| 1.0 / e).collect(),
            pending: vec![0.0; n_fft - hop],
            spectrum: ifft.make_input_vec(),
            frame: ifft.make_output_vec(),
            scratch: ifft.make_scratch_vec(),
            ifft,
        })
    }

    /// Samples written per frame.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Frame length in samples (a multiple of the hop).
    pub fn n_fft(&self) -> usize {
        self.scaled_window.len()
    }

    /// Hops each output sample waits for after the frame that starts it: the
    /// first `overlap - 1` outputs precede the signal.
    pub fn overlap(&self) -> usize {
        self.scaled_window.len() / self.hop
    }

    /// Frequency bins per frame, `n_fft / 2 + 1`.
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Floats per input frame, `2 * bins` (real parts, then imaginary parts).
    pub fn frame_len(&self) -> usize {
        2 * self.bins
    }

    /// Takes frame `t` (`2 * bins` floats, real parts then imaginary) and writes
    /// the `hop` samples it completes, those of output hop `t - (overlap - 1)`.
    /// The first `overlap - 1` calls' outputs precede the signal and are to be
    /// dropped.
    ///
    /// The imaginary parts of the DC and Nyquist bins are ignored, as numpy's
    /// and torch's `irfft` do: a network's output need not be a spectrum of a
    /// real signal there, and realfft would reject it.
    ///
    /// # Errors
    /// [`DspError::FrameLength`] or [`DspError::OutputLength`] for slices of
    /// the wrong size; the state is unchanged then.
    pub fn push(&mut self, frame: &[f32], out: &mut [f32]) -> Result<(), DspError> {
        let bins = self.bins;
        if frame.len() != 2 * bins {
            return Err(DspError::FrameLength { expected: 2 * bins, got: frame.len() });
        }
        if out.len() != self.hop {
            return Err(DspError::OutputLength { expected: self.hop, got: out.len() });
        }
        let (re, im) = frame.split_at(bins);
        for ((c, r), i) in self.spectrum.iter_mut().zip(re).zip(im) {
            *c = Complex::new(*r, *i);
        }
        self.spectrum[0].im = 0.0;
        self.spectrum[bins - 1].im = 0.0;
        self.ifft.process_with_scratch(&mut self.spectrum, &mut self.frame, &mut self.scratch)?;
        let hop = self.hop;
        let (head, tail) = self.frame.split_at(hop);
        let (w_head, w_tail) = self.scaled_window.split_at(hop);
        for ((((o, p), x), w), g) in out.iter_mut().zip(&self.pending).zip(head).zip(w_head).zip(&self.inv_envelope) {
            *o = (p + x * w) * g;
        }
        // What is still pending moves up a hop and takes this frame's rest;
        // the last hop of it is this frame's alone.
        let keep = self.pending.len() - hop;
        self.pending.copy_within(hop.., 0);
        for (i, (x, w)) in tail.iter().zip(w_tail).enumerate() {
            let v = x * w;
            if i < keep {
                self.pending[i] += v;
            } else {
                self.pending[i] = v;
            }
        }
        Ok(())
    }

    /// Back to the state of a new synthesizer: no frame pending.
    pub fn reset(&mut self) {
        self.pending.fill(0.0);
    }
}

/// Checks a synthesis framing, returning the bin count.
fn check_synthesis_geometry(n_fft: usize, hop: usize) -> Result<usize, DspError> {
    if hop == 0 || n_fft < 2 * hop || !n_fft.is_multiple_of(hop) || !n_fft.is_multiple_of(2) {
        return Err(DspError::Geometry { n_fft, hop });
    }
    Ok(n_fft / 2 + 1)
}

/// The samples `T` frames (`[T, 2 * bins]`, frame-major) complete:
/// `(T - overlap + 1) * hop` samples, output hop 0 first. This is `dsp.py`'s
/// `istft` (50 % overlap) and `istft_sub`'s overlap-add, i.e. a fresh
/// [`StftSynthesizer`] fed every frame with the first `overlap - 1`
/// (padding) hops dropped.
///
/// # Errors
/// [`DspError::Geometry`] for a framing [`StftSynthesizer::new`] rejects, and
/// [`DspError::FrameLength`] for frames of the wrong width.
pub fn istft(frames: ArrayView2<'_, f32>, n_fft: usize, hop: usize) -> Result<Vec<f32>, DspError> {
    let mut synth = StftSynthesizer::new(n_fft, hop)?;
    if frames.ncols() != synth.frame_len() {
        return Err(DspError::FrameLength { expected: synth.frame_len(), got: frames.ncols() });
    }
    let lead = synth.overlap() - 1;
    let mut out = vec![0.0f32; frames.nrows().saturating_sub(lead) * hop];
    let mut padding = vec![0.0f32; hop];
    let mut frame = vec![0.0f32; synth.frame_len()];
    for (t, row) in frames.rows().into_iter().enumerate() {
        // Rows of a transposed view are strided; copy rather than demand a layout.
        for (f, v) in frame.iter_mut().zip(row.iter()) {
            *f = *v;
        }
        let dest = match t.checked_sub(lead) {
            None => &mut padding[..],
            Some(j) => &mut out[j * hop..(j + 1) * hop],
        };
        synth.push(&frame, dest)?;
    }
    Ok(out)
}
